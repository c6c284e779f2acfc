//! Hostile clients, on both engines: an HTTP/2 client that opens streams
//! and resets them at once (rapid reset), hundreds of connections that
//! never finish their request head, and hundreds of requests at once. The
//! server stays up and bounded, and answers ordinary requests during and
//! after. (Hostile guests are in `budget.rs`, `stack.rs`, `limits.rs` and
//! `bad_input.rs`; the soak, `benches/soak.sh`, mixes both for minutes.)

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::Bytes;
use engine_abi::engine::Engine;
use host_http::{Config, Handler, ServerConfig};
use http_body_util::Full;

use crate::fixture;
use crate::http::{TestServer, get, serve_handler};

/// An answer (any status) to an ordinary request within this long shows the
/// server is not stalled.
const RESPONSIVE: Duration = Duration::from_secs(1);

/// Open `n` HTTP/2 streams on one connection to `addr`, each a request
/// for a guest that sleeps a minute, and reset each (drop it) `after` it
/// was sent.
fn reset_streams(addr: std::net::SocketAddr, n: usize, after: Duration) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    crate::block_on(async move {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (send, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
                .await
                .unwrap();
        let conn = tokio::spawn(conn);
        for _ in 0..n {
            let mut send = send.clone();
            let req = http::Request::get(format!("http://{addr}/sleep/60000"))
                .body(Full::new(Bytes::new()))
                .unwrap();
            // Sent, then dropped before any answer: a RST_STREAM.
            let pending = tokio::spawn(async move { send.send_request(req).await });
            tokio::task::yield_now().await;
            tokio::time::sleep(after).await;
            pending.abort();
        }
        drop(send);
        let _ = tokio::time::timeout(Duration::from_secs(1), conn).await;
    });
}

/// The time budget of the guests the reset streams start.
const BUDGET: Duration = Duration::from_secs(3);

fn serve_capped<E: Engine>(e: &E, max_instances: usize) -> (TestServer, Handler<E>) {
    let config = Config::default()
        .max_instances(max_instances)
        .timeout(Some(BUDGET));
    let handler = Handler::new(e, &fixture("rust-http.wasm"), config).unwrap();
    (
        serve_handler(handler.clone(), ServerConfig::default()),
        handler,
    )
}

/// Wait until no guest runs (at most until `deadline`).
fn settle<E: Engine>(probe: &Handler<E>, deadline: Instant) {
    while probe.running() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        probe.running(),
        0,
        "guests still running after their budget"
    );
}

/// HTTP/2 rapid reset: 1 000 streams opened and reset at once on one
/// connection. The server (h2's own defence) ends that connection; the
/// few guests that started end at their budget; ordinary requests are
/// answered throughout.
fn h2_rapid_reset<E: Engine>(e: E) {
    let (s, probe) = serve_capped(&e, 64);
    let attacked = Instant::now();
    reset_streams(s.addr, 1000, Duration::ZERO);
    let started = Instant::now();
    assert_eq!(get(s.addr, "/status/204").status, 204);
    assert!(started.elapsed() < RESPONSIVE, "{:?}", started.elapsed());
    settle(&probe, attacked + BUDGET + Duration::from_secs(3));
    assert_eq!(get(s.addr, "/status/204").status, 204);
}

/// Streams reset once their guest has started: the guests run on without
/// a client, each holding a place among `max_instances` until its budget
/// ends it. So they are bounded: the cap fills, an ordinary request gets
/// a 503 at once (not a stall), and after the budget all is served again.
fn abandoned_requests_are_bounded<E: Engine>(e: E) {
    const MAX_INSTANCES: usize = 16;
    let (s, probe) = serve_capped(&e, MAX_INSTANCES);
    let attacked = Instant::now();
    reset_streams(s.addr, 3 * MAX_INSTANCES, Duration::from_millis(5));
    assert!(
        attacked.elapsed() < BUDGET,
        "the attack took {:?}",
        attacked.elapsed()
    );
    assert_eq!(probe.alive_instances(), MAX_INSTANCES);
    let started = Instant::now();
    assert_eq!(get(s.addr, "/status/204").status, 503);
    assert!(started.elapsed() < RESPONSIVE, "{:?}", started.elapsed());
    settle(&probe, attacked + BUDGET + Duration::from_secs(3));
    assert_eq!(probe.alive_instances(), 0);
    assert_eq!(get(s.addr, "/status/204").status, 204);
}

/// 300 connections that send half a request head and stop hold up no
/// other client; each is closed at the header timeout.
fn slowloris<E: Engine>(e: E) {
    let handler = Handler::new(&e, &fixture("rust-http.wasm"), Config::default()).unwrap();
    let server = ServerConfig {
        header_read_timeout: Duration::from_secs(1),
        ..ServerConfig::default()
    };
    let s = serve_handler(handler, server);
    let slow: Vec<TcpStream> = (0..300)
        .map(|i| {
            let mut c = TcpStream::connect(s.addr).unwrap();
            write!(c, "GET /status/200 HTTP/1.1\r\nhost: slow\r\nx-{i}: ").unwrap();
            c
        })
        .collect();
    let started = Instant::now();
    assert_eq!(get(s.addr, "/status/204").status, 204);
    assert!(started.elapsed() < RESPONSIVE, "{:?}", started.elapsed());
    // Closed by the server at its header timeout: reads see the end.
    std::thread::sleep(Duration::from_millis(1500));
    for mut c in slow {
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 1];
        let n = std::io::Read::read(&mut c, &mut buf);
        assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    }
    assert_eq!(get(s.addr, "/status/204").status, 204);
}

/// 500 requests at once, each sleeping 500 ms in its guest: all are
/// served, concurrently (well under 500 x 500 ms), by one process.
fn many_at_once<E: Engine>(e: E) {
    const N: usize = 500;
    let handler = Handler::new(&e, &fixture("rust-http.wasm"), Config::default()).unwrap();
    let s = serve_handler(handler, ServerConfig::default());
    let addr = s.addr;
    let started = Instant::now();
    let ok = crate::block_on(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let tasks: Vec<_> = (0..N)
            .map(|_| {
                tokio::spawn(async move {
                    let mut c = tokio::net::TcpStream::connect(addr).await.ok()?;
                    c.write_all(b"GET /sleep/500 HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
                        .await
                        .ok()?;
                    let mut text = String::new();
                    c.read_to_string(&mut text).await.ok()?;
                    Some(text.starts_with("HTTP/1.1 200") && text.contains("slept 500"))
                })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            if t.await.unwrap() == Some(true) {
                ok += 1;
            }
        }
        ok
    });
    assert_eq!(ok, N);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

both_engines!(
    h2_rapid_reset,
    abandoned_requests_are_bounded,
    slowloris,
    many_at_once
);
