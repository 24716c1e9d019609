#!/usr/bin/env bash
# Soak: a constant-rate HTTP load against the native testee for a long time, sampling the
# generator's resident memory and open descriptors every 10 s, to show that neither grows.
# Documented in docs/hardening.md; not part of the test command.
#
#   bench/soak.sh [-d DURATION] [-R RATE] [-c CONNECTIONS] [-o DIR] [-- EXTRA CLI ARGS]
#
# Defaults: -d 30m -R 2000 -c 32 -o bench/soak-out. Writes DIR/samples.csv (elapsed_s,
# rss_kib, fds, threads), DIR/report.txt (the CLI's own summary) and DIR/summary.txt
# (first, min, max, last, and least-squares slope per hour from 2 min on and over the
# second half, of RSS, descriptors and threads).
# Needs .venv-pypy (.ci/bootstrap) and `cargo build --release -p cannonade-testee`.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

duration=30m rate=2000 connections=32 out=bench/soak-out interval=10
while (($#)); do
    case $1 in
    -d) duration=$2; shift 2 ;;
    -R) rate=$2; shift 2 ;;
    -c) connections=$2; shift 2 ;;
    -o) out=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "usage: bench/soak.sh [-d DURATION] [-R RATE] [-c CONNECTIONS] [-o DIR] [-- ARGS]" >&2
       exit 2 ;;
    esac
done
python=${CANNONADE_PYPY:-$repo/.venv-pypy/bin/python}
testee=${CANNONADE_TESTEE_BIN:-${CARGO_TARGET_DIR:-$repo/target}/release/cannonade-testee}
[[ -x $python ]] || { echo "soak: $python not found: run .ci/bootstrap" >&2; exit 1; }
[[ -x $testee ]] || { echo "soak: $testee not found: cargo build --release -p cannonade-testee" >&2; exit 1; }
mkdir -p "$out"

: >"$out/testee.out"
"$testee" http --host 127.0.0.1 --port 0 >"$out/testee.out" 2>&1 &
testee_pid=$!
gen_pid=
cleanup() {
    [[ -n $gen_pid ]] && kill "$gen_pid" 2>/dev/null
    kill "$testee_pid" 2>/dev/null
    wait 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 100); do
    grep -q '^listening on ' "$out/testee.out" && break
    sleep 0.1
done
address=$(sed -n 's/^listening on //p' "$out/testee.out")
[[ -n $address ]] || { echo "soak: the testee did not start" >&2; exit 1; }

cmd=("$python" -m cannonade http "http://$address/" -R "$rate" -c "$connections" -d "$duration" "$@")
printf '%s\n' "${cmd[*]}" >"$out/command.txt"
"${cmd[@]}" >"$out/report.txt" 2>&1 &
gen_pid=$!

echo "elapsed_s,rss_kib,fds,threads" >"$out/samples.csv"
start=$(date +%s)
while kill -0 "$gen_pid" 2>/dev/null; do
    status=/proc/$gen_pid/status
    rss=$(awk '/^VmRSS:/ {print $2}' "$status" 2>/dev/null) || break
    threads=$(awk '/^Threads:/ {print $2}' "$status" 2>/dev/null) || break
    fds=$(find "/proc/$gen_pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
    [[ -n $rss ]] && echo "$(($(date +%s) - start)),$rss,$fds,$threads" >>"$out/samples.csv"
    sleep "$interval"
done
status=0
wait "$gen_pid" || status=$?
gen_pid=

python3 - "$out/samples.csv" "$status" >"$out/summary.txt" <<'PY'
import csv
import sys

# From 10 s on: the sample at 0 s may be taken before the interpreter has loaded.
rows = [r for r in csv.DictReader(open(sys.argv[1])) if float(r["elapsed_s"]) >= 10]
if not rows:
    sys.exit("soak: no sample after the first 10 s; run longer")
t = [float(r["elapsed_s"]) for r in rows]
print(f"samples: {len(rows)} over {t[-1] - t[0]:.0f} s; generator exit status {sys.argv[2]}")
print(f"{'':10} {'first':>8} {'min':>8} {'max':>8} {'last':>8} {'slope/h':>9} {'2nd half':>9}")


def slope(pts):
    """Least squares, per hour."""
    n = len(pts)
    mx = sum(a for a, _ in pts) / n
    my = sum(b for _, b in pts) / n
    var = sum((a - mx) ** 2 for a, _ in pts)
    return sum((a - mx) * (b - my) for a, b in pts) / var * 3600 if var else 0.0


for col, unit in (("rss_kib", "KiB"), ("fds", ""), ("threads", "")):
    y = [float(r[col]) for r in rows]
    # Slopes skip the first two minutes (start-up: PyPy's JIT warm-up, its GC sizing
    # its heap); the second-half slope shows whether any growth is levelling off.
    pts = [(a, b) for a, b in zip(t, y) if a >= 120] or list(zip(t, y))
    half = [(a, b) for a, b in pts if a >= (t[0] + t[-1]) / 2] or pts
    print(
        f"{col:10} {y[0]:8.0f} {min(y):8.0f} {max(y):8.0f} {y[-1]:8.0f}"
        f" {slope(pts):+9.1f} {slope(half):+9.1f} {unit}"
    )
PY
cat "$out/summary.txt"
exit "$status"
