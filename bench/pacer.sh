#!/usr/bin/env bash
# How well does the open-loop pacer keep its schedule, and what does it cost? Runs the
# engine alone (rust/core/examples/load, one worker thread) at a constant rate against
# the native testee's HTTP mode, and prints per run: send_lag p50/p99, the corrected and
# uncorrected latency p50, and the generator's CPU time (user + sys, /usr/bin/time) per
# request. Several engine builds run side by side, in rotating order, each round.
#
#   bench/pacer.sh                              # this tree's build only
#   LOADS="old=/path/to/old/load new=target/release/examples/load" bench/pacer.sh
#
# Settings (environment): RATES="500 20000" CONNECTIONS="8 32" (one per rate)
#   DURATION_S=10 ROUNDS=3 GEN_CPU=0 SERVER_CPU=1
#   TESTEE=target/release/cannonade-testee LOADS="name=path ..."
#   PRIO="chrt -f 10" runs the testee and the generator under that prefix (real-time
#   priority, as root), so that other work on a shared machine does not delay them.
# Needs python3, GNU time (/usr/bin/time) and taskset. Uses 127.0.0.1 only.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
RATES=${RATES:-"500 20000"}
CONNECTIONS=${CONNECTIONS:-"8 32"}
DURATION_S=${DURATION_S:-10}
ROUNDS=${ROUNDS:-3}
GEN_CPU=${GEN_CPU:-0}
SERVER_CPU=${SERVER_CPU-1}
TESTEE=${TESTEE:-$repo/target/release/cannonade-testee}
LOADS=${LOADS:-"this=$repo/target/release/examples/load"}

work=$(mktemp -d)
testee_pid=
cleanup() {
    [ -n "$testee_pid" ] && kill "$testee_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# SERVER_CPU= (empty) leaves the testee unpinned.
PRIO=${PRIO:-}
$PRIO ${SERVER_CPU:+taskset -c "$SERVER_CPU"} "$TESTEE" http --port 0 >"$work/testee.out" &
testee_pid=$!
for _ in $(seq 50); do
    grep -q '^listening on' "$work/testee.out" 2>/dev/null && break
    sleep 0.1
done
addr=$(sed -n 's/^listening on //p' "$work/testee.out")
[ -n "$addr" ] || { echo "testee did not start" >&2; exit 1; }
echo "testee http on $addr (cpu ${SERVER_CPU:-any}); generator on cpu $GEN_CPU, 1 thread;" \
    "$ROUNDS rounds of $DURATION_S s per rate${PRIO:+; under $PRIO}"

read -r -a rates <<<"$RATES"
read -r -a conns <<<"$CONNECTIONS"
read -r -a loads <<<"$LOADS"
printf '%-6s %6s %5s %5s %12s %12s %12s %12s %10s\n' build rate conns round \
    lag_p50_us lag_p99_us corr_p50_us unc_p50_us cpu_us_req
for round in $(seq "$ROUNDS"); do
    for i in "${!rates[@]}"; do
        rate=${rates[$i]}
        c=${conns[$i]:-${conns[0]}}
        plan=$work/plan-$rate.json
        cat >"$plan" <<JSON
{"abi_version": 2, "connections": $c, "threads": 1, "duration_ms": $((DURATION_S * 1000)),
 "rate_per_s": $rate, "protocol": {"kind": "http", "url": "http://$addr/"}}
JSON
        # Rotate the builds' order every round.
        n=${#loads[@]}
        for k in $(seq 0 $((n - 1))); do
            entry=${loads[$(((k + round) % n))]}
            name=${entry%%=*}
            load=${entry#*=}
            /usr/bin/time -f '%U %S' -o "$work/time" $PRIO taskset -c "$GEN_CPU" "$load" "$plan" \
                >"$work/out.json"
            python3 - "$work/out.json" "$work/time" "$name" "$rate" "$c" "$round" <<'PY'
import json, sys
out, timefile, name, rate, conns, rnd = sys.argv[1:]
r = json.load(open(out))
user, sys_ = map(float, open(timefile).read().split()[-2:])
def p(lat, q):
    return dict(lat["percentiles"])[q] / 1e3
errors = sum(r["errors"].values())
lag = r["send_lag_ns"]
print("%-6s %6s %5s %5s %12.1f %12.1f %12.1f %12.1f %10.2f%s" % (
    name, rate, conns, rnd, p(lag, 50.0), p(lag, 99.0), p(r["latency_ns"], 50.0),
    p(r["uncorrected_latency_ns"], 50.0), (user + sys_) * 1e6 / max(r["requests"], 1),
    "  errors %d" % errors if errors else ""))
PY
        done
    done
done
