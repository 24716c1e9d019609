"""Outliers and changepoints of one measurement series (pure Python, no numpy).

API::

    QUANTUM = 1e-3
    outliers(series: Sequence[float], window: int = 200, factor: float = 3.0,
             *, exempt_start: bool = True) -> list[bool]
    pelt(series: Sequence[float], penalty: Optional[float] = None,
         min_segment: int = 2, *, variance_floor: Optional[float] = None) -> list[int]
    default_penalty(n: int) -> float

Both follow Barrett et al., "Virtual Machine Warmup Blows Hot and Cold"
(OOPSLA 2017), whose parameters are the defaults.

Outliers (:func:`outliers`): point ``i`` is an outlier if it lies outside
``median ± factor × max(P90 − P10, QUANTUM × |median|)`` of its window.  The
window is ``window`` consecutive points, centred on ``i`` (indices
``i − window//2`` up to but excluding ``i − window//2 + window``) and shifted
so that it never runs off the series: near the end it is the last ``window``
points, and a series shorter than ``window`` is one window.  Percentiles
interpolate linearly between order statistics.  The band has a floor at the
quantisation step (see below) so that a series of mostly repeated values does
not turn every other value into an outlier.

With ``exempt_start`` (the default, as in Barrett et al.'s implementation) the
first ``window//2`` points, whose centred window would run off the start, are
never outliers: on a JIT they are the warm-up, and a short warm-up is exactly
what a median band would otherwise throw away before the changepoint analysis
could see it.  In particular a series of at most ``window//2`` points has no
outliers.  With ``exempt_start=False`` they are judged against the first
``window`` points.

Changepoints (:func:`pelt`): PELT (Killick, Fearnhead & Eckley 2012) with the
Normal mean-and-variance cost of R's ``changepoint::cpt.meanvar``: a segment
of ``n`` points costs ``n × (log 2π + log σ² + 1)``, ``σ²`` its maximum
likelihood variance; every changepoint costs ``penalty`` (default
``15 × log n``, :func:`default_penalty`); a segment has at least
``min_segment`` points.  The result is the optimal segmentation, the same as
exact dynamic programming without pruning would give (among equally good
ones, up to rounding, the one with the earliest last changepoint).

Variance floor: our values are quantised (latencies are HdrHistogram values at
3 significant digits), so segments of exactly repeated values have ``σ̂² = 0``
and ``log 0`` would split the series at every run of repeats.  The cost uses
``σ² = σ̂² + (QUANTUM² / 12) × (μ² + ε²)`` instead: ``QUANTUM² μ² / 12`` is the
variance of uniform rounding noise at a relative step of ``QUANTUM = 1e-3`` (an
upper bound of HdrHistogram's step at 3 significant digits), and
``ε = 1e-6 × max |x|`` keeps the cost finite for a segment whose mean is zero.
The floor is added rather than taken as a maximum because then splitting a
segment never raises its cost, which is what makes PELT's pruning exact.
The segment sums are exact (integer prefix sums of the values scaled to a
common power-of-two denominator), so a run of repeated values has a variance
of exactly 0 and the cost of a segment does not depend on rounding errors of
the rest of the series.  A constant series has no changepoints.

Absolute floor (``variance_floor``): for a series of logarithms (as
:mod:`cannonade._steady` analyses) the quantisation step is absolute, not
relative, so the cost uses ``σ² = σ̂² + variance_floor`` instead (the floor of
a log series rounded at ``QUANTUM`` is ``QUANTUM² / 12``).  Adding a constant
keeps splitting from raising a segment's cost (the log is concave and the
variance of a union is at least the weighted mean of its parts'), so the
pruning stays exact; and since the floor is far above the rounding error of
float prefix sums of the centred values, those sums are plain floats, several
times faster than exact ones.

Errors: bad input raises :class:`cannonade.AnalysisError` (a ``ValueError``)
or :class:`cannonade._errors.AnalysisTypeError` (also a ``TypeError``).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import Callable, Optional

from ._errors import AnalysisError, AnalysisTypeError

__all__ = ["QUANTUM", "default_penalty", "outliers", "pelt"]

#: Relative quantisation step of the measured values (HdrHistogram, 3 significant digits).
QUANTUM = 1e-3

_LOG_2PI_PLUS_1 = math.log(2.0 * math.pi) + 1.0
# Relative slack of the pruning test against rounding errors: prune only when
# clearly worse (a larger slack prunes less and stays exact).
_PRUNE_SLACK = 1e-9


def _describe(value: object) -> str:
    return f"{type(value).__name__} {value!r}"


def _finite_values(series: Sequence[float], name: str = "series") -> list[float]:
    """Return ``series`` as a list of floats; ValueError unless every value is finite."""
    if isinstance(series, (str, bytes)):
        raise AnalysisTypeError(f"{name} must be a sequence of numbers, got {_describe(series)}")
    values = []
    for index, value in enumerate(series):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise AnalysisTypeError(f"{name}[{index}] must be a number, got {_describe(value)}")
        number = float(value)
        if not math.isfinite(number):
            raise AnalysisError(f"{name}[{index}] is not finite: {value!r}")
        values.append(number)
    return values


def _check_int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise AnalysisTypeError(f"{name} must be an integer, got {_describe(value)}")
    if value < low:
        raise AnalysisError(f"{name} must be at least {low}, got {value}")
    return value


def _check_number(name: str, value: object) -> float:
    """A finite, non-negative number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise AnalysisTypeError(f"{name} must be a number, got {_describe(value)}")
    number = float(value)
    if not math.isfinite(number) or number < 0.0:
        raise AnalysisError(f"{name} must be finite and non-negative, got {value!r}")
    return number


def _quantile(ordered: Sequence[float], q: float) -> float:
    """Quantile ``q`` in [0, 1] of sorted values, interpolating linearly."""
    position = (len(ordered) - 1) * q
    low = int(position)
    if low + 1 >= len(ordered):
        return ordered[-1]
    fraction = position - low
    return ordered[low] + (ordered[low + 1] - ordered[low]) * fraction


def outliers(
    series: Sequence[float],
    window: int = 200,
    factor: float = 3.0,
    *,
    exempt_start: bool = True,
) -> list[bool]:
    """Flag the outliers of ``series``: one bool per point, True for an outlier.

    See the module docstring for the window and the band.
    """
    values = _finite_values(series)
    window = _check_int("window", window, 1)
    factor = _check_number("factor", factor)
    n = len(values)
    flags = [False] * n
    half = window // 2
    first = half if exempt_start else 0
    if first >= n:
        return flags
    width = min(window, n)

    def window_start(index: int) -> int:
        return min(max(index - half, 0), n - width)

    current = window_start(first)
    ordered = sorted(values[current : current + width])
    for index in range(first, n):
        start = window_start(index)
        while current < start:  # slide by one point: drop the oldest, add the next
            del ordered[bisect.bisect_left(ordered, values[current])]
            bisect.insort(ordered, values[current + width])
            current += 1
        median = _quantile(ordered, 0.5)
        spread = _quantile(ordered, 0.9) - _quantile(ordered, 0.1)
        band = factor * max(spread, QUANTUM * abs(median))
        if abs(values[index] - median) > band:
            flags[index] = True
    return flags


def _identity(value: int) -> int:
    return value


def default_penalty(n: int) -> float:
    """Barrett et al.'s penalty per changepoint for ``n`` points: ``15 × log n``."""
    return 15.0 * math.log(n) if n > 1 else 0.0


def pelt(
    series: Sequence[float],
    penalty: Optional[float] = None,
    min_segment: int = 2,
    *,
    variance_floor: Optional[float] = None,
) -> list[int]:
    """Changepoints of ``series``: the indices where new segments start, ascending.

    ``[]`` means one segment.  ``penalty`` defaults to :func:`default_penalty`
    of ``len(series)``.  A series shorter than ``2 × min_segment`` has no
    changepoints.  ``variance_floor`` (positive) replaces the relative
    quantisation floor by an absolute one, for series on a log scale (see the
    module docstring).
    """
    values = _finite_values(series)
    min_segment = _check_int("min_segment", min_segment, 1)
    n = len(values)
    beta = default_penalty(n) if penalty is None else _check_number("penalty", penalty)
    if variance_floor is not None:
        variance_floor = _check_number("variance_floor", variance_floor)
        if variance_floor <= 0.0:
            raise AnalysisError(f"variance_floor must be positive, got {variance_floor!r}")
    if n < 2 * min_segment:
        return []
    if variance_floor is not None:
        return _pelt_absolute_floor(values, beta, min_segment, variance_floor)

    # Scaling every value by the same power of two is exact and adds the same
    # constant to the cost of every segmentation, so it changes nothing but
    # keeps squares of large values finite.
    largest = max(abs(value) for value in values)
    if largest > 0.0:
        exponent = math.frexp(largest)[1]
        values = [math.ldexp(value, -exponent) for value in values]
        largest = math.ldexp(largest, -exponent)
    eps2 = (1e-6 * largest) ** 2 if largest > 0.0 else 1.0
    quant = QUANTUM * QUANTUM / 12.0

    # Exact prefix sums: every float is a dyadic rational, so scaled to a
    # common denominator the values are integers, and so are their sums and
    # each segment's m·Σx² − (Σx)².  Its variance is then correctly rounded
    # (exactly 0 for repeated values).
    ratios = [value.as_integer_ratio() for value in values]
    denominator = max(den for _, den in ratios)
    scaled = [num * (denominator // den) for num, den in ratios]
    sum1 = [0] * (n + 1)
    sum2 = [0] * (n + 1)
    total1 = total2 = 0
    for index, value in enumerate(scaled):
        total1 += value
        total2 += value * value
        sum1[index + 1] = total1
        sum2[index + 1] = total2
    mean_divisor: list[float] = [size * denominator for size in range(n + 1)]
    variance_divisor: list[float] = [divisor * divisor for divisor in mean_divisor]
    # Every numerator is at most n·Σx² (scaled).  If that and the divisors
    # fit a float, divide as floats (faster, and still 0 for repeated values);
    # otherwise as integers (correctly rounded, however large).
    exact: Callable[[int], float] = _identity
    if max((n * total2).bit_length(), variance_divisor[n].bit_length()) < 1000:
        exact = float
        mean_divisor = [float(divisor) for divisor in mean_divisor]
        variance_divisor = [float(divisor) for divisor in variance_divisor]
    return _search(
        n, beta, min_segment, sum1, sum2, mean_divisor, variance_divisor, exact, quant, quant * eps2
    )


def _pelt_absolute_floor(
    values: list[float], beta: float, min_segment: int, floor: float
) -> list[int]:
    """PELT with the cost ``n × (log 2π + log(σ̂² + floor) + 1)``, in floats.

    An absolute floor far above the rounding error of float prefix sums of
    centred values (about 1e-16 of their squares) makes exact sums needless.
    """
    n = len(values)
    centre = math.fsum(values) / n
    sum1 = [0.0] * (n + 1)
    sum2 = [0.0] * (n + 1)
    total1 = total2 = 0.0
    for index, value in enumerate(values):
        value -= centre
        total1 += value
        total2 += value * value
        sum1[index + 1] = total1
        sum2[index + 1] = total2
    inverse_squares = [0.0] + [1.0 / (size * size) for size in range(1, n + 1)]
    log = math.log
    constant = _LOG_2PI_PLUS_1
    best_cost = [0.0] * (n + 1)
    best_cost[0] = -beta
    last_change = [0] * (n + 1)
    leaves = [n + 1] * (n + 1)
    candidates = [0]
    # The search of _search, with the float arithmetic written out (about twice as
    # fast under CPython); see there for the pruning.
    for t in range(min_segment, n + 1):
        s1_t = sum1[t]
        s2_t = sum2[t]
        latest = t - min_segment
        totals = []
        best = math.inf
        best_tau = 0
        for tau in candidates:
            if tau > latest:
                break
            size = t - tau
            seg1 = s1_t - sum1[tau]
            variance = (size * (s2_t - sum2[tau]) - seg1 * seg1) * inverse_squares[size]
            if variance < 0.0:  # rounding of float sums
                variance = 0.0
            total = best_cost[tau] + size * (constant + log(variance + floor))
            totals.append(total)
            if total < best:
                best = total
                best_tau = tau
        optimum = best + beta
        best_cost[t] = optimum
        last_change[t] = best_tau
        bound = optimum + _PRUNE_SLACK * (1.0 + abs(optimum))
        leave = t + min_segment
        for tau, total in zip(candidates, totals):
            if total > bound and leaves[tau] > leave:
                leaves[tau] = leave
        following = t + 1
        candidates = [tau for tau in candidates if leaves[tau] > following]
        candidates.append(t)
    return _backtrack(last_change, n)


def _search(
    n: int,
    beta: float,
    min_segment: int,
    sum1: Sequence[float],
    sum2: Sequence[float],
    mean_divisor: Sequence[float],
    variance_divisor: Sequence[float],
    exact: Callable[[int], float],
    quant: float,
    floor: float,
) -> list[int]:
    """The PELT search over prefix sums: segment ``[τ, t)`` has variance
    ``(m·S2 − S1²) / m²`` (scaled by the divisors), floored by
    ``quant × mean² + floor``."""
    log = math.log
    constant = _LOG_2PI_PLUS_1
    best_cost = [0.0] * (n + 1)  # F(t): optimal cost of the first t points
    best_cost[0] = -beta
    last_change = [0] * (n + 1)  # start of the last segment in that optimum
    # Pruning: a candidate τ with F(τ) + C(τ, t) > F(t) can never be the last
    # changepoint before any T with T − t >= min_segment (the path through t is
    # admissible and cheaper, since C(τ, T) >= C(τ, t) + C(t, T)).  For
    # t < T < t + min_segment it still may be, so τ leaves at t + min_segment.
    leaves = [n + 1] * (n + 1)
    candidates = [0]
    for t in range(min_segment, n + 1):
        s1_t = sum1[t]
        s2_t = sum2[t]
        latest = t - min_segment
        totals = []
        best = math.inf
        best_tau = 0
        for tau in candidates:
            if tau > latest:
                break
            size = t - tau
            seg1 = s1_t - sum1[tau]
            mean = exact(seg1) / mean_divisor[size]
            variance = exact(size * (s2_t - sum2[tau]) - seg1 * seg1) / variance_divisor[size]
            if variance < 0.0:  # rounding of float sums
                variance = 0.0
            floored = variance + quant * mean * mean + floor
            total = best_cost[tau] + size * (constant + log(floored))
            totals.append(total)
            if total < best:
                best = total
                best_tau = tau
        optimum = best + beta
        best_cost[t] = optimum
        last_change[t] = best_tau
        bound = optimum + _PRUNE_SLACK * (1.0 + abs(optimum))
        leave = t + min_segment
        for tau, total in zip(candidates, totals):
            if total > bound and leaves[tau] > leave:
                leaves[tau] = leave
        following = t + 1
        candidates = [tau for tau in candidates if leaves[tau] > following]
        candidates.append(t)

    return _backtrack(last_change, n)


def _backtrack(last_change: Sequence[int], n: int) -> list[int]:
    """The changepoints of the optimum of the first ``n`` points, ascending."""
    changepoints = []
    t = n
    while t > 0:
        t = last_change[t]
        if t > 0:
            changepoints.append(t)
    changepoints.reverse()
    return changepoints
