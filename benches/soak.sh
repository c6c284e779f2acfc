#!/usr/bin/env bash
# Soak: mixed, partly hostile traffic at full speed against `cohost serve`
# (tests/fixtures/rust-http.wasm) on each engine for a bounded time, then
# what was served, every error by kind, and the server's open file
# descriptors and RSS from start to end.
#
#   benches/soak.sh [OUT_DIR]            (default: target/soak/<date>)
#
# Traffic, all at once, each route from its own wrk (-t1, --timeout 10s),
# pinned to core $CLIENT_CPU, the server to core $SERVER_CPU:
#   hello   GET /status/200             c=8    expect 200
#   echo    POST /echo, 64 KiB          c=2    expect 200
#   stream  GET /stream/4194304         c=2    expect 200
#   sleep   GET /sleep/100              c=50   expect 200
#   trap    GET /trap                   c=2    expect 500 (a trap)
#   loop    GET /loop                   c=2    expect 500 (the 1 s budget)
#   bomb    GET /alloc/100000000        c=2    expect 500 (over 32 MiB)
#   vanish  benches/soak/vanish.py: clients that leave half way (a cut
#           head, a dropped stream, a short upload, a reset, an abandoned
#           sleep), one after another at full speed
# The server runs with --timeout 1s --memory-limit 32M. Every 10 s the
# server's RSS and open fds are sampled. At the end, after the in-flight
# requests settle, one more GET must answer 200.
#
# Results: OUT_DIR/soak.tsv (engine, what, kind, value), OUT_DIR/samples.tsv
# (engine, seconds, rss_kib, fds), OUT_DIR/commands.log, OUT_DIR/*.log.
# Exits 1 if any route got a status it should not, a wrk saw socket errors,
# the server logged a panic or a warning or error other than the traps the
# hostile routes cause, or the last GET failed.
#
# DURATION seconds per engine (default 300); ENGINES (default "jit
# interp"); REUSE=N adds --max-instance-reuse-count N. Installs wrk and
# curl (apt-get) if missing and builds cohost (release). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

DURATION=${DURATION:-300}
ENGINES=${ENGINES:-jit interp}
REUSE=${REUSE:-1}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PORT=${PORT:-18282}
OUT=${1:-target/soak/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
TSV="$OUT/soak.tsv"
SAMPLES="$OUT/samples.tsv"
LOG="$OUT/commands.log"
: > "$LOG"
printf 'engine\twhat\tkind\tvalue\n' > "$TSV"
printf 'engine\tseconds\trss_kib\tfds\n' > "$SAMPLES"

note() { echo "== $*" >&2; }
run() { echo "$*" >> "$LOG"; "$@"; }
record() { printf '%s\t%s\t%s\t%s\n' "$@" >> "$TSV"; }

if ! command -v wrk > /dev/null || ! command -v curl > /dev/null; then
    note "installing wrk and curl"
    run apt-get update -qq
    run apt-get install -y -qq wrk curl
fi
note "building cohost (release)"
run cargo build --release --quiet
COHOST=$ROOT/target/release/cohost
GUEST=tests/fixtures/rust-http.wasm
URL=http://127.0.0.1:$PORT
{
    echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
    echo "# date: $(date -u +%FT%TZ)"
    echo "# cohost: $(git rev-parse --short HEAD)$(git diff --quiet || echo '+dirty')"
    echo "# duration: ${DURATION}s per engine; reuse: $REUSE"
} | tee -a "$LOG" >&2

# name method path body_bytes connections expected_status
ROUTES="hello GET /status/200 0 8 200
echo POST /echo 65536 2 200
stream GET /stream/4194304 0 2 200
sleep GET /sleep/100 0 50 200
trap GET /trap 0 2 500
loop GET /loop 0 2 500
bomb GET /alloc/100000000 0 2 500"

rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
fds() { ls "/proc/$1/fd" | wc -l; }
# sample ENGINE SECONDS PID [PHASE]: the server's RSS and open fds, a line
# of samples.tsv; with PHASE (start, end) also in soak.tsv, and in
# $SAMPLE_RSS and $SAMPLE_FDS.
sample() {
    SAMPLE_RSS=$(rss_kib "$3")
    SAMPLE_FDS=$(fds "$3")
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$SAMPLE_RSS" "$SAMPLE_FDS" >> "$SAMPLES"
    if [ -n "${4:-}" ]; then
        record "$1" "$4" rss_kib "$SAMPLE_RSS"
        record "$1" "$4" fds "$SAMPLE_FDS"
    fi
}

FAILED=0
unexpected() {
    echo "UNEXPECTED ($1): $2" >&2
    record "$1" unexpected "$2" 1
    FAILED=1
}

soak() {
    local engine=$1
    local slog="$OUT/server-$engine.log"
    local args=(serve --engine "$engine" --addr "127.0.0.1:$PORT" --timeout 1s
        --memory-limit 32M --max-instance-reuse-count "$REUSE" "$GUEST")
    echo "taskset -c $SERVER_CPU $COHOST ${args[*]}" >> "$LOG"
    taskset -c "$SERVER_CPU" "$COHOST" "${args[@]}" > "$slog" 2>&1 &
    local pid=$!
    local i
    for i in $(seq 1 600); do
        curl -s -o /dev/null "$URL/status/200" && break
        kill -0 "$pid" 2> /dev/null || { echo "server exited: $(tail -3 "$slog")" >&2; return 1; }
        sleep 0.1
    done
    note "$engine: warm-up"
    run taskset -c "$CLIENT_CPU" wrk -t1 -c8 -d5s "$URL/status/200" > /dev/null
    sleep 1
    sample "$engine" 0 "$pid" start
    local rss0=$SAMPLE_RSS fds0=$SAMPLE_FDS

    note "$engine: soaking for ${DURATION}s"
    local started=$SECONDS
    local pids=()
    local name method path bytes conns expect
    while read -r name method path bytes conns expect; do
        echo "METHOD=$method ROUTE=$path BODY_BYTES=$bytes taskset -c $CLIENT_CPU wrk -t1 -c$conns -d${DURATION}s --timeout 10s -s benches/soak/count.lua $URL" >> "$LOG"
        METHOD=$method ROUTE=$path BODY_BYTES=$bytes taskset -c "$CLIENT_CPU" \
            wrk -t1 -c"$conns" -d"${DURATION}s" --timeout 10s -s benches/soak/count.lua "$URL" \
            > "$OUT/wrk-$engine-$name.log" 2>&1 &
        pids+=($!)
    done <<< "$ROUTES"
    local deadline=$(( $(date +%s) + DURATION ))
    echo "taskset -c $CLIENT_CPU python3 benches/soak/vanish.py $PORT $deadline" >> "$LOG"
    taskset -c "$CLIENT_CPU" python3 benches/soak/vanish.py "$PORT" "$deadline" \
        > "$OUT/vanish-$engine.log" 2>&1 &
    pids+=($!)
    while [ $((SECONDS - started)) -lt "$DURATION" ]; do
        sleep 10
        kill -0 "$pid" 2> /dev/null || break
        sample "$engine" $((SECONDS - started)) "$pid"
    done
    wait "${pids[@]}" || true
    # Let the abandoned requests run out (sleeps, loops at their budget).
    sleep 3
    if ! kill -0 "$pid" 2> /dev/null; then
        unexpected "$engine" "the server died: $(tail -3 "$slog")"
        return 0
    fi
    sample "$engine" $((SECONDS - started)) "$pid" end
    local rss1=$SAMPLE_RSS fds1=$SAMPLE_FDS
    local last
    last=$(curl -s -o /dev/null -w '%{http_code}' "$URL/status/200" || true)
    record "$engine" last-get status "$last"
    [ "$last" = 200 ] || unexpected "$engine" "the last GET got $last"

    while read -r name method path bytes conns expect; do
        local w="$OUT/wrk-$engine-$name.log"
        local requests
        requests=$(awk '/requests in/ { print $1 }' "$w")
        record "$engine" "$name" requests "${requests:-0}"
        local status n kind
        while IFS=$'\t' read -r _ status n; do
            record "$engine" "$name" "status-$status" "$n"
            [ "$status" = "$expect" ] || unexpected "$engine" "$name got $n x $status"
        done < <(grep '^status' "$w")
        while IFS=$'\t' read -r _ kind n; do
            record "$engine" "$name" "socket-$kind" "$n"
            [ "$n" = 0 ] || unexpected "$engine" "$name: $n socket $kind errors"
        done < <(grep '^errors' "$w")
    done <<< "$ROUTES"
    while IFS=$'\t' read -r _ kind n; do
        record "$engine" vanish "$kind" "$n"
    done < <(grep '^vanished' "$OUT/vanish-$engine.log")
    # The server's log, by kind: the traps the hostile routes cause, and
    # anything else at warn or error level, which should not be there.
    local traps budget others
    traps=$(grep -c 'the guest trapped: wasm `unreachable`' "$slog" || true)
    budget=$(grep -c 'ran out of its time budget' "$slog" || true)
    record "$engine" log trap-unreachable "$traps"
    record "$engine" log trap-time-budget "$budget"
    grep -E ' (WARN|ERROR) ' "$slog" \
        | grep -v -e 'the guest trapped: wasm `unreachable`' -e 'ran out of its time budget' \
        | sed -E 's/^[^ ]+ +//; s/request=[0-9]+//' | sort | uniq -c | sort -rn \
        > "$OUT/other-log-lines-$engine.txt" || true
    others=$(awk '{ n += $1 } END { print n + 0 }' "$OUT/other-log-lines-$engine.txt")
    record "$engine" log other-warn-or-error "$others"
    [ "$others" = 0 ] || unexpected "$engine" "$others other warn/error log lines (other-log-lines-$engine.txt)"
    if grep -q panicked "$slog"; then
        unexpected "$engine" "the server panicked"
    fi
    kill -TERM "$pid"
    wait "$pid" || true
    note "$engine: done; RSS $rss0 -> $rss1 KiB, fds $fds0 -> $fds1"
}

for engine in $ENGINES; do
    soak "$engine"
done
column -t -s $'\t' "$TSV" >&2
exit $FAILED
