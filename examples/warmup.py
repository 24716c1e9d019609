"""Warm a Twisted echo server on PyPy up until it is steady, measure it, and report.

    .venv-pypy/bin/python examples/warmup.py [--measure S] [--executions N]
        [--warmup-min S] [--warmup-max S] [--window S]

cannonade starts its bundled Twisted echo testee under the same interpreter as this
script, with PyPy's GC and JIT events logged (PYPYLOG). One load stream of 32
connections runs against it, in intervals of 100 ms (PyPy warms up within a second
or two; one-second intervals would average that away): the warm-up phase lasts until
p50 has had no changepoint of more than 50 % for 5 s (``--window``; at least
``--warmup-min`` 10 s, at most ``--warmup-max`` 120 s) and PyPy's JIT has gone quiet,
then the measured phase lasts ``--measure`` 10 s (measured again if the series
changed meanwhile: on a busy machine the level moves every 10-20 s, so a short
window and measurement have the better chance). Intervals in which the machine
stalled the generator or the server are left out of the analysis.

Why p50 and 50 %: on a shared machine a closed loop's throughput is the CPU share the
scheduler grants the generator and the server (on a 2-core VM with a load average of
7 to 17 it swung between 30,000 and 110,000 requests/s from one second to the next,
with the server long warm), while the median request is served at the server's own
speed: its p50 wandered by 10-15 % at a load average of 7, and moved between levels
up to x2 apart every 10-20 s when the machine was busier (at 25 % one run took eight
measurements, another ended "slowdown"). PyPy's warm-up of this server is a change of
x3 to x10 of p50 within the first one or two seconds.

Progress shows one interval a second, and every change of phase.
The server is stopped, and with ``--executions`` N > 1 started afresh for each
process execution.
"""

from __future__ import annotations

import argparse
import sys

import cannonade
from cannonade import format_ns

_shown = {"phase": ""}


def progress(phase: str, interval: cannonade.Interval, server: object) -> None:
    """One line a second (every tenth 100 ms interval), and at each change of phase."""
    new_phase = phase != _shown["phase"]
    _shown["phase"] = phase
    if not new_phase and round(interval.end_s * 10) % 10:
        return
    p50 = format_ns(interval.latency.percentile(50.0))
    p99 = format_ns(interval.latency.percentile(99.0))
    cpu = getattr(server, "cpu_percent", float("nan"))
    print(
        f"  {phase:<8}{interval.end_s:6.1f}s {interval.requests_per_s:>9,.0f} req/s"
        f"  p50 {p50:>9}  p99 {p99:>9}" + (f"  server cpu {cpu:3.0f}%" if cpu == cpu else ""),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", type=float, default=10.0, metavar="S")
    parser.add_argument("--executions", type=int, default=1, metavar="N")
    parser.add_argument("--warmup-min", type=float, default=10.0, metavar="S")
    parser.add_argument("--warmup-max", type=float, default=120.0, metavar="S")
    parser.add_argument("--window", type=float, default=5.0, metavar="S")
    args = parser.parse_args()
    server = cannonade.Server(
        [sys.executable, "-m", "cannonade.testees.echo", "--port", "{port}"],
        pypylog=True,  # GC and JIT events, lined up with the intervals
    )
    # The target's host and port are replaced by the server's; the driver decides
    # how long the load runs, so the plan's duration is not used.
    # One generator thread leaves the other core to the server (a single PyPy process).
    plan = cannonade.Plan(
        "127.0.0.1:9000",
        cannonade.Tcp(payload_bytes=64),
        connections=32,
        threads=1,
        duration_s=1,
    )
    bench = cannonade.Benchmark(
        plan,
        server,
        warmup=cannonade.Warmup(
            min_s=args.warmup_min,
            max_s=args.warmup_max,
            steady_window_s=args.window,
            metrics=("p50",),  # throughput is the machine's share here (see above)
            min_effect=0.5,  # the machine moves p50 by up to x2; the warm-up by x3-x10
        ),
        measure_s=args.measure,
        executions=args.executions,
        progress=progress,
    )
    with bench:
        result = bench.run()
    print()
    print(result.format())


if __name__ == "__main__":
    main()
