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

    analyse(series: Sequence[float], *, higher_is_better: bool, steady_window: int,
            delta: float = 0.001, penalty: Optional[float] = None,
            outlier_window: int = 200) -> SeriesAnalysis
    combine(analyses: Sequence[SeriesAnalysis]) -> tuple[str, Optional[int]]
    combine_executions(classes: Sequence[str]) -> str

One series (:func:`analyse`), e.g. the throughput of one process execution,
one value per interval:

1. Outliers are found with :func:`cannonade._changepoint.outliers` (window
   ``outlier_window``).  They are left out of everything below but reported.
2. Changepoints of the remaining points are found with
   :func:`cannonade._changepoint.pelt` (``penalty`` defaults to ``15 × log n``,
   ``n`` the number of non-outlier points; segments of at least 2 points) and
   mapped back to original indices.  A segment runs from its first
   non-outlier point to the next segment's first point, so outliers belong to
   the segment they lie in; the first segment starts at 0 and the last ends
   at ``len(series)``.
3. Each segment is compared with the last one.  Barrett et al. call a segment
   *equivalent* to the last if its mean lies within the last segment's mean
   ± max(variance of the last segment, delta), with times in seconds and
   delta = 0.001 s.  Our series have other units (requests/s, nanoseconds), so
   the rule is applied to the series divided by the last segment's mean:
   ``|mean − last.mean| / |last.mean| <= max(last.variance / last.mean², delta)``
   with a relative ``delta`` (default 0.001, i.e. 0.1 %).  If the last mean is
   0 the absolute values are used.
4. Classification, in this order:

   * ``NO_STEADY_STATE``: the last segment is shorter than ``steady_window``
     points (a changepoint lies after index ``len(series) − steady_window``;
     a series shorter than ``steady_window`` never reaches a steady state);
   * ``FLAT``: no changepoint, or every segment is equivalent to the last;
   * ``SLOWDOWN``: some segment that is not equivalent to the last is better
     than it;
   * ``WARMUP``: otherwise (the last segment is the best of the segments that
     are not equivalent to it).

   "Better" is a higher mean if ``higher_is_better`` (throughput), a lower one
   otherwise (latency).
5. ``steady_start`` is the first index of the earliest segment from which on
   every segment is equivalent to the last (0 for ``FLAT``, None for
   ``NO_STEADY_STATE``).

Several metrics of one execution (:func:`combine`): the worst class wins, in
the order no steady state, slowdown, warm-up, flat; the steady start is the
latest of the metrics' steady starts (None if there is no steady state).

Several process executions (:func:`combine_executions`): if all have the same
class, that class; a mix of only flat and warm-up is ``GOOD_INCONSISTENT``;
any other mix is ``BAD_INCONSISTENT``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

from ._changepoint import _check_int, _check_number, _finite_values, outliers, pelt

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


def _mean_variance(values: Sequence[float]) -> tuple[float, float]:
    mean = math.fsum(values) / len(values)
    return mean, math.fsum((value - mean) ** 2 for value in values) / len(values)


def _classify(
    segments: Sequence[Segment],
    *,
    higher_is_better: bool,
    steady_window: int,
    delta: float,
) -> tuple[str, Optional[int]]:
    last = segments[-1]
    if last.end - last.start < steady_window:
        return NO_STEADY_STATE, None
    scale = abs(last.mean) if last.mean != 0.0 else 1.0
    band = max(last.variance / (scale * scale), delta)
    equivalent = [abs(segment.mean - last.mean) / scale <= band for segment in segments]
    first_steady = len(segments) - 1
    while first_steady > 0 and equivalent[first_steady - 1]:
        first_steady -= 1
    steady_start = segments[first_steady].start
    if all(equivalent):
        return FLAT, steady_start
    for segment, same in zip(segments, equivalent):
        if not same and (
            segment.mean > last.mean if higher_is_better else segment.mean < last.mean
        ):
            return SLOWDOWN, steady_start
    return WARMUP, steady_start


def analyse(
    series: Sequence[float],
    *,
    higher_is_better: bool,
    steady_window: int,
    delta: float = 0.001,
    penalty: Optional[float] = None,
    outlier_window: int = 200,
) -> SeriesAnalysis:
    """Outliers, changepoints, segments and warm-up class of one series.

    ``steady_window`` is the number of points the last segment needs for a
    steady state; ``delta`` the relative equivalence tolerance;
    ``penalty`` per changepoint (default ``15 × log n``); ``outlier_window``
    the window of the outlier filter.  See the module docstring.
    """
    values = _finite_values(series)
    if not values:
        raise ValueError("series is empty")
    if not isinstance(higher_is_better, bool):
        raise TypeError(f"higher_is_better must be a bool, got {higher_is_better!r}")
    steady_window = _check_int("steady_window", steady_window, 0)
    delta = _check_number("delta", delta)
    n = len(values)
    flags = outliers(values, outlier_window)
    kept = [index for index, flag in enumerate(flags) if not flag]
    if not kept:  # cannot happen with a median band; keep everything rather than fail
        kept = list(range(n))
    kept_values = [values[index] for index in kept]
    bounds = [0, *pelt(kept_values, penalty), len(kept_values)]
    starts = [0] + [kept[bound] for bound in bounds[1:-1]]
    ends = [*starts[1:], n]
    segments = []
    for number, (start, end) in enumerate(zip(starts, ends)):
        mean, variance = _mean_variance(kept_values[bounds[number] : bounds[number + 1]])
        segments.append(Segment(start, end, mean, variance))
    classification, steady_start = _classify(
        segments,
        higher_is_better=higher_is_better,
        steady_window=steady_window,
        delta=delta,
    )
    return SeriesAnalysis(
        classification=classification,
        changepoints=tuple(starts[1:]),
        segments=tuple(segments),
        outliers=tuple(index for index, flag in enumerate(flags) if flag),
        steady_start=steady_start,
    )


def _check_class(value: object, allowed: Sequence[str], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(allowed)}")
    return str(value)


def combine(analyses: Sequence[SeriesAnalysis]) -> tuple[str, Optional[int]]:
    """One class and steady start from several metrics of one execution.

    The worst class wins (no steady state, slowdown, warm-up, flat); the
    steady start is the latest one, or None without a steady state.
    """
    if not analyses:
        raise ValueError("combine() needs at least one analysis")
    classes = [_check_class(a.classification, CLASSES, "classification") for a in analyses]
    worst = max(classes, key=CLASSES.index)
    if worst == NO_STEADY_STATE:
        return worst, None
    starts = [a.steady_start for a in analyses]
    if any(start is None for start in starts):
        raise ValueError("an analysis with a steady state has steady_start None")
    return worst, max(start for start in starts if start is not None)


def combine_executions(classes: Sequence[str]) -> str:
    """One class from the classes of several process executions (Barrett et al.).

    All the same: that class; only flat and warm-up: ``GOOD_INCONSISTENT``;
    otherwise ``BAD_INCONSISTENT``.
    """
    if isinstance(classes, str):
        raise TypeError("classes must be a sequence of class names, not one string")
    if not classes:
        raise ValueError("combine_executions() needs at least one class")
    seen = {_check_class(value, CLASSES, "class") for value in classes}
    if len(seen) == 1:
        return seen.pop()
    if seen <= {FLAT, WARMUP}:
        return GOOD_INCONSISTENT
    return BAD_INCONSISTENT
