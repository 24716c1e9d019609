"""Bootstrap confidence intervals of steady-state means and of their ratio."""

from __future__ import annotations

import dataclasses
import math
import random
import typing

import pytest

from cannonade._stats import Estimate, Ratio, bootstrap_mean, compare


def groups_of(
    rng: random.Random, mean: float, sd: float, count: int = 5, size: int = 30
) -> list[list[float]]:
    return [[rng.gauss(mean, sd) for _ in range(size)] for _ in range(count)]


def test_estimate_is_the_mean_of_group_means() -> None:
    groups = [[1.0, 2.0, 3.0], [10.0] * 7, [4.0, 6.0]]
    estimate = bootstrap_mean(groups, resamples=2000)
    assert estimate.mean == pytest.approx((2.0 + 10.0 + 5.0) / 3)
    assert estimate.low <= estimate.mean <= estimate.high
    # The replicates' extremes bound the interval: group 1 lies in [1, 3] and group 3 in [4, 6].
    assert (1.0 + 10.0 + 4.0) / 3 <= estimate.low
    assert estimate.high <= (3.0 + 10.0 + 6.0) / 3


def test_interval_narrows_with_data_and_widens_with_confidence() -> None:
    rng = random.Random(1)
    small = bootstrap_mean(groups_of(rng, 100.0, 5.0, count=3, size=10), resamples=4000)
    large = bootstrap_mean(groups_of(rng, 100.0, 5.0, count=10, size=100), resamples=4000)
    assert large.high - large.low < small.high - small.low
    groups = groups_of(rng, 100.0, 5.0)
    narrow = bootstrap_mean(groups, confidence=0.5, resamples=4000)
    wide = bootstrap_mean(groups, confidence=0.99, resamples=4000)
    assert wide.low < narrow.low < narrow.high < wide.high


def test_coverage() -> None:
    # The 99 % interval should contain the true mean almost every time.
    rng = random.Random(2)
    hits = 0
    for trial in range(40):
        estimate = bootstrap_mean(groups_of(rng, 100.0, 5.0), resamples=2000, seed=trial)
        hits += estimate.low <= 100.0 <= estimate.high
    assert hits >= 37
    # ... and a half-width close to the normal approximation (z = 2.576).
    estimate = bootstrap_mean(groups_of(rng, 100.0, 5.0))
    expected = 2.576 * 5.0 / math.sqrt(30) / math.sqrt(5)
    assert (estimate.high - estimate.low) / 2 == pytest.approx(expected, rel=0.15)


def test_seed() -> None:
    groups = groups_of(random.Random(3), 100.0, 5.0)
    assert bootstrap_mean(groups, resamples=999, seed=7) == bootstrap_mean(
        groups, resamples=999, seed=7
    )
    assert bootstrap_mean(groups, resamples=999, seed=7) != bootstrap_mean(
        groups, resamples=999, seed=8
    )
    assert bootstrap_mean(groups, resamples=999, seed=None).low < bootstrap_mean(groups).high


def test_degenerate_groups() -> None:
    assert bootstrap_mean([[5.0]]) == Estimate(5.0, 5.0, 5.0)
    assert bootstrap_mean([[1.0], [3.0]]) == Estimate(2.0, 2.0, 2.0)
    assert bootstrap_mean([[2.5] * 30] * 4) == Estimate(2.5, 2.5, 2.5)
    # One-value groups add no variability, but still count as a group.
    mixed = bootstrap_mean([[0.0, 10.0], [5.0]], resamples=1000)
    assert mixed.mean == 5.0
    assert (mixed.low, mixed.high) == (2.5, 7.5)


def test_compare_clearly_different() -> None:
    rng = random.Random(5)
    baseline = groups_of(rng, 1000.0, 30.0)
    candidate = groups_of(rng, 1100.0, 30.0)
    result = compare(baseline, candidate)
    assert result.significant
    assert result.ratio == pytest.approx(1.1, abs=0.01)
    assert 1.0 < result.low < result.ratio < result.high
    reverse = compare(candidate, baseline)
    assert reverse.significant and reverse.high < 1.0
    assert reverse.ratio == pytest.approx(1 / result.ratio)


def test_compare_same_distribution() -> None:
    rng = random.Random(6)
    baseline = groups_of(rng, 1000.0, 30.0)
    same = compare(baseline, baseline)
    assert same.ratio == 1.0 and not same.significant
    assert same.low < 1.0 < same.high
    independent = compare(baseline, groups_of(rng, 1000.0, 30.0))
    assert not independent.significant
    assert independent.low < 1.0 < independent.high


def test_compare_small_difference_needs_data() -> None:
    rng = random.Random(7)
    few = compare(groups_of(rng, 1000.0, 50.0, 2, 5), groups_of(rng, 1010.0, 50.0, 2, 5))
    assert not few.significant
    baseline = groups_of(rng, 1000.0, 50.0, 10, 100)
    many = compare(baseline, groups_of(rng, 1010.0, 50.0, 10, 100), resamples=2000)
    assert many.significant


def test_compare_degenerate() -> None:
    assert compare([[2.0]], [[3.0]]) == Ratio(1.5, 1.5, 1.5, True)
    assert compare([[2.0, 2.0]], [[2.0]]) == Ratio(1.0, 1.0, 1.0, False)


@pytest.mark.parametrize(
    ("groups", "error", "message"),
    [
        ([], ValueError, "no groups"),
        ([[1.0], []], ValueError, r"\[1\] is empty"),
        ([[1.0, math.nan]], ValueError, "not finite"),
        ([[math.inf]], ValueError, "not finite"),
        ([1.0, 2.0], TypeError, "one group per execution"),
        ("abc", TypeError, "sequence of groups"),
        ([[1.0, "2"]], TypeError, "number"),
    ],
)
def test_invalid_groups(groups: typing.Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        bootstrap_mean(groups)
    with pytest.raises(error, match=message):
        compare([[1.0]], groups)


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"confidence": 0.0}, ValueError),
        ({"confidence": 1.0}, ValueError),
        ({"confidence": 95}, ValueError),
        ({"resamples": 0}, ValueError),
        ({"resamples": 10.0}, TypeError),
        ({"seed": 1.5}, TypeError),
    ],
)
def test_invalid_options(options: dict[str, typing.Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        bootstrap_mean([[1.0, 2.0]], **options)
    with pytest.raises(error):
        compare([[1.0, 2.0]], [[1.0, 2.0]], **options)


def test_zero_baseline() -> None:
    with pytest.raises(ValueError, match="baseline mean is zero"):
        compare([[0.0, 0.0]], [[1.0]])
    with pytest.raises(ValueError, match="replicate"):
        compare([[0.0, 1.0]], [[1.0]], resamples=100)


def test_types_resolve_on_every_python() -> None:
    for cls in (Estimate, Ratio):
        hints = typing.get_type_hints(cls)
        assert set(hints) == {f.name for f in dataclasses.fields(cls)}
