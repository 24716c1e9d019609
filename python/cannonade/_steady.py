"""Warm-up classification of interval series, after Barrett et al. (OOPSLA 2017).

API::

    FLAT, WARMUP, SLOWDOWN, NO_STEADY_STATE = "flat", "warmup", "slowdown", "no steady state"
    GOOD_INCONSISTENT, BAD_INCONSISTENT = "good inconsistent", "bad inconsistent"

    @dataclass(frozen=True)
    class Segment:
        start: int          # first index, in the original series
        end: int            # end, exclusive
        mean: float         # of the non-outlier points in [start, end)
        variance: float     # likewise (maximum likelihood: divided by the count)

    @dataclass(frozen=True)
    class SeriesAnalysis:
        classification: str               # FLAT, WARMUP, SLOWDOWN or NO_STEADY_STATE
        changepoints: tuple[int, ...]     # starts of segments 1.., original indices
        segments: tuple[Segment, ...]     # cover the whole series, in order
        outliers: tuple[int, ...]         # original indices, ascending
        steady_start: Optional[int]       # None for NO_STEADY_STATE
        reasons: tuple[str, ...]          # why: the deciding reason first
        halfwidth: Optional[float]        # of the steady mean, when checked

    analyse(series: Sequence[float], *, higher_is_better: bool, steady_window: int,
            delta: float = 0.001, penalty: Optional[float] = None,
            outlier_window: int = 200, min_effect: float = 0.1,
            penalty_factor: float = 6.0, min_segment: int = 4, guards: bool = True,
            max_halfwidth: Optional[float] = None) -> SeriesAnalysis
    minimum_window(n: int, ...) -> int
    penalty_for(n: int, factor: float = 6.0) -> float
    combine(analyses: Sequence[SeriesAnalysis]) -> tuple[str, Optional[int]]
    combine_executions(classes: Sequence[str]) -> str

One series (:func:`analyse`), e.g. the throughput of one process execution,
one value per interval (of 100 ms by default in the benchmark driver: tens to
hundreds of values, where Barrett et al. had thousands of in-process
iterations):

1. Outliers are found with :func:`cannonade._changepoint.outliers` (window
   ``outlier_window``).  They are left out of everything below but reported.
2. Changepoints of the remaining points: :func:`cannonade._changepoint.pelt`
   with the Normal mean-and-variance cost on the *logarithms* of the values
   (a value of 0, an interval without replies, counts as ``QUANTUM`` of the
   largest), an absolute variance floor of ``QUANTUM² / 12``, segments of at
   least ``min_segment`` = 4 points, and a penalty of ``penalty_factor × log n``
   = ``6 log n`` per changepoint.  Then neighbouring segments whose means differ
   by less than ``min_effect`` = 10 % are merged, the closest pair first.
   Changepoints are mapped back to original indices: a segment runs from its
   first non-outlier point to the next segment's first point.

   Why logs: throughput and latency are ratio-scale and their noise is roughly
   log-normal (a JIT, a GC or a neighbour on the machine scales them), so on
   the log scale a doubling is the same step at any level and the noise is
   about Normal, which is what the cost assumes.  Why ``6 log n``: Barrett's
   ``15 log n`` was set for series of ~2,000 iterations; on 20 points it
   cannot pay for a level that triples (the best split lowers the cost by 26,
   the penalty is 45).  A doubling with ``w`` points after it, in log-normal
   noise of σ, lowers the cost by about ``n log(1 + p(1 − p) log² 2 / σ²)``,
   ``p = w / n``: at σ = 0.25 (the noise of 100 ms intervals on this 2-core VM)
   that pays ``6 log n`` from 6 points on, for n up to 1,200.  The table in
   bench/RESULTS.md (``bench/warmup_analysis.py``) shows ``6 log n`` finding ×2 and ×3
   steps over 10-20 intervals within an interval or two, and not splitting flat
   log-normal noise, where 4 log n splits 1 flat series in 4 with 5 % of deep
   dips and 8 log n misses 13 in 30 of the ×2 steps after 10 intervals.  Why
   4 points: a JIT warm-up of a second is 10 intervals; 2-point segments let
   the variance term split noise at will.  Why 10 %: the mean of 20 intervals
   at σ = 0.25 is uncertain by about ±14 % (99 %), so smaller changes of level
   are not resolved at this grain; a variance-only change is not a change of
   level.
3. Each segment is compared with the last one.  Barrett et al. call a segment
   *equivalent* to the last if its mean lies within the last segment's mean
   ± max(variance of the last segment, delta), with times in seconds and
   delta = 0.001 s.  Our series have other units (requests/s, nanoseconds), so
   the rule is applied to the series divided by the last segment's mean, and
   the band is at least ``min_effect``:
   ``|mean − last.mean| / |last.mean| <= max(last.variance / last.mean², delta,
   min_effect)``.  If the last mean is 0 the absolute values are used.
4. Classification, in this order:

   * ``NO_STEADY_STATE``: the last segment is shorter than ``steady_window``
     points (a changepoint lies after index ``len(series) − steady_window``;
     a series shorter than ``steady_window`` never reaches a steady state);
   * ``FLAT``: no changepoint, or every segment is equivalent to the last;
   * ``NO_STEADY_STATE`` too when a segment equivalent to the last lies before
     one that is not: the final level was reached, lost and reached again, a
     recurring change rather than a warm-up;
   * ``SLOWDOWN``: some segment that is not equivalent to the last is better
     than it;
   * ``WARMUP``: otherwise (the last segment is the best of the segments that
     are not equivalent to it).

   "Better" is a higher mean if ``higher_is_better`` (throughput), a lower one
   otherwise (latency).
5. ``steady_start`` is the first index of the earliest segment from which on
   every segment is equivalent to the last (0 for ``FLAT``, None for
   ``NO_STEADY_STATE``).
6. Guards (``guards=True``), which fail safe: a series alternating or drifting
   at a period of a few intervals has no changepoint PELT can pay for, so a
   flat, warm-up or slowdown verdict also needs the steady window (the last
   ``steady_window`` points, at least 12, from ``steady_start`` on: in the
   driver, the measurement that gives the estimates) to show (a) no level shift at a finer
   grain (the same analysis of the steady part alone with 2-point segments),
   (b) no correlation between intervals (Ljung-Box test of the logs over up to
   10 lags at the 0.001 level, chi-square quantile by Wilson-Hilferty), and,
   when ``max_halfwidth`` is given, (c) a tight mean: the relative half-width
   of its 99 % bootstrap interval (1,000 resamples, seed 0) at most
   ``max_halfwidth``.  Otherwise the verdict is ``NO_STEADY_STATE``.  Every
   verdict carries its ``reasons``: the deciding one first, then the checks.

A steady window must be able to hold a changepoint at this penalty:
:func:`minimum_window` gives the fewest points, for a doubling in noise of
σ = 0.25 (the benchmark driver refuses shorter windows up front).

Several metrics of one execution (:func:`combine`): the worst class wins, in
the order no steady state, slowdown, warm-up, flat; the steady start is the
latest of the metrics' steady starts (None if there is no steady state).

Several process executions (:func:`combine_executions`): if all have the same
class, that class; a mix of only flat and warm-up is ``GOOD_INCONSISTENT``;
any other mix is ``BAD_INCONSISTENT``.

Errors: bad input raises :class:`cannonade.AnalysisError` (also a ``ValueError``;
a wrong type raises its subclass that is also a ``TypeError``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

from ._changepoint import (
    QUANTUM,
    _check_int,
    _check_number,
    _finite_values,
    outliers,
    pelt,
)
from ._errors import AnalysisError, AnalysisTypeError

__all__ = [
    "BAD_INCONSISTENT",
    "FLAT",
    "GOOD_INCONSISTENT",
    "NO_STEADY_STATE",
    "SLOWDOWN",
    "WARMUP",
    "Segment",
    "SeriesAnalysis",
    "analyse",
    "combine",
    "combine_executions",
]

FLAT = "flat"
WARMUP = "warmup"
SLOWDOWN = "slowdown"
NO_STEADY_STATE = "no steady state"
GOOD_INCONSISTENT = "good inconsistent"
BAD_INCONSISTENT = "bad inconsistent"

#: Classes of one series, from best to worst (the order :func:`combine` uses).
CLASSES = (FLAT, WARMUP, SLOWDOWN, NO_STEADY_STATE)

#: The penalty per changepoint is ``PENALTY_FACTOR × log n`` (see the module docstring).
PENALTY_FACTOR = 6.0
#: Fewest points in a segment.
MIN_SEGMENT = 4
#: Segments whose means differ by less than this fraction are one level.
MIN_EFFECT = 0.1
#: Variance of log values rounded at the relative step ``QUANTUM`` (uniform rounding).
LOG_FLOOR = QUANTUM * QUANTUM / 12.0
#: Per-interval noise (standard deviation of log values) and level ratio that
#: :func:`minimum_window` assumes a window must be able to show.
REFERENCE_NOISE, REFERENCE_EFFECT = 0.25, 2.0
#: Ljung-Box test of the steady part: lags tested (at most), and the level.
LJUNG_BOX_LAGS, LJUNG_BOX_Z = 10, 3.090  # one-sided normal quantile of 0.999
#: Fewest steady points on which the finer-grain checks are made.
GUARD_MIN_POINTS = 12
#: Relative half-width of the steady mean's 99 % bootstrap interval, at most.
MAX_HALFWIDTH = 0.1


@dataclass(frozen=True)
class Segment:
    """Points ``start`` up to ``end`` (exclusive) of a series, between two changepoints.

    ``mean`` and ``variance`` (maximum likelihood, divided by the count) are
    computed without the outliers.
    """

    start: int
    end: int
    mean: float
    variance: float


@dataclass(frozen=True)
class SeriesAnalysis:
    """The changepoints, outliers and warm-up class of one series (see the module docstring)."""

    classification: str
    changepoints: tuple[int, ...]
    segments: tuple[Segment, ...]
    outliers: tuple[int, ...]
    steady_start: Optional[int]
    #: Why this class: short sentences, the deciding one first.
    reasons: tuple[str, ...] = ()
    #: Relative half-width of the steady part's mean (99 % bootstrap), when checked.
    halfwidth: Optional[float] = None


def penalty_for(n: int, factor: float = PENALTY_FACTOR) -> float:
    """The penalty per changepoint for ``n`` points: ``factor × log n``."""
    return factor * math.log(n) if n > 1 else 0.0


def minimum_window(
    n: int,
    *,
    factor: float = PENALTY_FACTOR,
    min_segment: int = MIN_SEGMENT,
    noise: float = REFERENCE_NOISE,
    effect: float = REFERENCE_EFFECT,
) -> int:
    """The fewest points a steady window needs to show a changepoint in a series of ``n``.

    A level that changes by ``effect`` (×2) with ``w`` points after the change,
    in log-normal noise of ``noise`` (0.25) per point, lowers the cost of a
    series of ``n`` points by about ``n log(1 + p(1 − p) log²(effect) / noise²)``,
    ``p = w / n``; the window must let that pay for the penalty, and hold a
    last segment of ``min_segment`` points with a changepoint before it.
    """
    n = max(_check_int("n", n, 1), 2)
    beta = penalty_for(n, factor)
    ratio = math.log(effect) ** 2 / (noise * noise)
    for w in range(min_segment + 1, n):
        p = w / n
        if n * math.log1p(p * (1.0 - p) * ratio) > beta:
            return w
    return n


def _mean_variance(values: Sequence[float]) -> tuple[float, float]:
    mean = math.fsum(values) / len(values)
    return mean, math.fsum((value - mean) ** 2 for value in values) / len(values)


def _relative(value: float, reference: float) -> float:
    """``|value − reference|`` relative to ``|reference|`` (absolute if it is 0)."""
    scale = abs(reference) if reference != 0.0 else 1.0
    return abs(value - reference) / scale


def _logs(values: Sequence[float]) -> list[float]:
    """Log values, with 0 (no reply in an interval) at ``QUANTUM`` of the largest."""
    floor = QUANTUM * max(values)
    if floor <= 0.0:
        return [0.0] * len(values)
    return [math.log(value if value > floor else floor) for value in values]


def _bounds(
    values: Sequence[float],
    *,
    factor: float,
    min_segment: int,
    min_effect: float,
    penalty: Optional[float] = None,
) -> list[int]:
    """Segment bounds of ``values`` (0, changepoints..., len): PELT on the logs, then
    neighbours closer than ``min_effect`` merged, the closest pair first."""
    n = len(values)
    beta = penalty_for(n, factor) if penalty is None else penalty
    bounds = [0, *pelt(_logs(values), beta, min_segment, variance_floor=LOG_FLOOR), n]
    while len(bounds) > 2:
        means = [math.fsum(values[a:b]) / (b - a) for a, b in zip(bounds, bounds[1:])]
        gaps = [_relative(a, b) for a, b in zip(means, means[1:])]
        closest = min(range(len(gaps)), key=gaps.__getitem__)
        if gaps[closest] >= min_effect:
            break
        del bounds[closest + 1]
    return bounds


def _ljung_box(values: Sequence[float]) -> tuple[float, float, int]:
    """Ljung-Box ``Q`` of the logs of ``values``, its 0.999 limit, and the lags tested."""
    logs = _logs(values)
    m = len(logs)
    lags = max(1, min(LJUNG_BOX_LAGS, m // 5))
    mean = math.fsum(logs) / m
    centred = [x - mean for x in logs]
    denominator = math.fsum(x * x for x in centred)
    q = 0.0
    # Variation below the quantisation step (a constant series, up to rounding of its
    # mean) is no pattern.
    if denominator > m * LOG_FLOOR:
        for k in range(1, lags + 1):
            rho = math.fsum(a * b for a, b in zip(centred, centred[k:])) / denominator
            q += rho * rho / (m - k)
        q *= m * (m + 2)
    # Wilson-Hilferty: chi-square quantile from the normal one.
    h = float(lags)
    limit = h * (1.0 - 2.0 / (9.0 * h) + LJUNG_BOX_Z * math.sqrt(2.0 / (9.0 * h))) ** 3
    return q, limit, lags


def _halfwidth(values: Sequence[float]) -> float:
    from ._stats import bootstrap_mean

    estimate = bootstrap_mean([list(values)], confidence=0.99, resamples=1000, seed=0)
    scale = abs(estimate.mean) if estimate.mean != 0.0 else 1.0
    return (estimate.high - estimate.low) / 2.0 / scale


def _classify(
    segments: Sequence[Segment],
    *,
    higher_is_better: bool,
    steady_window: int,
    delta: float,
    min_effect: float,
) -> tuple[str, Optional[int], list[str]]:
    last = segments[-1]
    length = last.end - last.start
    if length < steady_window:
        if len(segments) == 1:
            why = f"{length} intervals, fewer than the steady window of {steady_window}"
        else:
            why = (
                f"changepoint at interval {last.start}, within the last {steady_window} "
                f"intervals (the steady window)"
            )
        return NO_STEADY_STATE, None, [why]
    scale = abs(last.mean) if last.mean != 0.0 else 1.0
    band = max(last.variance / (scale * scale), delta, min_effect)
    equivalent = [_relative(segment.mean, last.mean) <= band for segment in segments]
    first_steady = len(segments) - 1
    while first_steady > 0 and equivalent[first_steady - 1]:
        first_steady -= 1
    steady_start = segments[first_steady].start
    if all(equivalent):
        if len(segments) == 1:
            why = f"no changepoint in {length} intervals"
        else:
            why = f"every segment within {band:.0%} of the last"
        return FLAT, steady_start, [why]
    left = next(k for k in range(first_steady) if not equivalent[k])
    for k in range(left):
        if equivalent[k]:
            segment = segments[k]
            why = (
                f"the final level ({last.mean:.4g}) was already reached at intervals "
                f"{segment.start}-{segment.end - 1} and lost again: a recurring change"
            )
            return NO_STEADY_STATE, None, [why]
    for segment, same in zip(segments, equivalent):
        if not same and (
            segment.mean > last.mean if higher_is_better else segment.mean < last.mean
        ):
            why = (
                f"intervals {segment.start}-{segment.end - 1} were better "
                f"({segment.mean:.4g} against {last.mean:.4g} at the end)"
            )
            return SLOWDOWN, steady_start, [why]
    worst = segments[0]
    why = (
        f"level changed from {worst.mean:.4g} to {last.mean:.4g} "
        f"(×{last.mean / worst.mean if worst.mean else math.inf:.3g}); steady from interval "
        f"{steady_start}, {last.end - steady_start} intervals"
    )
    return WARMUP, steady_start, [why]


def _guards(
    steady: Sequence[float],
    start: int,
    *,
    factor: float,
    min_effect: float,
    max_halfwidth: Optional[float],
) -> tuple[list[str], list[str], Optional[float]]:
    """Checks of the steady window at a finer grain: (failures, passes, half-width)."""
    failed: list[str] = []
    passed: list[str] = []
    m = len(steady)
    if m < GUARD_MIN_POINTS:
        return failed, [f"steady window of {m} intervals: too short for finer checks"], None
    fine = _bounds(steady, factor=factor, min_segment=2, min_effect=min_effect)
    if len(fine) > 2:
        at = ", ".join(str(start + b) for b in fine[1:-1])
        failed.append(f"level shifts inside the steady window at a finer grain (at {at})")
    else:
        passed.append("no level shift at a finer grain")
    q, limit, lags = _ljung_box(steady)
    if q > limit:
        failed.append(
            f"intervals of the steady window are correlated (alternation or drift): "
            f"Ljung-Box Q {q:.1f} over {lags} lags, limit {limit:.1f}"
        )
    else:
        passed.append(f"intervals uncorrelated (Ljung-Box Q {q:.1f} <= {limit:.1f})")
    halfwidth = None
    if max_halfwidth is not None:
        halfwidth = _halfwidth(steady)
        if halfwidth > max_halfwidth:
            failed.append(
                f"steady mean not tight: ±{halfwidth:.1%} at 99 % (limit ±{max_halfwidth:.0%})"
            )
        else:
            passed.append(f"steady mean ±{halfwidth:.1%} at 99 %")
    return failed, passed, halfwidth


def analyse(
    series: Sequence[float],
    *,
    higher_is_better: bool,
    steady_window: int,
    delta: float = 0.001,
    penalty: Optional[float] = None,
    outlier_window: int = 200,
    min_effect: float = MIN_EFFECT,
    penalty_factor: float = PENALTY_FACTOR,
    min_segment: int = MIN_SEGMENT,
    guards: bool = True,
    max_halfwidth: Optional[float] = None,
) -> SeriesAnalysis:
    """Outliers, changepoints, segments and warm-up class of one series.

    ``steady_window`` is the number of points the last segment needs for a
    steady state; ``delta`` the relative equivalence tolerance; ``penalty``
    per changepoint (default ``penalty_factor × log n``); ``outlier_window``
    the window of the outlier filter; ``min_effect`` the smallest relative
    change of level that counts; ``guards`` the finer-grain checks of the
    steady part, with ``max_halfwidth`` its tightness (None: not checked).
    See the module docstring.
    """
    values = _finite_values(series)
    if not values:
        raise AnalysisError("series is empty")
    if not isinstance(higher_is_better, bool):
        raise AnalysisTypeError(f"higher_is_better must be a bool, got {higher_is_better!r}")
    if min(values) < 0.0:
        raise AnalysisError(
            "series has a negative value; the analysis takes throughputs and latencies (>= 0)"
        )
    steady_window = _check_int("steady_window", steady_window, 0)
    delta = _check_number("delta", delta)
    min_effect = _check_number("min_effect", min_effect)
    penalty_factor = _check_number("penalty_factor", penalty_factor)
    min_segment = _check_int("min_segment", min_segment, 1)
    if penalty is not None:
        penalty = _check_number("penalty", penalty)
    if max_halfwidth is not None:
        max_halfwidth = _check_number("max_halfwidth", max_halfwidth)
    n = len(values)
    flags = outliers(values, outlier_window)
    kept = [index for index, flag in enumerate(flags) if not flag]
    if not kept:  # cannot happen with a median band; keep everything rather than fail
        kept = list(range(n))
    kept_values = [values[index] for index in kept]
    bounds = _bounds(
        kept_values,
        factor=penalty_factor,
        min_segment=min_segment,
        min_effect=min_effect,
        penalty=penalty,
    )
    starts = [0] + [kept[bound] for bound in bounds[1:-1]]
    ends = [*starts[1:], n]
    segments = []
    for number, (start, end) in enumerate(zip(starts, ends)):
        mean, variance = _mean_variance(kept_values[bounds[number] : bounds[number + 1]])
        segments.append(Segment(start, end, mean, variance))
    classification, steady_start, reasons = _classify(
        segments,
        higher_is_better=higher_is_better,
        steady_window=steady_window,
        delta=delta,
        min_effect=min_effect,
    )
    halfwidth = None
    if guards and steady_start is not None:
        # The window that must hold no changepoint (the measurement, in the driver).
        checked_from = max(steady_start, n - max(steady_window, GUARD_MIN_POINTS))
        steady = [values[index] for index in kept if index >= checked_from]
        failed, passed, halfwidth = _guards(
            steady,
            checked_from,
            factor=penalty_factor,
            min_effect=min_effect,
            max_halfwidth=max_halfwidth,
        )
        if failed:
            reasons = [*failed, f"(would be {classification}: {reasons[0]})"]
            classification, steady_start = NO_STEADY_STATE, None
        else:
            reasons += passed
    return SeriesAnalysis(
        classification=classification,
        changepoints=tuple(starts[1:]),
        segments=tuple(segments),
        outliers=tuple(index for index, flag in enumerate(flags) if flag),
        steady_start=steady_start,
        reasons=tuple(reasons),
        halfwidth=halfwidth,
    )


def _check_class(value: object, allowed: Sequence[str], what: str) -> str:
    if value not in allowed:
        raise AnalysisError(f"unknown {what} {value!r}; expected one of {', '.join(allowed)}")
    return str(value)


def combine(analyses: Sequence[SeriesAnalysis]) -> tuple[str, Optional[int]]:
    """One class and steady start from several metrics of one execution.

    The worst class wins (no steady state, slowdown, warm-up, flat); the
    steady start is the latest one, or None without a steady state.
    """
    if not analyses:
        raise AnalysisError("combine() needs at least one analysis")
    classes = [_check_class(a.classification, CLASSES, "classification") for a in analyses]
    worst = max(classes, key=CLASSES.index)
    if worst == NO_STEADY_STATE:
        return worst, None
    starts = [a.steady_start for a in analyses]
    if any(start is None for start in starts):
        raise AnalysisError("an analysis with a steady state has steady_start None")
    return worst, max(start for start in starts if start is not None)


def combine_executions(classes: Sequence[str]) -> str:
    """One class from the classes of several process executions (Barrett et al.).

    All the same: that class; only flat and warm-up: ``GOOD_INCONSISTENT``;
    otherwise ``BAD_INCONSISTENT``.
    """
    if isinstance(classes, str):
        raise AnalysisTypeError("classes must be a sequence of class names, not one string")
    if not classes:
        raise AnalysisError("combine_executions() needs at least one class")
    seen = {_check_class(value, CLASSES, "class") for value in classes}
    if len(seen) == 1:
        return seen.pop()
    if seen <= {FLAT, WARMUP}:
        return GOOD_INCONSISTENT
    return BAD_INCONSISTENT
