"""Vanishing clients for benches/soak.sh: until DEADLINE (unix time), open
connections to 127.0.0.1:PORT and leave them half way, one way after the
other: a request head cut off, a streamed response read 1 KiB of then
dropped, an upload declared bigger than what is sent, a connection closed
at once, a sleep request abandoned before its answer. Prints
`vanished<TAB>KIND<TAB>COUNT` lines at the end. Loopback only."""

import socket
import sys
import time

port = int(sys.argv[1])
deadline = float(sys.argv[2])


def connect():
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    return s


def half_head(s):
    s.sendall(b"GET /status/200 HTTP/1.1\r\nhost: soak\r\nx-partial: ")


def stream_dropped(s):
    s.sendall(b"GET /stream/100000000 HTTP/1.1\r\nhost: soak\r\n\r\n")
    s.recv(1024)


def short_upload(s):
    s.sendall(b"POST /echo HTTP/1.1\r\nhost: soak\r\ncontent-length: 1000000\r\n\r\n")
    s.sendall(b"x" * 1024)


def closed_at_once(s):
    pass


def sleep_abandoned(s):
    s.sendall(b"GET /sleep/500 HTTP/1.1\r\nhost: soak\r\n\r\n")
    time.sleep(0.01)


kinds = [half_head, stream_dropped, short_upload, closed_at_once, sleep_abandoned]
counts = {k.__name__: 0 for k in kinds}
failed = 0
i = 0
while time.time() < deadline:
    kind = kinds[i % len(kinds)]
    i += 1
    try:
        s = connect()
        try:
            kind(s)
        finally:
            s.close()  # SO_LINGER 0: a reset, the rudest way to go
        counts[kind.__name__] += 1
    except OSError:
        failed += 1
    time.sleep(0.002)
for k, n in counts.items():
    print(f"vanished\t{k}\t{n}")
print(f"vanished\tconnect-failed\t{failed}")
