#!/usr/bin/env bash
# End-to-end load on loopback: cohost serve (jit, interp) beside wasmtime
# serve 48 (Cranelift, and Pulley with --target pulley64) and a bare hyper
# server, in ONE run, so that the ratios between them mean something on a
# noisy machine.
#
#   benches/load.sh [OUT_DIR]         (default: target/load/<date>)
#
# What it measures (each server pinned to core $SERVER_CPU, the load
# generator to core $CLIENT_CPU; a fresh instance per request, and, for the
# hosts named *-reuse, up to 1000 requests per instance with
# --max-instance-reuse-count 1000):
#   - hello:   requests/s, p50 and p99 latency at c=1, 16 and 64, and the
#              server's RSS, for examples/hello.wasm, fresh and reused (the
#              bare hyper server answers the same body without wasm: the
#              physical limit);
#   - leak:    the reusing servers' RSS after 10 000 and after 100 000
#              hello requests (h2load, 16 connections);
#   - py:      the componentize-py guest (target/guests/py-hello.wasm) at
#              c=16, fresh and reused;
#   - js:      the componentize-js guest (target/guests/js-hello.wasm) at
#              c=16, and its first start (no compile cache) and second start
#              (cache warm): seconds until it answers its first request;
#   - stream:  MB/s of a 256 MiB response written in 64 KiB pieces
#              (tests/fixtures/rust-http.wasm /stream/N);
#   - echo:    MB/s of a 64 MiB upload echoed back (rust-http /echo).
# Results: OUT_DIR/results.tsv (one line per figure), OUT_DIR/commands.log
# (every command run, in order), OUT_DIR/*.log (server output).
#
# Installs what it needs when missing: wrk, curl and h2load (apt-get), wasmtime-cli
# 48.0.8 (cargo install, into ~/.cache/wasmtime-48: ~25 minutes on 2 cores
# the first time), cohost and the hyper server (cargo build --release), the
# JS guest (tests/fixtures/big/build.sh). Talks only to 127.0.0.1.
# Bounded: DURATION seconds per load point (default 8) plus a 2 s warm-up;
# about 20 minutes in all with the defaults. ONLY="hello leak py js bodies"
# (any subset) runs only those parts.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

DURATION=${DURATION:-8}
ONLY=${ONLY:-hello leak py js bodies}
part() { [[ " $ONLY " == *" $1 "* ]]; }
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PORT=${PORT:-18181}
OUT=${1:-target/load/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
TSV="$OUT/results.tsv"
LOG="$OUT/commands.log"
: > "$LOG"
printf 'work\thost\tconcurrency\tvalue\tunit\tp50\tp99\trss_kib\n' > "$TSV"

note() { echo "== $*" >&2; }
run() { echo "$*" >> "$LOG"; "$@"; }

# ---- tools -----------------------------------------------------------------
if ! command -v wrk > /dev/null || ! command -v curl > /dev/null || ! command -v h2load > /dev/null; then
    note "installing wrk, curl and h2load"
    run apt-get update -qq
    run apt-get install -y -qq wrk curl nghttp2-client
fi
WASMTIME_ROOT=${WASMTIME_ROOT:-$HOME/.cache/wasmtime-48}
WASMTIME=$WASMTIME_ROOT/bin/wasmtime
if ! [ -x "$WASMTIME" ] || ! "$WASMTIME" --version | grep -q '^wasmtime 48\.'; then
    note "installing wasmtime-cli 48.0.8 into $WASMTIME_ROOT (takes a while)"
    run cargo install --locked wasmtime-cli@48.0.8 --root "$WASMTIME_ROOT"
fi
note "building cohost and the bare hyper server (release)"
run cargo build --release --quiet
run cargo bench --bench hyper_hello --no-run --quiet 2> /dev/null
HYPER=$(ls -t target/release/deps/hyper_hello-* | grep -v '\.d$' | head -1)
COHOST=$ROOT/target/release/cohost
if ! [ -f target/guests/js-hello.wasm ] || ! [ -f target/guests/py-hello.wasm ]; then
    note "building the JS and Python guests"
    run bash tests/fixtures/big/build.sh
fi
HELLO=examples/hello.wasm
JS=target/guests/js-hello.wasm
PY=target/guests/py-hello.wasm
RUST_HTTP=tests/fixtures/rust-http.wasm

{
    echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
    echo "# date: $(date -u +%FT%TZ)"
    echo "# cohost: $(git rev-parse --short HEAD)$(git diff --quiet || echo '+dirty')"
    echo "# $("$WASMTIME" --version)"
    echo "# $(wrk --version 2>&1 | head -1)"
} | tee -a "$LOG" >&2

# ---- servers ---------------------------------------------------------------
URL=http://127.0.0.1:$PORT
SERVER_PID=

# start NAME COMMAND... : start a server on $PORT pinned to $SERVER_CPU and
# wait (up to 120 s: the JIT compiles first) until it answers.
start() {
    local name=$1
    shift
    echo "taskset -c $SERVER_CPU $*" >> "$LOG"
    taskset -c "$SERVER_CPU" "$@" > "$OUT/$name.log" 2>&1 &
    SERVER_PID=$!
    local i
    for i in $(seq 1 1200); do
        if curl -s -o /dev/null "$URL/"; then
            return 0
        fi
        if ! kill -0 "$SERVER_PID" 2> /dev/null; then
            echo "server $name exited: $(tail -3 "$OUT/$name.log")" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "server $name did not answer in 120 s" >&2
    return 1
}

stop() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2> /dev/null || true
        wait "$SERVER_PID" 2> /dev/null || true
        SERVER_PID=
    fi
}
trap stop EXIT

rss() { ps -o rss= -p "$SERVER_PID" | tr -d ' '; }

# load WORK HOST CONCURRENCY PATH: wrk against the running server.
load() {
    local work=$1 host=$2 c=$3 path=$4 out
    run taskset -c "$CLIENT_CPU" wrk -t1 -c"$c" -d2s "$URL$path" > /dev/null 2>&1 || true
    echo "taskset -c $CLIENT_CPU wrk -t1 -c$c -d${DURATION}s --latency $URL$path" >> "$LOG"
    out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c"$c" -d"${DURATION}s" --latency "$URL$path" 2>&1)
    local rps p50 p99 bad
    rps=$(awk '/Requests\/sec/ {print $2}' <<< "$out")
    p50=$(awk '$1 == "50%" {print $2}' <<< "$out")
    p99=$(awk '$1 == "99%" {print $2}' <<< "$out")
    bad=$(awk '/Non-2xx/ {print $5}' <<< "$out")
    if [ -n "$bad" ]; then
        echo "warning: $host at c=$c: $bad non-2xx responses" >&2
    fi
    printf '%s\t%s\t%s\t%s\trps\t%s\t%s\t%s\n' "$work" "$host" "$c" "$rps" "$p50" "$p99" "$(rss)" >> "$TSV"
    note "$work $host c=$c: $rps rps (p50 $p50, p99 $p99)"
}

# throughput WORK HOST CURL_ARGS... : MB/s (10^6) of one transfer, the
# best of three.
throughput() {
    local work=$1 host=$2
    shift 2
    local best=0 i s
    for i in 1 2 3; do
        echo "taskset -c $CLIENT_CPU curl -s -o /dev/null -w %{speed_download}/%{speed_upload} $*" >> "$LOG"
        s=$(taskset -c "$CLIENT_CPU" curl -s -o /dev/null -w '%{speed_download}' "$@")
        best=$(awk -v a="$best" -v b="$s" 'BEGIN { print (b > a) ? b : a }')
    done
    local mbs
    mbs=$(awk -v b="$best" 'BEGIN { printf "%.0f", b / 1e6 }')
    printf '%s\t%s\t1\t%s\tMB/s\t\t\t%s\n' "$work" "$host" "$mbs" "$(rss)" >> "$TSV"
    note "$work $host: $mbs MB/s"
}

# first_answer WORK HOST COMMAND... : seconds from start to the first answer.
first_answer() {
    local work=$1 host=$2
    shift 2
    local t0 t1
    t0=$(date +%s.%N)
    start "$host-$work" "$@"
    t1=$(date +%s.%N)
    stop
    local secs
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    printf '%s\t%s\t1\t%s\ts\t\t\t\n' "$work" "$host" "$secs" >> "$TSV"
    note "$work $host: $secs s"
}

# The hosts, by name: the command that serves $2 on $PORT. A name ending
# in -reuse is that host with --max-instance-reuse-count 1000.
host_cmd() {
    local host=${1%-reuse} wasm=$2 extra=
    if [ "$host" != "$1" ]; then
        extra="--max-instance-reuse-count 1000"
    fi
    case $host in
        cohost-jit) echo "$COHOST serve --engine jit $extra --addr 127.0.0.1:$PORT --cache-dir $OUT/cohost-cache $wasm" ;;
        cohost-interp) echo "$COHOST serve --engine interp $extra --addr 127.0.0.1:$PORT $wasm" ;;
        wasmtime) echo "$WASMTIME serve -Scli $extra --addr 127.0.0.1:$PORT $wasm" ;;
        wasmtime-pulley) echo "$WASMTIME serve -Scli --target pulley64 $extra --addr 127.0.0.1:$PORT $wasm" ;;
        hyper) echo "$HYPER --serve 127.0.0.1:$PORT" ;;
    esac
}
HOSTS="cohost-jit cohost-interp wasmtime wasmtime-pulley"
REUSE_HOSTS="cohost-jit-reuse cohost-interp-reuse wasmtime-reuse wasmtime-pulley-reuse"

# ---- hello -----------------------------------------------------------------
if part hello; then
    for host in $HOSTS $REUSE_HOSTS hyper; do
        # shellcheck disable=SC2046
        start "$host-hello" $(host_cmd "$host" "$HELLO")
        for c in 1 16 64; do
            load hello "$host" "$c" /
        done
        stop
    done
fi

# ---- reuse never leaks -----------------------------------------------------
# requests N: N more requests, 16 connections with keep-alive (h2load
# speaking HTTP/1.1, which, unlike wrk, stops after exactly N; ab's HTTP/1.0
# keep-alive cannot read the chunked responses these hosts send).
requests() {
    run taskset -c "$CLIENT_CPU" h2load --h1 -n "$1" -c 16 "$URL/" > "$OUT/h2load.out" 2>&1 ||
        echo "warning: h2load failed: $(tail -2 "$OUT/h2load.out")" >&2
    grep -q "$1 succeeded" "$OUT/h2load.out" ||
        echo "warning: not all $1 requests succeeded: $(grep requests: "$OUT/h2load.out")" >&2
}
if part leak; then
    for host in $REUSE_HOSTS; do
        # shellcheck disable=SC2046
        start "$host-leak" $(host_cmd "$host" "$HELLO")
        requests 10000
        first=$(rss)
        requests 90000
        last=$(rss)
        printf 'rss-after-10k\t%s\t16\t%s\tKiB\t\t\t%s\n' "$host" "$first" "$first" >> "$TSV"
        printf 'rss-after-100k\t%s\t16\t%s\tKiB\t\t\t%s\n' "$host" "$last" "$last" >> "$TSV"
        note "leak $host: RSS $first KiB after 10 000 requests, $last KiB after 100 000"
        stop
    done
fi

# ---- the Python guest ------------------------------------------------------
if part py; then
    for host in $HOSTS $REUSE_HOSTS; do
        # shellcheck disable=SC2046
        start "$host-py" $(host_cmd "$host" "$PY")
        load py "$host" 16 /
        stop
    done
fi

# ---- the JS guest ----------------------------------------------------------
export XDG_CACHE_HOME="$OUT/wasmtime-cache-home"
rm -rf "$XDG_CACHE_HOME" "$OUT/cohost-cache"
part js && for host in $HOSTS; do
    # shellcheck disable=SC2046
    first_answer js-first-start "$host" $(host_cmd "$host" "$JS")
    # shellcheck disable=SC2046
    first_answer js-second-start "$host" $(host_cmd "$host" "$JS")
    # shellcheck disable=SC2046
    start "$host-js" $(host_cmd "$host" "$JS")
    load js "$host" 16 /
    stop
done

# ---- bodies ----------------------------------------------------------------
UPLOAD=$OUT/upload-64m.bin
head -c $((64 << 20)) /dev/urandom > "$UPLOAD"
part bodies && for host in $HOSTS; do
    # shellcheck disable=SC2046
    start "$host-bodies" $(host_cmd "$host" "$RUST_HTTP")
    throughput stream-256MiB "$host" "$URL/stream/$((256 << 20))"
    throughput echo-64MiB "$host" --data-binary "@$UPLOAD" -H 'content-type: application/octet-stream' "$URL/echo"
    stop
done
rm -f "$UPLOAD"

note "results: $TSV"
column -t -s $'\t' "$TSV" >&2
