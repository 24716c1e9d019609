"""Servers whose behaviour over time is known, and what a right analysis says of them.

Each :class:`Case` is the native testee in one of its shapes (``cannonade-testee
--help``): a service time that every reply waits, counted from the server's start, so
the truth is known before the run. :func:`run` puts the real warm-up driver
(:class:`cannonade.Benchmark`) against it; :func:`judge` compares the execution with
the truth. tests/test_shapes.py asserts on one run of each case; bench/accuracy.py
counts how often the driver is right over many runs.

Why these numbers:

- Closed loop, 8 connections: service times of 12 ms and 4 ms (each wait ends on the
  timer's next millisecond: a p50 of about 13.3 and 5.2 ms) give about 600 and 1,500
  requests a second, a step of 2.5x in throughput and in p50; the server only
  sleeps, so a busy machine changes the levels little.
- Intervals of 0.25 s (150 to 380 requests each) and steps at 2.5 s: the warm-up
  watches ``requests_per_s`` and ``p50``, and lasts at least ``min_s`` = 5 s, so that
  the step and a steady window of 2 s after it are both seen before the driver
  decides.
- The alternation changes every 1 s (a period of 2 s: 4 intervals slow, 4 fast), so
  every steady window of 2 s holds a change: the server never settles.
- The stall (100 ms of every 1,000 ms) is loaded open loop at 200 requests a second,
  far below what 8 connections can do: 10% of the requests wait for the stall's end,
  uniformly on (0, 100 ms], and the corrected p99 is 100 · (1 − 0.01 · 1000/100) = 90
  ms. The measurement lasts 5 s, whole periods, so it holds exactly 5 stalls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import cannonade
from cannonade import Benchmark, Warmup

INTERVAL_S = 0.25
CONNECTIONS = 8
SLOW_US, FAST_US = 12_000, 4_000
STEP_S = 2.5
ALTERNATE_PERIOD_S = 2.0
STALL_MS, STALL_EVERY_MS = 100, 1000
STALL_RATE_PER_S = 200.0
#: A changepoint counts as found at the step when it lies this close to it.
CHANGE_MARGIN_S = 0.5 + INTERVAL_S
#: Corrected p99 of the stall shape: within this fraction of its analytic value.
P99_TOLERANCE = 0.15

# max_s leaves room for two or three re-measurements after the step: on the shared 2-core
# VM a busy spell of the machine can move the measured levels for a few seconds, and the
# driver measures again after it (a measurement that is not steady is never used).
_STEP_WARMUP = Warmup(min_s=5, max_s=14, steady_window_s=2, metrics=("requests_per_s", "p50"))


@dataclass(frozen=True)
class Case:
    """One shape, how it is loaded and watched, and the truth about it."""

    name: str
    testee_args: tuple[str, ...]
    #: The class a right analysis gives, or None when only percentiles are checked.
    expected: Optional[str]
    warmup: Warmup
    measure_s: float
    #: Where the service time changes, in seconds from the server's start (steps only).
    change_s: Optional[float] = None
    #: None: closed loop.
    rate_per_s: Optional[float] = None


def _step(kind: str) -> tuple[str, ...]:
    return (
        "--shape",
        kind,
        "--at-ms",
        str(int(STEP_S * 1000)),
        "--slow-us",
        str(SLOW_US),
        "--fast-us",
        str(FAST_US),
    )


CASES = {
    case.name: case
    for case in (
        Case(
            "flat",
            ("--shape", "flat", "--delay-us", str(FAST_US)),
            expected="flat",
            warmup=Warmup(min_s=3, max_s=12, steady_window_s=2, metrics=("requests_per_s", "p50")),
            measure_s=3,
        ),
        Case("warmup", _step("warmup"), "warmup", _STEP_WARMUP, measure_s=3, change_s=STEP_S),
        Case("slowdown", _step("slowdown"), "slowdown", _STEP_WARMUP, measure_s=3, change_s=STEP_S),
        Case(
            "alternate",
            (
                "--shape",
                "alternate",
                "--period-ms",
                str(int(ALTERNATE_PERIOD_S * 1000)),
                "--slow-us",
                str(SLOW_US),
                "--fast-us",
                str(FAST_US),
            ),
            expected="no steady state",
            warmup=Warmup(min_s=4, max_s=8, steady_window_s=2, metrics=("requests_per_s", "p50")),
            measure_s=3,
        ),
        Case(
            "stall",
            ("--stall-ms", str(STALL_MS), "--stall-every-ms", str(STALL_EVERY_MS)),
            expected=None,
            # Any verdict: the measurement is what is checked. At a constant rate the
            # throughput is steady, so the warm-up ends soon.
            warmup=Warmup(min_s=2, max_s=5, steady_window_s=2, metrics=("requests_per_s",)),
            measure_s=5,
            rate_per_s=STALL_RATE_PER_S,
        ),
    )
}


def stall_p99_ns() -> float:
    """The corrected p99 of the stall shape: S · (1 − 0.01 · E / S), in nanoseconds."""
    return STALL_MS * (1 - 0.01 * STALL_EVERY_MS / STALL_MS) * 1e6


def plan(case: Case) -> cannonade.Plan:
    # The address is replaced by the server's; the driver decides the duration.
    return cannonade.Plan(
        "http://127.0.0.1:9/",
        cannonade.Http(),
        connections=CONNECTIONS,
        threads=1,
        duration_s=1,
        interval_s=INTERVAL_S,
        rate_per_s=case.rate_per_s,
    )


def server(case: Case, testee: Union[str, Path]) -> cannonade.Server:
    return cannonade.Server([str(testee), "http", *case.testee_args, "--port", "{port}"])


def run(case: Case, testee: Union[str, Path]) -> cannonade.Execution:
    """One process execution of the real driver against the testee in this shape."""
    with Benchmark(
        plan(case), server(case, testee), warmup=case.warmup, measure_s=case.measure_s
    ) as bench:
        return bench.execution()


@dataclass(frozen=True)
class Verdict:
    """How one execution compares with the truth of its case."""

    right: bool
    classification: str
    changepoints_s: tuple[float, ...]
    #: Distance from the true change to the nearest changepoint found (steps only).
    change_error_s: Optional[float]
    p50_ms: Optional[float]
    p99_ms: Optional[float]
    #: What was wrong, and what the analysis said, for an assertion message.
    explain: str


def judge(case: Case, execution: cannonade.Execution) -> Verdict:
    found = execution.changepoints_s
    said = (
        f"classification {execution.classification!r}, changepoints at "
        f"{[round(t, 2) for t in found]} s, warm-up {execution.warmup_s:.2f} s "
        f"(reached steady: {execution.reached_steady}); per metric: "
        + "; ".join(
            f"{name} {a.classification} cp {list(a.changepoints)} means "
            f"{[round(s.mean, 1) for s in a.segments]}"
            + (f" stalls left out {list(a.excluded)}" if a.excluded else "")
            for name, a in execution.analyses.items()
        )
        + f"; why: {' / '.join(execution.reasons[:3])}"
    )
    wrong = []
    if execution.error is not None:
        wrong.append(f"the execution failed: {execution.error}")
    if case.expected is not None and execution.classification != case.expected:
        wrong.append(f"expected {case.expected!r}")
    error_s = None
    if case.change_s is not None:
        error_s = min((abs(t - case.change_s) for t in found), default=math.inf)
        if error_s > CHANGE_MARGIN_S:
            wrong.append(f"no changepoint within {CHANGE_MARGIN_S} s of {case.change_s} s")
    p50_ms = p99_ms = None
    if case.name == "stall":
        latency = execution.measure.latency
        p50_ms, p99_ms = latency.percentile(50.0) / 1e6, latency.percentile(99.0) / 1e6
        want = stall_p99_ns() / 1e6
        if abs(p99_ms - want) > P99_TOLERANCE * want:
            wrong.append(f"corrected p99 {p99_ms:.2f} ms, expected {want:.0f} ms ± 15%")
        # 90% of the requests meet no stall: the median is the server's round trip and
        # the pacer's lag, far below the stall.
        if p50_ms >= 0.1 * STALL_MS:
            wrong.append(f"corrected p50 {p50_ms:.2f} ms, expected under {0.1 * STALL_MS} ms")
        said += f"; measured p50 {p50_ms:.2f} ms, p99 {p99_ms:.2f} ms"
    explain = f"{case.name}: {'; '.join(wrong) or 'right'}; the analysis said: {said}"
    return Verdict(
        right=not wrong,
        classification=execution.classification,
        changepoints_s=found,
        change_error_s=error_s,
        p50_ms=p50_ms,
        p99_ms=p99_ms,
        explain=explain,
    )
