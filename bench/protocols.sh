#!/usr/bin/env bash
# Throughput and latency of each protocol against the native testee (rust/testee), the
# engine alone (rust/core/examples/load): 32 connections, 10 s, closed loop. Generator
# (1 worker thread) pinned to core 0, testee pinned to core 1. wrk (if installed) loads
# the same HTTP testee the same way, as the reference.
#
#   bench/protocols.sh            # DURATION_MS=10000 CONNECTIONS=32
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cargo build --quiet --release -p cannonade-testee -p cannonade-core --example load \
    --manifest-path "$repo/Cargo.toml"
bin=${CARGO_TARGET_DIR:-$repo/target}/release
duration=${DURATION_MS:-10000}
conns=${CONNECTIONS:-32}
work=$(mktemp -d)
testee=
stop() { [ -z "$testee" ] || { kill "$testee" 2>/dev/null; wait "$testee" 2>/dev/null || true; }; }
trap 'stop; rm -rf "$work"' EXIT

start() { # mode args...; sets $addr
    stop
    : >"$work/testee.out"
    taskset -c 1 "$bin/cannonade-testee" "$@" >"$work/testee.out" &
    testee=$!
    for _ in $(seq 50); do
        [ -s "$work/testee.out" ] && break
        sleep 0.1
    done
    addr=$(awk '{print $3}' "$work/testee.out")
}

measure() { # name protocol-json
    printf '{"abi_version":1,"connections":%s,"threads":1,"duration_ms":%s,%s}' \
        "$conns" "$duration" "$2" >"$work/plan.json"
    taskset -c 0 "$bin/examples/load" "$work/plan.json" | python3 -c '
import json, sys
r = json.load(sys.stdin)
p = dict(r["latency_ns"]["percentiles"])
errors = sum(r["errors"].values())
print("%-28s %10.0f req/s   p50 %8.1f us   p99 %8.1f us   errors %d" % (
    sys.argv[1], r["requests_per_s"], p[50.0] / 1e3, p[99.0] / 1e3, errors))' "$1"
}

start echo
measure "tcp echo 64 B" "\"target\":\"$addr\",\"protocol\":{\"kind\":\"tcp\",\"payload_hex\":\"$(printf '61%.0s' $(seq 64))\",\"reply\":{\"kind\":\"echo\"}}"
start http
measure "http GET 13 B body" "\"protocol\":{\"kind\":\"http\",\"url\":\"http://$addr/\"}"
if command -v wrk >/dev/null; then
    # The reference, same server, same pinning: one thread, same connections.
    taskset -c 0 wrk -t1 -c"$conns" -d"$((duration / 1000))s" --latency "http://$addr/" |
        awk '/Requests\/sec/ {rps = $2} /^ +50%/ {p50 = $2} /^ +99%/ {p99 = $2}
             END {printf "%-28s %10.0f req/s   p50 %11s   p99 %11s\n", "wrk, http GET", rps, p50, p99}'
fi
measure "http GET, pipeline 8" "\"protocol\":{\"kind\":\"http\",\"url\":\"http://$addr/\",\"pipeline\":8}"
start ws
measure "ws text 64 B echo" "\"protocol\":{\"kind\":\"ws\",\"url\":\"ws://$addr/\",\"message_hex\":\"$(printf '61%.0s' $(seq 64))\"}"
