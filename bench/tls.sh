#!/usr/bin/env bash
# HTTPS: the generator's CPU per request, the engine (rust/core/examples/load) beside wrk
# (TLS through OpenSSL) and, when it is installed, oha (rustls), against the native testee with --tls (rustls), at 32 connections:
# keep-alive, and churn (every request on a new connection: `Connection: close`, which
# wrk sends with -H, oha with --disable-keepalive, the engine with "close": true). Under churn the engine runs twice:
# full handshakes (the default) and resumed ones (tls_resume). Generator (1 thread) on core
# 0, testee on core 1; CPU is user + sys from /usr/bin/time, the same way for both tools;
# the tools' order rotates every round, and each run waits for a quiet second first.
#
#   bench/tls.sh                    # ROUNDS=3 DURATION_S=5 CONNECTIONS=32 QUIET_WAIT_S=120
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cargo build --quiet --release -p cannonade-testee -p cannonade-core --example load \
    --manifest-path "$repo/Cargo.toml"
bin=${CARGO_TARGET_DIR:-$repo/target}/release
ROUNDS=${ROUNDS:-3}
DURATION_S=${DURATION_S:-5}
CONNECTIONS=${CONNECTIONS:-32}
command -v wrk >/dev/null || { echo "bench/tls.sh needs wrk (apt-get install wrk)" >&2; exit 1; }
work=$(mktemp -d)
testee=
trap '[ -z "$testee" ] || kill "$testee" 2>/dev/null; rm -rf "$work"' EXIT

taskset -c 1 "$bin/cannonade-testee" http --tls --cert-out "$work/ca.pem" \
    >"$work/testee.out" 2>/dev/null &
testee=$!
for _ in $(seq 50); do
    [ -s "$work/testee.out" ] && break
    sleep 0.1
done
addr=$(awk '{print $3}' "$work/testee.out")
url="https://$addr/"

machine_busy() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
wait_quiet() { # up to QUIET_WAIT_S for a second in which the machine is at least 90% idle
    local busy0 busy1
    for _ in $(seq "${QUIET_WAIT_S:-120}"); do
        busy0=$(machine_busy)
        sleep 1
        busy1=$(machine_busy)
        [ $((busy1 - busy0)) -le $(($(nproc --all) * 10)) ] && return 0
    done
    echo "machine still busy after ${QUIET_WAIT_S:-120} s; measuring anyway" >&2
}

plan() { # file close resume
    printf '{"abi_version":2,"connections":%s,"threads":1,"duration_ms":%s,"cacert":"%s",
        "tls_resume":%s,"protocol":{"kind":"http","url":"%s","close":%s}}' \
        "$CONNECTIONS" "$((DURATION_S * 1000))" "$work/ca.pem" "$3" "$url" "$2" >"$1"
}
plan "$work/keepalive.json" false false
plan "$work/churn-full.json" true false
plan "$work/churn-resumed.json" true true

run() { # name round: prints "name round requests user_s sys_s"
    local name=$1 out=$work/$1.$2
    local cmd
    case $name in
    wrk-keepalive) cmd=(wrk -t1 "-c$CONNECTIONS" "-d${DURATION_S}s" "$url") ;;
    wrk-churn) cmd=(wrk -t1 "-c$CONNECTIONS" "-d${DURATION_S}s" -H "Connection: close" "$url") ;;
    oha-*)
        cmd=(oha -z "${DURATION_S}s" "-c$CONNECTIONS" --no-tui --cacert "$work/ca.pem"
            --output-format json "$url")
        [ "$name" = oha-churn ] && cmd+=(--disable-keepalive)
        ;;
    cannonade-*) cmd=("$bin/examples/load" "$work/${name#cannonade-}.json") ;;
    esac
    wait_quiet
    timeout $((DURATION_S + 60)) taskset -c 0 /usr/bin/time -o "$out.time" -f '%U %S' \
        "${cmd[@]}" >"$out"
    python3 - "$name" "$2" "$out" <<'EOF'
import json, re, sys
name, round_, out = sys.argv[1:]
text = open(out).read()
user_s, sys_s = open(out + ".time").read().split()[-2:]
if name.startswith("oha"):
    result = json.loads(text)
    requests = sum(result["statusCodeDistribution"].values())
    extra = f"errors {result['errorDistribution']}"
elif name.startswith("wrk"):
    requests = int(re.search(r"(\d+) requests in", text).group(1))
    errors = re.search(r"Non-2xx.*|Socket errors.*", text)
    extra = errors.group(0) if errors else ""
else:
    result = json.loads(text)
    requests = result["requests"]
    tls = result["tls"]
    extra = f"errors {sum(result['errors'].values())} handshakes {tls['handshakes']} resumed {tls['resumed']}"
print(name, round_, requests, user_s, sys_s, extra)
EOF
}

tools=(cannonade-keepalive wrk-keepalive cannonade-churn-full cannonade-churn-resumed wrk-churn)
if command -v oha >/dev/null; then tools+=(oha-keepalive oha-churn); fi
for round in $(seq "$ROUNDS"); do
    n=${#tools[@]}
    for i in $(seq 0 $((n - 1))); do
        run "${tools[$(((i + round) % n))]}" "$round"
    done
done | tee "$work/raw.txt"

python3 - "$work/raw.txt" "$CONNECTIONS" "$DURATION_S" <<'EOF'
import statistics, sys
from collections import defaultdict
raw, conns, duration_s = sys.argv[1], sys.argv[2], float(sys.argv[3])
cpu = defaultdict(dict)   # name -> round -> µs per request
rate = defaultdict(list)
for line in open(raw):
    name, round_, requests, user_s, sys_s = line.split()[:5]
    cpu[name][round_] = (float(user_s) + float(sys_s)) / int(requests) * 1e6
    rate[name].append(int(requests) / duration_s)
print(f"\nHTTPS, {conns} connections, {duration_s:g} s per run; CPU is the generator's user+sys")
print(f"{'tool':<26}{'req/s':>10}{'CPU µs/req':>12}{'vs wrk':>9}")
for name in cpu:
    wrk = "wrk-churn" if "churn" in name else "wrk-keepalive"
    ratios = [cpu[name][r] / cpu[wrk][r] for r in cpu[name] if r in cpu[wrk]]
    mean = statistics.mean(cpu[name].values())
    print(f"{name:<26}{statistics.mean(rate[name]):>10.0f}{mean:>12.1f}"
          f"{statistics.mean(ratios):>9.2f}")
EOF
