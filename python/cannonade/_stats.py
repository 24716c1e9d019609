"""Bootstrap confidence intervals for steady-state performance (pure Python).

API::

    @dataclass(frozen=True)
    class Estimate:
        mean: float     # mean of the group means
        low: float      # confidence interval (percentile bootstrap)
        high: float

    @dataclass(frozen=True)
    class Ratio:
        ratio: float        # candidate / baseline, of the means of group means
        low: float
        high: float
        significant: bool   # the interval excludes 1.0

    bootstrap_mean(groups: Sequence[Sequence[float]], *, confidence: float = 0.99,
                   resamples: int = 10_000, seed: Optional[int] = 0) -> Estimate
    compare(baseline: Sequence[Sequence[float]], candidate: Sequence[Sequence[float]], *,
            confidence: float = 0.99, resamples: int = 10_000,
            seed: Optional[int] = 0) -> Ratio

A *group* is one process execution's steady-state values, one per interval
(e.g. its requests/s from the steady start on).  The statistic is the mean of
the group means, so every execution weighs the same however many intervals it
has.  A bootstrap replicate resamples each group with replacement, keeping its
size ("resampled within segments"), and takes the mean of the resampled group
means; the interval is the percentile interval of the replicates (quantiles
``(1 − confidence) / 2`` and ``(1 + confidence) / 2``, linearly interpolated).
Groups are not resampled themselves, so the interval covers the noise within
executions, not differences between executions (which the warm-up
classification of each execution exposes instead).

A group of one value contributes that value to every replicate (no
variability).  :func:`compare` resamples both sides independently and reports
``candidate / baseline``: above 1 the candidate has the higher mean (faster
for throughput, slower for latency).  The same ``seed`` gives the same result;
``seed=None`` seeds from the operating system.  The interval always contains
the point estimate (it is widened to it in the rare case rounding or a very
skewed sample leaves it outside).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

from ._errors import AnalysisError, AnalysisTypeError

__all__ = ["Estimate", "Ratio", "bootstrap_mean", "compare"]


@dataclass(frozen=True)
class Estimate:
    """A mean of group means with its bootstrap confidence interval ``[low, high]``."""

    mean: float
    low: float
    high: float


@dataclass(frozen=True)
class Ratio:
    """``candidate / baseline`` with its bootstrap confidence interval.

    ``significant`` is True if the interval excludes 1.0.
    """

    ratio: float
    low: float
    high: float
    significant: bool


def _describe(value: object) -> str:
    return f"{type(value).__name__} {value!r}"


def _check_groups(name: str, groups: Sequence[Sequence[float]]) -> list[list[float]]:
    if isinstance(groups, (str, bytes)) or not isinstance(groups, Sequence):
        raise AnalysisTypeError(f"{name} must be a sequence of groups, got {_describe(groups)}")
    if not groups:
        raise AnalysisError(f"{name} has no groups")
    checked = []
    for position, group in enumerate(groups):
        where = f"{name}[{position}]"
        if isinstance(group, (str, bytes)) or not isinstance(group, Sequence):
            raise AnalysisTypeError(
                f"{where} must be a sequence of values (one group per execution), "
                f"got {_describe(group)}"
            )
        if not group:
            raise AnalysisError(f"{where} is empty")
        values = []
        for index, value in enumerate(group):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise AnalysisTypeError(
                    f"{where}[{index}] must be a number, got {_describe(value)}"
                )
            number = float(value)
            if not math.isfinite(number):
                raise AnalysisError(f"{where}[{index}] is not finite: {value!r}")
            values.append(number)
        checked.append(values)
    return checked


def _check_options(confidence: float, resamples: int, seed: Optional[int]) -> None:
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)):
        raise AnalysisTypeError(f"confidence must be a number, got {_describe(confidence)}")
    if not 0.0 < confidence < 1.0:
        raise AnalysisError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")
    if isinstance(resamples, bool) or not isinstance(resamples, int):
        raise AnalysisTypeError(f"resamples must be an integer, got {_describe(resamples)}")
    if resamples < 1:
        raise AnalysisError(f"resamples must be at least 1, got {resamples}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise AnalysisTypeError(f"seed must be an integer or None, got {_describe(seed)}")


def _mean_of_means(groups: Sequence[Sequence[float]]) -> float:
    return math.fsum(math.fsum(group) / len(group) for group in groups) / len(groups)


def _replicates(groups: Sequence[list[float]], resamples: int, rng: random.Random) -> list[float]:
    """``resamples`` bootstrap replicates of the mean of group means."""
    count = len(groups)
    fixed = math.fsum(group[0] for group in groups if len(group) == 1)
    varying = [(group, len(group)) for group in groups if len(group) > 1]
    choices = rng.choices
    replicates = []
    for _ in range(resamples):
        total = fixed
        for group, size in varying:
            total += sum(choices(group, k=size)) / size
        replicates.append(total / count)
    return replicates


def _interval(replicates: list[float], confidence: float) -> tuple[float, float]:
    """Percentile interval of the replicates, interpolating linearly."""
    ordered = sorted(replicates)
    tail = (1.0 - confidence) / 2.0

    def quantile(q: float) -> float:
        position = (len(ordered) - 1) * q
        low = int(position)
        if low + 1 >= len(ordered):
            return ordered[-1]
        return ordered[low] + (ordered[low + 1] - ordered[low]) * (position - low)

    return quantile(tail), quantile(1.0 - tail)


def bootstrap_mean(
    groups: Sequence[Sequence[float]],
    *,
    confidence: float = 0.99,
    resamples: int = 10_000,
    seed: Optional[int] = 0,
) -> Estimate:
    """The mean of the group means and its bootstrap confidence interval.

    See the module docstring for the resampling.
    """
    checked = _check_groups("groups", groups)
    _check_options(confidence, resamples, seed)
    replicates = _replicates(checked, resamples, random.Random(seed))
    low, high = _interval(replicates, confidence)
    mean = _mean_of_means(checked)
    # Rounding can put the interval a hair beside a degenerate mean.
    return Estimate(mean=mean, low=min(low, mean), high=max(high, mean))


def compare(
    baseline: Sequence[Sequence[float]],
    candidate: Sequence[Sequence[float]],
    *,
    confidence: float = 0.99,
    resamples: int = 10_000,
    seed: Optional[int] = 0,
) -> Ratio:
    """``candidate / baseline`` of the means of group means, with a bootstrap interval.

    ValueError if the baseline mean, or the mean of one of its replicates, is
    zero (the ratio is meant for positive quantities such as throughput or
    latency).
    """
    base = _check_groups("baseline", baseline)
    cand = _check_groups("candidate", candidate)
    _check_options(confidence, resamples, seed)
    base_mean = _mean_of_means(base)
    if base_mean == 0.0:
        raise AnalysisError("the baseline mean is zero; the ratio is undefined")
    rng = random.Random(seed)
    base_replicates = _replicates(base, resamples, rng)
    cand_replicates = _replicates(cand, resamples, rng)
    if any(value == 0.0 for value in base_replicates):
        raise AnalysisError(
            "a bootstrap replicate of the baseline has mean zero; use positive values"
        )
    ratios = [c / b for b, c in zip(base_replicates, cand_replicates)]
    low, high = _interval(ratios, confidence)
    ratio = _mean_of_means(cand) / base_mean
    low, high = min(low, ratio), max(high, ratio)
    return Ratio(ratio=ratio, low=low, high=high, significant=low > 1.0 or high < 1.0)
