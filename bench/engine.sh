#!/usr/bin/env bash
# The cannonade engine as a CANNONADE_CMD for cpu_per_request.sh: one worker thread,
# closed loop, the same raw request as the prototypes, reply framed by its fixed length.
# Runs the engine alone (rust/core/examples/load), without an interpreter around it.
#
#   CANNONADE_CMD=bench/engine.sh bench/cpu_per_request.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
load=${CANNONADE_LOAD:-$repo/target/release/examples/load}
plan=$(mktemp)
trap 'rm -f "$plan"' EXIT
payload=$(printf 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' | od -An -tx1 | tr -d ' \n')
cat >"$plan" <<JSON
{"abi_version": 1, "target": "$BENCH_HOST:$BENCH_PORT", "connections": $BENCH_CONNECTIONS,
 "threads": 1, "duration_ms": $((BENCH_DURATION_S * 1000)),
 "protocol": {"kind": "tcp", "payload_hex": "$payload",
              "reply": {"kind": "fixed", "bytes": $BENCH_REPLY_BYTES}}}
JSON
"$load" "$plan" | python3 -c '
import json, sys
r = json.load(sys.stdin)
p = dict(r["latency_ns"]["percentiles"])
errors = sum(r["errors"].values())
if errors:
    sys.exit("engine run had %d errors: %s" % (errors, r["errors"]))
print(json.dumps({"requests": r["requests"], "duration_s": r["duration_ns"] / 1e9,
                  "p50_ns": p[50.0], "p99_ns": p[99.0]}))'
