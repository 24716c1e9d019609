#!/usr/bin/env bash
# Generator CPU time per request, side by side: wrk, tokio-loop, mio-loop, uring-loop
# (io_uring; uring-defer is the same with URING_TASKRUN=defer), two variants of mio-loop
# (mio-spin: polls without sleeping for up to SPIN_US=20 µs before each blocking wait;
# mio-reno: its sockets on the reno congestion control instead of the system's) and the
# real engine through CANNONADE_CMD against one nginx serving a small static file.
# Generator on one core, nginx (1 worker) on the other; closed loop, keep-alive.
# See README.md; figures and conclusions are in RESULTS.md.
#
# Settings (environment): PORT=18080 ROUNDS=3 DURATION_S=10 CONNECTIONS=32
#   GEN_CPU=0 SERVER_CPU=1 QUIET_WAIT_S=300 RAW=<file to keep the per-run lines in>
#   TOOLS="wrk mio-loop ..." (a subset, in this order; wrk must be in it) SPIN_US=20
#
# Hook for the real engine: CANNONADE_CMD is run with `sh -c` on GEN_CPU, once per round
# like the others, with BENCH_URL, BENCH_HOST, BENCH_PORT, BENCH_CONNECTIONS,
# BENCH_DURATION_S and BENCH_REPLY_BYTES in its environment. It must run closed loop
# (no pipelining) on one worker thread and print its result JSON on stdout (the whole
# output, or its last line that starts with "{"). From that JSON the table takes
# "requests", "duration_s" (else the command's wall time) and the first "p50_ns" and
# "p99_ns" keys found at any depth (else a "p50"/"p99" pair inside a "latency_ns" object).
# CANNONADE_NAME labels its row (default "cannonade").
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
PORT=${PORT:-18080}
ROUNDS=${ROUNDS:-3}
DURATION_S=${DURATION_S:-10}
CONNECTIONS=${CONNECTIONS:-32}
GEN_CPU=${GEN_CPU:-0}
SERVER_CPU=${SERVER_CPU:-1}
CANNONADE_NAME=${CANNONADE_NAME:-cannonade}

work=$(mktemp -d)
chmod 755 "$work" # nginx's worker runs as nobody when started by root
cleanup() {
    "$here/nginx/nginx.sh" stop "$work/nginx" || true
    rm -rf "$work"
}
trap cleanup EXIT

bin=$here/evloop/target/release
cargo build --quiet --release --manifest-path "$here/evloop/Cargo.toml"

taskset -c "$SERVER_CPU" "$here/nginx/nginx.sh" start "$PORT" "$work/nginx"
nginx_worker=$(pgrep -P "$(cat "$work/nginx/nginx.pid")")
url=http://127.0.0.1:$PORT/
# Keep-alive replies are all the same size, headers included; measure it once.
reply_bytes=$(curl -s -o /dev/null -w '%{size_header} %{size_download}' "$url" |
    awk '{print $1 + $2}')
echo "nginx $(nginx -v 2>&1 | sed 's/.*\///') worker $nginx_worker on cpu $SERVER_CPU;" \
    "reply $reply_bytes bytes; $ROUNDS rounds of $DURATION_S s, $CONNECTIONS connections," \
    "generator on cpu $GEN_CPU"

read -r -a tools <<<"${TOOLS:-wrk tokio-loop mio-loop uring-loop uring-defer mio-spin mio-reno}"
if [ -n "${CANNONADE_CMD:-}" ]; then
    tools+=("$CANNONADE_NAME")
    export BENCH_URL=$url BENCH_HOST=127.0.0.1 BENCH_PORT=$PORT BENCH_CONNECTIONS=$CONNECTIONS \
        BENCH_DURATION_S=$DURATION_S BENCH_REPLY_BYTES=$reply_bytes
fi

# Busy jiffies of the whole machine, and CPU jiffies of the nginx worker: together with
# the generator's own CPU time they show how much else ran during a measurement. Steal is
# time the hypervisor gave our virtual CPUs to someone else.
machine_busy() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
machine_steal() { awk '/^cpu /{print $9}' /proc/stat; }
nginx_cpu() { awk '{print $14 + $15}' "/proc/$nginx_worker/stat"; }

# This VM's cores are shared with work we cannot see (other containers): before each run,
# wait up to QUIET_WAIT_S for a second in which the machine is at least 90% idle.
wait_quiet() {
    local busy0 busy1
    for _ in $(seq "${QUIET_WAIT_S:-300}"); do
        busy0=$(machine_busy)
        sleep 1
        busy1=$(machine_busy)
        if [ $((busy1 - busy0)) -le $((nproc_all * 10)) ]; then return; fi
    done
    echo "machine still busy after ${QUIET_WAIT_S:-300} s; measuring anyway" >&2
}
nproc_all=$(nproc --all)

# Runs one tool once; prints "tool round requests duration_s user_s sys_s sleeps p50_ns
# p99_ns nginx_cpu_s other_cpu_s steal_s" (sleeps: the generator's voluntary context
# switches).
measure_once() {
    local tool=$1 round=$2 out=$work/$1.$2.out
    local cmd
    case $tool in
    wrk) cmd=(wrk -t1 "-c$CONNECTIONS" "-d${DURATION_S}s" --latency "$url") ;;
    tokio-loop | mio-loop | uring-loop)
        # Without the variants' knobs, whatever this script's environment holds.
        cmd=(env -u SPIN_US -u CC_ALGO "$bin/$tool" "127.0.0.1:$PORT" "$CONNECTIONS"
            "$reply_bytes" "$DURATION_S")
        ;;
    uring-defer)
        cmd=(env URING_TASKRUN=defer "$bin/uring-loop" "127.0.0.1:$PORT" "$CONNECTIONS"
            "$reply_bytes" "$DURATION_S")
        ;;
    mio-spin | mio-reno)
        local knob=SPIN_US=${SPIN_US:-20}
        if [ "$tool" = mio-reno ]; then knob=CC_ALGO=reno; fi
        cmd=(env "$knob" "$bin/mio-loop" "127.0.0.1:$PORT" "$CONNECTIONS" "$reply_bytes"
            "$DURATION_S")
        ;;
    *) cmd=(sh -c "$CANNONADE_CMD") ;;
    esac
    local busy0 nginx0 steal0 busy1 nginx1 steal1
    wait_quiet
    busy0=$(machine_busy) nginx0=$(nginx_cpu) steal0=$(machine_steal)
    # /usr/bin/time counts the generator (and any children it waits for) the same way for
    # every tool; the prototypes' own getrusage figures agree with it.
    timeout $((DURATION_S + 60)) taskset -c "$GEN_CPU" \
        /usr/bin/time -o "$out.time" -f '%U %S %w %e' "${cmd[@]}" >"$out"
    busy1=$(machine_busy) nginx1=$(nginx_cpu) steal1=$(machine_steal)
    python3 - "$tool" "$round" "$out" "$((busy1 - busy0))" "$((nginx1 - nginx0))" \
        "$((steal1 - steal0))" <<'EOF'
import json, re, sys

tool, round_, out, busy_jiffies, nginx_jiffies, steal_jiffies = sys.argv[1:]
text = open(out).read()
user_s, sys_s, sleeps, wall_s = open(out + ".time").read().split()[-4:]

def wrk_ns(value):
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * {"us": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9}[unit]

def find(node, key):
    """The value of the first `key` in a depth-first walk of a JSON document."""
    if isinstance(node, dict) and key in node:
        return node[key]
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    for child in children:
        found = find(child, key)
        if found is not None:
            return found
    return None

if tool == "wrk":
    requests, duration = re.search(r"(\d+) requests in ([\d.]+\w+)", text).groups()
    requests, duration_s = int(requests), wrk_ns(duration) / 1e9
    p50_ns = wrk_ns(re.search(r"^\s+50%\s+(\S+)", text, re.M).group(1))
    p99_ns = wrk_ns(re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1))
else:  # the prototypes and the CANNONADE_CMD hook: result JSON
    try:
        result = json.loads(text)
    except ValueError:
        result = json.loads([l for l in text.splitlines() if l.startswith("{")][-1])
    requests = int(find(result, "requests"))
    duration_s = float(find(result, "duration_s") or wall_s)
    latency = find(result, "latency_ns") or {}
    p50_ns = find(result, "p50_ns") or latency.get("p50")
    p99_ns = find(result, "p99_ns") or latency.get("p99")
nginx_s = int(nginx_jiffies) / 100
other_s = max(0.0, int(busy_jiffies) / 100 - float(user_s) - float(sys_s) - nginx_s)
print(tool, round_, requests, f"{duration_s:.3f}", user_s, sys_s, sleeps,
      round(float(p50_ns)), round(float(p99_ns)), f"{nginx_s:.2f}", f"{other_s:.2f}",
      f"{int(steal_jiffies) / 100:.2f}")
EOF
}

# Measures one tool, again (up to 5 tries) while others (processes or the hypervisor) took
# more than 10% of a core during the run; appends the kept line to $work/runs.
measure() {
    local line
    for try in 1 2 3 4 5; do
        line=$(measure_once "$@")
        if awk '{exit ($11 + $12) / $4 > 0.10}' <<<"$line"; then break; fi
        echo "(try $try, $line: others used more than 10% of a core; again)" >&2
    done
    echo "$line" | tee -a "$work/runs"
}

# A short untimed run so that no tool meets a cold server.
timeout 30 taskset -c "$GEN_CPU" wrk -t1 "-c$CONNECTIONS" -d2s "$url" >/dev/null

echo "tool round requests duration_s user_s sys_s sleeps p50_ns p99_ns nginx_cpu_s" \
    "other_cpu_s steal_s"
for round in $(seq "$ROUNDS"); do
    # Rotate the order each round so that no tool always runs first or last.
    n=${#tools[@]}
    for i in $(seq 0 $((n - 1))); do
        measure "${tools[$(((i + round - 1) % n))]}" "$round"
    done
done
if [ -n "${RAW:-}" ]; then cp "$work/runs" "$RAW"; fi

echo
python3 - "$work/runs" <<'EOF'
from statistics import mean, median
import sys

runs = {}
for line in open(sys.argv[1]):
    fields = line.split()
    tool, requests, duration_s, user_s, sys_s, sleeps, p50, p99 = fields[:1] + fields[2:9]
    other_s, steal_s = fields[10:]
    n, s = int(requests), float(duration_s)
    runs.setdefault(tool, []).append({
        "rate": n / s, "cpu": (float(user_s) + float(sys_s)) / n * 1e6,
        "user": float(user_s) / n * 1e6, "sys": float(sys_s) / n * 1e6,
        "sleeps": int(sleeps) / n, "p50": int(p50) / 1e3, "p99": int(p99) / 1e3,
        "other": (float(other_s) + float(steal_s)) / s * 100})

base = mean(r["cpu"] for r in runs["wrk"])
print(f"{'tool':<12} {'req/s':>7} {'CPU us/req (min-max)':>21} {'vs wrk':>6} {'user':>5} "
      f"{'sys':>5} {'sleeps':>6} {'p50 us':>6} {'p99 us':>6} {'other':>5}")
for tool, rs in runs.items():
    cpu = [r["cpu"] for r in rs]
    avg = lambda key: mean(r[key] for r in rs)
    print(f"{tool:<12} {avg('rate'):7.0f} {mean(cpu):7.2f} ({min(cpu):5.2f}-{max(cpu):5.2f}) "
          f"{mean(cpu) / base:6.2f} {avg('user'):5.2f} {avg('sys'):5.2f} {avg('sleeps'):6.2f} "
          f"{median(r['p50'] for r in rs):6.0f} {median(r['p99'] for r in rs):6.0f} "
          f"{max(r['other'] for r in rs):4.0f}%")
print(f"{len(cpu)} runs per tool. req/s, CPU (user + sys), user, sys: mean; sleeps: voluntary"
      " context switches per request; p50, p99: median of the runs; other: the most CPU used"
      " by neither generator nor nginx during a run (steal included), % of one core.")
EOF
