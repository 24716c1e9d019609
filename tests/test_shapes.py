"""Ground truth: the real warm-up driver against the native testee's shapes.

Each case (tests/ground_truth.py) is a server whose service time over time is known:
flat, a warm-up step, a slowdown step, an alternation, a periodic stall. The driver
must give the class the shape has, find a step where it is, and, for the stall, give
the corrected percentiles their analytic values. One execution each, about 40 s in all.
"""

from __future__ import annotations

import pytest

import ground_truth

from support import rust_testee_argv

# Long runs against real servers (or a browser), the same whatever the backend:
# .ci/run runs them in its first pytest pass only.
pytestmark = pytest.mark.once


@pytest.mark.parametrize("name", ["flat", "warmup", "slowdown", "alternate"])
def test_the_class_and_the_changepoint_are_the_shapes(name: str) -> None:
    testee = rust_testee_argv()[0]
    case = ground_truth.CASES[name]
    execution = ground_truth.run(case, testee)
    verdict = ground_truth.judge(case, execution)
    assert verdict.right, verdict.explain
    # Each case was watched at the interval its truth was written for.
    assert all(
        abs((i.end_ns - i.start_ns) / 1e9 - ground_truth.INTERVAL_S) < 0.05
        for i in execution.intervals
    )


def test_a_periodic_stall_gives_the_analytic_corrected_percentiles() -> None:
    testee = rust_testee_argv()[0]
    case = ground_truth.CASES["stall"]
    execution = ground_truth.run(case, testee)
    verdict = ground_truth.judge(case, execution)
    assert verdict.right, verdict.explain
    # Open loop, far below capacity: every request due was sent and answered.
    measure = execution.measure
    expected = ground_truth.STALL_RATE_PER_S * measure.duration_s
    assert abs(measure.requests - expected) <= 0.1 * expected, (measure.requests, expected)
    assert measure.errors.total == 0
