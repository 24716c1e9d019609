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
        excluded: tuple[int, ...]         # left out as given (machine stalls), ascending

    analyse(series: Sequence[float], *, higher_is_better: bool, steady_window: int,
            delta: float = 0.001, penalty: Optional[float] = None,
            outlier_window: int = 200, min_effect: float = 0.1,
            penalty_factor: float = 6.0, min_segment: int = 4, guards: bool = True,
            max_halfwidth: Optional[float] = None,
            excluded: Sequence[int] = (), noise: Optional[Sequence[float]] = None,
            effect_sd: float = 1.0) -> SeriesAnalysis
    minimum_window(n: int, ...) -> int
    penalty_for(n: int, factor: float = 6.0) -> float
    combine(analyses: Sequence[SeriesAnalysis]) -> tuple[str, Optional[int]]
    combine_executions(classes: Sequence[str]) -> str

One series (:func:`analyse`), e.g. the throughput of one process execution,
one value per interval (of 100 ms by default in the benchmark driver: tens to
hundreds of values, where Barrett et al. had thousands of in-process
iterations):

0. The points at the indices ``excluded`` (in the driver: intervals in which the
   machine stalled the generator or the server, :mod:`cannonade._stalls`) are
   left out of everything below, and reported.
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

   A change must also be *resolved* against the noise (fail safe: what is not
   resolved is no level of the server). Two neighbouring segments stay apart
   only if they differ (the smaller of their means' and their medians' relative
   gaps: a busy spell of the machine inside a segment moves its mean, not its
   median) by at least the largest of ``min_effect``; ``effect_sd`` (1) robust
   standard deviations of the points, ``1.4826 × MAD / √2`` of the successive
   differences of the logs (so that a step, or the changes of an alternation, do
   not count as spread: they are a few of the differences); and the
   larger of the two segments' mean ``noise``, the relative noise floor the
   caller measured per point (in the driver: the run-queue wait of one wake-up
   of the generator's worker threads, over the interval's p50:
   :func:`cannonade._benchmark.noise_floor`; not the server's waits, which its
   own JIT threads cause while it warms up). The server's waits count another
   way (``delay``, per point: the share of a reply's time its threads waited in
   the run queue, :func:`cannonade._benchmark.server_delay`): each segment's
   level is also taken with its mean delay removed, and a change that is then
   no longer resolved is the machine slowing or freeing the server, not the
   server changing. Seen on this VM under load: a flat server's p50 at 6.6 ms
   for its first seconds and 5.3 ms after, called "warmup", while nothing the
   generator measured of itself had moved. A JIT's warm-up survives this: its
   compiler threads' share of a reply's time is a part of the change, not all
   of it (×2 to ×10).
   The same thresholds widen the equivalence band below and the finer-grain
   guard. Why one robust sd: levels closer than that overlap by more than 60 %
   of their points (Cohen's d < 1), and a chance split of white noise that PELT
   pays for at ``6 log n`` differs by about ``sqrt(6 log n / (n p (1 − p)))``
   sd, 1-1.5 sd at 40-100 points, while the ground-truth steps (×2.5) and the
   JIT warm-ups seen (×2-×10) are 3 to 20 sd at the noise of a loaded machine.
   Why the noise floor: a closed-loop reply waits for a wake-up of the
   generator before it is read, and on this shared 2-core VM with a CPU-bound
   process beside the benchmark that wait alone was 0.1-0.7 ms a wake-up
   (against 10-30 µs idle): a change of the measured latency by such an amount
   is the generator's, and its measure is taken beside it.

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
   otherwise (latency).  A short excursion that returns (a segment of fewer than
   8 points between two segments of one level) is taken as equivalent to the
   last, a transient of a busy machine rather than a level of the server, while
   such excursions cover at most 10 % of the series (or are one excursion): the
   reasons say so.
5. ``steady_start`` is the first index of the earliest segment from which on
   every segment is equivalent to the last (0 for ``FLAT``, None for
   ``NO_STEADY_STATE``).
6. Guards (``guards=True``), which fail safe: a series alternating or drifting
   at a period of a few intervals has no changepoint PELT can pay for, so a
   flat, warm-up or slowdown verdict also needs the steady window (the last
   ``steady_window`` points, at least 12, from ``steady_start`` on: in the
   driver, the measurement that gives the estimates) to show (a) no level shift at a finer
   grain (the same analysis of the steady part alone with 2-point segments;
   a segment whose neighbours on both sides are one level is an excursion
   that returns, not a shift, and is not counted while all those forgiven
   cover at most 10 % of the steady part, or are one spike or dip of up to 3
   points), (b) no
   alternation: no autocorrelation of the logs, at lags 1 to min(10, m / 3),
   below −max(0.3, 3 / √m), and, when ``max_halfwidth`` is given, (c) a tight
   mean: the relative half-width of its 99 % bootstrap interval (1,000
   resamples, seed 0) at most ``max_halfwidth``.  Otherwise the verdict is
   ``NO_STEADY_STATE``, as it is when excluded points leave fewer than 9 of a
   window of 12 or more (from 9 on, the checks are made on what is left).
   Every verdict carries its ``reasons``: the deciding one first, then the
   checks.

   Why (b) asks for a negative autocorrelation and not for no correlation at
   all (a Ljung-Box test, before): on a shared machine the scheduler's share
   wanders over seconds, and 100 ms intervals are positively correlated
   (ρ₁ ≈ 0.5, decaying: measured on the PyPy echo server on a 2-core VM with
   a load average of 7-17), which a significance test on 200 points always
   rejects; an alternation of period P gives ρ ≈ −0.3 to −1 at lag P / 2
   (×1.25 every 4 intervals at σ = 0.1: −0.52; ×2 every 4 at σ = 0.25:
   −0.66), and white noise |ρ| ≈ 1 / √m.  A drift is PELT's (a staircase),
   and the driver's re-measurement catches one that goes on.

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
import statistics
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
#: Alternation test of the steady part: lags tested (at most), the least negative
#: autocorrelation that counts, and its significance (in standard errors, 1/sqrt(m)).
ALTERNATION_LAGS, ALTERNATION_RHO, ALTERNATION_Z = 10, 0.3, 3.0
#: Returning excursions longer than MIN_SEGMENT that the finer-grain check forgives,
#: as a share of the steady window.
EXCURSION_SHARE = 0.1
#: Fewest steady points on which the finer-grain checks are made.
GUARD_MIN_POINTS = 12
#: Fewest points a window of GUARD_MIN_POINTS or more may keep after its stalls.
STALLED_MIN_POINTS = 9
#: Relative half-width of the steady mean's 99 % bootstrap interval, at most.
MAX_HALFWIDTH = 0.1
#: A change of level must exceed this many robust standard deviations of the points.
EFFECT_SD = 1.0


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
    #: Indices left out as the caller asked (machine stalls), ascending.
    excluded: tuple[int, ...] = ()


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


def _per_point(values: Optional[Sequence[float]], name: str, n: int) -> Optional[list[float]]:
    """``values`` checked to give one finite value >= 0 per point of a series of ``n``."""
    if values is None:
        return None
    checked = _finite_values(values, name)
    if len(checked) != n or min(checked, default=0.0) < 0.0:
        raise AnalysisError(
            f"{name} must give one value >= 0 per point of the series ({n}), got {len(checked)}"
        )
    return checked


def _segment_noise(noise: Optional[Sequence[float]], a: int, b: int) -> float:
    """Mean relative noise floor of points ``a`` up to ``b`` (0 when none is known)."""
    if noise is None or b <= a:
        return 0.0
    return math.fsum(noise[a:b]) / (b - a)


def _robust_sigma(values: Sequence[float]) -> float:
    """The series' own variability: a robust per-point standard deviation of the logs,
    from their successive differences (1.4826 × the median absolute difference, over
    √2), which level changes do not inflate: a step, or every change of an alternation
    of period 8, is one difference in four or fewer."""
    logs = _logs(values)
    if len(logs) < 3:
        return 0.0
    differences = [abs(b - a) for a, b in zip(logs, logs[1:])]
    return 1.4826 * statistics.median(differences) / math.sqrt(2.0)


def _bounds(
    values: Sequence[float],
    *,
    factor: float,
    min_segment: int,
    min_effect: float,
    penalty: Optional[float] = None,
    noise: Optional[Sequence[float]] = None,
    effect_sd: float = 0.0,
    spread: Optional[float] = None,
    notes: Optional[list[tuple[int, str]]] = None,
    delay: Optional[Sequence[float]] = None,
    higher_is_better: bool = True,
) -> tuple[list[int], float]:
    """Segment bounds of ``values`` (0, changepoints..., len): PELT on the logs, then
    neighbours whose means differ by less than what resolves a level merged, the
    least resolved pair first. A pair must differ by ``min_effect``, by ``effect_sd``
    robust standard deviations of the points (:func:`_robust_sigma`) and by the
    larger of the two segments' mean relative ``noise`` (the machine's and the
    generator's own, per point); and, when ``delay`` is given (per point, the share of
    a reply's time the machine made the server wait: its threads' run-queue wait), by
    as much again once each segment's mean delay is taken out of it (the machine
    slowing or freeing the server is no change of the server). ``notes`` gets a line
    per merge that only the noise, the spread or the delay required (its position, and
    a text with ``{at}`` for the interval). Returns the bounds and the spread that
    ``effect_sd`` asked for (relative)."""
    n = len(values)
    beta = penalty_for(n, factor) if penalty is None else penalty
    bounds = [0, *pelt(_logs(values), beta, min_segment, variance_floor=LOG_FLOOR), n]
    if spread is None:
        spread = math.expm1(effect_sd * _robust_sigma(values)) if len(bounds) > 2 else 0.0
    while len(bounds) > 2:
        # Two segments differ by the smaller of their means' and their medians' gaps: a
        # busy spell of the machine inside a segment moves its mean, not its median.
        means = [math.fsum(values[a:b]) / (b - a) for a, b in zip(bounds, bounds[1:])]
        medians = [statistics.median(values[a:b]) for a, b in zip(bounds, bounds[1:])]
        gaps = [
            min(_relative(means[k], means[k + 1]), _relative(medians[k], medians[k + 1]))
            for k in range(len(means) - 1)
        ]
        floors = [_segment_noise(noise, a, b) for a, b in zip(bounds, bounds[1:])]
        needed = [max(min_effect, spread, floors[k], floors[k + 1]) for k in range(len(gaps))]
        # The gaps once the machine's delay of the server's replies is taken out of
        # each segment (latency less the delay; throughput, closed loop, as if replies
        # came that much sooner): a change that this leaves below the threshold is the
        # machine's, whichever way it went.
        remaining = gaps
        if delay is not None:
            shares = [min(_segment_noise(delay, a, b), 0.9) for a, b in zip(bounds, bounds[1:])]
            corrected = [
                mean / (1.0 - share) if higher_is_better else mean * (1.0 - share)
                for mean, share in zip(means, shares)
            ]
            remaining = [
                min(gaps[k], _relative(corrected[k], corrected[k + 1])) for k in range(len(gaps))
            ]
        ratios = [remaining[k] / needed[k] if needed[k] > 0 else math.inf for k in range(len(gaps))]
        closest = min(range(len(ratios)), key=ratios.__getitem__)
        if ratios[closest] >= 1.0:
            break
        gap = gaps[closest]
        if notes is not None and gap >= min_effect:
            floor = max(floors[closest], floors[closest + 1])
            if gap >= needed[closest]:
                why = (
                    f"what the machine took accounts for it (the server's run-queue "
                    f"waits, the generator's idle connections; {remaining[closest]:.0%} "
                    f"without them)"
                )
            elif floor >= spread:
                why = f"within the generator's own noise (±{floor:.0%})"
            else:
                why = f"within {effect_sd:g} robust sd of the points (±{spread:.0%})"
            text = f"a change of {gap:.0%} at interval {{at}} not counted: {why}"
            notes.append((bounds[closest + 1], text))
        del bounds[closest + 1]
    return bounds, spread


def _autocorrelations(values: Sequence[float]) -> list[float]:
    """Autocorrelations of the logs of ``values`` at lags 1 .. min(10, m // 3)."""
    logs = _logs(values)
    m = len(logs)
    lags = max(1, min(ALTERNATION_LAGS, m // 3))
    mean = math.fsum(logs) / m
    centred = [x - mean for x in logs]
    denominator = math.fsum(x * x for x in centred)
    # Variation below the quantisation step (a constant series, up to rounding of its
    # mean) is no pattern.
    if denominator <= m * LOG_FLOOR:
        return [0.0] * lags
    return [
        math.fsum(a * b for a, b in zip(centred, centred[k:])) / denominator
        for k in range(1, lags + 1)
    ]


def _alternation(values: Sequence[float]) -> tuple[int, float, float]:
    """The lag of the most negative autocorrelation of the logs, that autocorrelation,
    and the limit below which it is an alternation."""
    rhos = _autocorrelations(values)
    lag = min(range(len(rhos)), key=rhos.__getitem__)
    limit = -max(ALTERNATION_RHO, ALTERNATION_Z / math.sqrt(len(values)))
    return lag + 1, rhos[lag], limit


def _drop_excursions(values: Sequence[float], bounds: list[int], *, min_effect: float) -> None:
    """Remove from ``bounds`` the excursions that return: segments whose neighbours on
    both sides are one level (within ``min_effect``), shortest first, while all those
    removed cover at most EXCURSION_SHARE of the points, or one excursion shorter than
    MIN_SEGMENT (a machine's busy spell or a spike, not a recurring change: an
    alternation's excursions cover half of the points)."""
    budget = max(EXCURSION_SHARE * len(values), MIN_SEGMENT - 1.0)
    while len(bounds) > 3:
        means = [math.fsum(values[a:b]) / (b - a) for a, b in zip(bounds, bounds[1:])]
        returning = [
            k
            for k in range(1, len(means) - 1)
            if _relative(means[k - 1], means[k + 1]) < min_effect
        ]
        if not returning:
            return
        k = min(returning, key=lambda k: bounds[k + 1] - bounds[k])
        length = bounds[k + 1] - bounds[k]
        if length > budget:
            return
        budget -= length
        del bounds[k : k + 2]


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
    effects: Optional[Sequence[float]] = None,
    levels: Optional[Sequence[float]] = None,
) -> tuple[str, Optional[int], list[str]]:
    """``effects``: per segment, the least relative difference from the last segment
    that resolves a level (noise floors and the series' spread; default ``min_effect``);
    ``levels``: the segments' medians, compared instead of their means when given."""
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
    bands = [max(band, effect) for effect in (effects or [min_effect] * len(segments))]
    means = [segment.mean for segment in segments]
    level = list(levels) if levels is not None else means

    def apart(j: int, k: int) -> float:  # the smaller of the means' and medians' gaps
        return min(_relative(means[j], means[k]), _relative(level[j], level[k]))

    equivalent = [apart(k, -1) <= bands[k] for k in range(len(segments))]
    # A short excursion that returns (a segment of fewer than 2 x MIN_SEGMENT points
    # between two segments of one level) is a transient of the machine, not a level of
    # the server: forgiven, shortest first, while they cover at most EXCURSION_SHARE
    # of the series (or are one such excursion).
    forgiven = []
    budget = max(EXCURSION_SHARE * (segments[-1].end - segments[0].start), 2 * MIN_SEGMENT - 1)
    transients = sorted(
        (
            k
            for k in range(1, len(segments) - 1)
            if not equivalent[k]
            and segments[k].end - segments[k].start < 2 * MIN_SEGMENT
            and apart(k - 1, k + 1) <= max(bands[k - 1], bands[k + 1])
        ),
        key=lambda k: segments[k].end - segments[k].start,
    )
    for k in transients:
        length_k = segments[k].end - segments[k].start
        if length_k > budget:
            break
        budget -= length_k
        equivalent[k] = True
        forgiven.append(k)
    notes = [
        f"short excursion at intervals {segments[k].start}-{segments[k].end - 1} "
        f"({segments[k].mean:.4g}) forgiven: it returned to the level around it"
        for k in sorted(forgiven)
    ]
    first_steady = len(segments) - 1
    while first_steady > 0 and equivalent[first_steady - 1]:
        first_steady -= 1
    steady_start = segments[first_steady].start
    if all(equivalent):
        if len(segments) == 1:
            why = f"no changepoint in {length} intervals"
        else:
            why = f"every segment within {max(bands):.0%} of the last"
        return FLAT, steady_start, [why, *notes]
    left = next(k for k in range(first_steady) if not equivalent[k])
    for k in range(left):
        if equivalent[k]:
            segment = segments[k]
            why = (
                f"the final level ({last.mean:.4g}) was already reached at intervals "
                f"{segment.start}-{segment.end - 1} and lost again: a recurring change"
            )
            return NO_STEADY_STATE, None, [why, *notes]
    for segment, same in zip(segments, equivalent):
        if not same and (
            segment.mean > last.mean if higher_is_better else segment.mean < last.mean
        ):
            why = (
                f"intervals {segment.start}-{segment.end - 1} were better "
                f"({segment.mean:.4g} against {last.mean:.4g} at the end)"
            )
            return SLOWDOWN, steady_start, [why, *notes]
    worst = segments[0]
    why = (
        f"level changed from {worst.mean:.4g} to {last.mean:.4g} "
        f"(×{last.mean / worst.mean if worst.mean else math.inf:.3g}); steady from interval "
        f"{steady_start}, {last.end - steady_start} intervals"
    )
    return WARMUP, steady_start, [why, *notes]


def _guards(
    values: Sequence[float],
    indices: Sequence[int],
    window_from: int,
    *,
    factor: float,
    min_effect: float,
    max_halfwidth: Optional[float],
    least: int = GUARD_MIN_POINTS,
    noise: Optional[Sequence[float]] = None,
    spread: float = 0.0,
) -> tuple[list[str], list[str], Optional[float]]:
    """Checks of the steady window at a finer grain: (failures, passes, half-width).

    ``values`` are the steady part's points (from the steady start on), ``indices``
    their original indices; the window is those from ``window_from`` on. The steady
    part before the window is the context in which an excursion at the window's
    start is seen to return."""
    failed: list[str] = []
    passed: list[str] = []
    steady = [v for v, index in zip(values, indices) if index >= window_from]
    m = len(steady)
    if m < least:
        return failed, [f"steady window of {m} intervals: too short for finer checks"], None
    fine, _ = _bounds(
        values, factor=factor, min_segment=2, min_effect=min_effect, noise=noise, spread=spread
    )
    _drop_excursions(values, fine, min_effect=max(min_effect, spread))
    shifts = [indices[b] for b in fine[1:-1] if indices[b] >= window_from]
    if shifts:
        at = ", ".join(str(index) for index in shifts)
        failed.append(f"level shifts inside the steady window at a finer grain (at {at})")
    else:
        passed.append("no level shift at a finer grain")
    lag, rho, limit = _alternation(steady)
    if rho < limit:
        failed.append(
            f"the steady window alternates: autocorrelation {rho:.2f} at lag {lag} "
            f"(limit {limit:.2f})"
        )
    else:
        passed.append(f"no alternation (autocorrelation at least {rho:.2f}, limit {limit:.2f})")
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
    excluded: Sequence[int] = (),
    noise: Optional[Sequence[float]] = None,
    effect_sd: float = EFFECT_SD,
    delay: Optional[Sequence[float]] = None,
) -> SeriesAnalysis:
    """Outliers, changepoints, segments and warm-up class of one series.

    ``steady_window`` is the number of points the last segment needs for a
    steady state; ``delta`` the relative equivalence tolerance; ``penalty``
    per changepoint (default ``penalty_factor × log n``); ``outlier_window``
    the window of the outlier filter; ``min_effect`` the smallest relative
    change of level that counts; ``guards`` the finer-grain checks of the
    steady part, with ``max_halfwidth`` its tightness (None: not checked);
    ``excluded`` the indices to leave out (at least one point must remain);
    ``noise`` per point, the relative noise floor that the machine and the generator
    add (0.3: 30 % of the value), and ``effect_sd`` the robust standard deviations of
    the points a level change must exceed (see the module docstring); ``delay`` per
    point, the share of the value the machine took (the server's run-queue waits over
    the interval's median latency; for a closed loop's throughput, the connections left
    idle too): a level change that is not resolved once each segment's mean share is
    taken out of it is the machine's and not counted.
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
    effect_sd = _check_number("effect_sd", effect_sd)
    n = len(values)
    floors = _per_point(noise, "noise", n)
    delays = _per_point(delay, "delay", n)
    left_out = set()
    for index in excluded:
        index = _check_int("excluded index", index, 0)
        if index >= n:
            raise AnalysisError(f"excluded index {index} is beyond the series of {n} points")
        left_out.add(index)
    candidates = [index for index in range(n) if index not in left_out]
    if not candidates:
        raise AnalysisError(f"every one of the {n} points is excluded; nothing to analyse")
    flags = [False] * n
    for index, flag in zip(
        candidates, outliers([values[index] for index in candidates], outlier_window)
    ):
        flags[index] = flag
    kept = [index for index in candidates if not flags[index]]
    if not kept:  # cannot happen with a median band; keep everything rather than fail
        kept = candidates
    kept_values = [values[index] for index in kept]
    kept_noise = [floors[index] for index in kept] if floors is not None else None
    kept_delays = [delays[index] for index in kept] if delays is not None else None
    merged: list[tuple[int, str]] = []
    bounds, spread = _bounds(
        kept_values,
        factor=penalty_factor,
        min_segment=min_segment,
        min_effect=min_effect,
        penalty=penalty,
        noise=kept_noise,
        effect_sd=effect_sd,
        notes=merged,
        delay=kept_delays,
        higher_is_better=higher_is_better,
    )
    starts = [0]
    for bound in bounds[1:-1]:
        # The change lies after the last kept point before it; over a stretch of
        # excluded points (a stall) it is not known where: the middle is taken.
        start, before = kept[bound], kept[bound - 1] + 1
        while start > before and start - 1 in left_out:
            start -= 1
        starts.append((start + kept[bound]) // 2)
    ends = [*starts[1:], n]
    segments = []
    for number, (start, end) in enumerate(zip(starts, ends)):
        mean, variance = _mean_variance(kept_values[bounds[number] : bounds[number + 1]])
        segments.append(Segment(start, end, mean, variance))
    seg_noise = [_segment_noise(kept_noise, a, b) for a, b in zip(bounds, bounds[1:])]
    classification, steady_start, reasons = _classify(
        segments,
        higher_is_better=higher_is_better,
        steady_window=steady_window,
        delta=delta,
        min_effect=min_effect,
        effects=[max(min_effect, spread, floor, seg_noise[-1]) for floor in seg_noise],
        levels=[statistics.median(kept_values[a:b]) for a, b in zip(bounds, bounds[1:])],
    )
    reasons.extend(text.format(at=kept[position]) for position, text in merged)
    if left_out:
        reasons.append(f"{len(left_out)} of {n} intervals left out: the machine stalled them")
    halfwidth = None
    if guards and steady_start is not None:
        # The window that must hold no changepoint (the measurement, in the driver).
        checked_from = max(steady_start, n - max(steady_window, GUARD_MIN_POINTS))
        context = [index for index in kept if index >= steady_start]
        in_window = sum(1 for index in context if index >= checked_from)
        # A window long enough to check keeps being checked when stalls shortened it,
        # on what is left, down to STALLED_MIN_POINTS; below that it is refused.
        checkable = n - checked_from >= GUARD_MIN_POINTS
        least = STALLED_MIN_POINTS if checkable else GUARD_MIN_POINTS
        failed, passed, halfwidth = _guards(
            [values[index] for index in context],
            context,
            checked_from,
            factor=penalty_factor,
            min_effect=min_effect,
            max_halfwidth=max_halfwidth,
            least=least,
            noise=[floors[index] for index in context] if floors is not None else None,
            spread=spread,
        )
        if checkable and in_window < STALLED_MIN_POINTS:
            failed.insert(
                0,
                f"only {in_window} of the steady window's {n - checked_from} intervals "
                f"are left after the stalls: too few to check ({STALLED_MIN_POINTS} needed)",
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
        excluded=tuple(sorted(left_out)),
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
