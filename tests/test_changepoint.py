"""Outlier filter and PELT changepoints, checked against exact optimal partitioning."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence

import pytest

from cannonade._changepoint import QUANTUM, default_penalty, outliers, pelt


def noise(rng: random.Random, mean: float, sd: float, count: int) -> list[float]:
    return [rng.gauss(mean, sd) for _ in range(count)]


def hdr(value: float) -> int:
    """Round like an HdrHistogram at 3 significant digits (sub-bucket count 2048)."""
    step = 2 ** max(0, math.floor(math.log2(value)) - 10)
    return round(value / step) * step


# --- an independent reference: the same cost, computed directly, and exact DP


def segment_cost(segment: Sequence[float], eps2: float) -> float:
    """The documented cost: n (log 2π + log(σ̂² + QUANTUM²/12 (μ² + ε²)) + 1)."""
    size = len(segment)
    mean = math.fsum(segment) / size
    variance = math.fsum((x - mean) ** 2 for x in segment) / size
    floored = variance + QUANTUM**2 / 12 * (mean**2 + eps2)
    return size * (math.log(2 * math.pi) + math.log(floored) + 1)


def epsilon2(series: Sequence[float]) -> float:
    largest = max(abs(x) for x in series)
    return (1e-6 * largest) ** 2 if largest > 0 else 1.0


def total_cost(series: Sequence[float], changepoints: Sequence[int], penalty: float) -> float:
    eps2 = epsilon2(series)
    bounds = [0, *changepoints, len(series)]
    costs = [segment_cost(series[a:b], eps2) for a, b in zip(bounds, bounds[1:])]
    return math.fsum(costs) + penalty * len(changepoints)


def optimal_partitioning(series: Sequence[float], penalty: float, min_segment: int) -> list[int]:
    """Exact dynamic programming without pruning (Jackson et al. 2005); ties to the earliest."""
    n = len(series)
    eps2 = epsilon2(series)
    best = [math.inf] * (n + 1)
    best[0] = -penalty
    last = [0] * (n + 1)
    for t in range(min_segment, n + 1):
        for tau in [0, *range(min_segment, t - min_segment + 1)]:
            total = best[tau] + segment_cost(series[tau:t], eps2) + penalty
            if total < best[t]:
                best[t], last[t] = total, tau
    changepoints = []
    t = n
    while t > 0:
        t = last[t]
        if t > 0:
            changepoints.append(t)
    return sorted(changepoints)


def exhaustive(series: Sequence[float], penalty: float, min_segment: int) -> float:
    """The lowest total cost over every admissible segmentation (small n only)."""
    n = len(series)
    best = math.inf
    for count in range(n):
        for changepoints in itertools.combinations(range(1, n), count):
            bounds = [0, *changepoints, n]
            if all(b - a >= min_segment for a, b in zip(bounds, bounds[1:])):
                best = min(best, total_cost(series, changepoints, penalty))
    return best


def random_series(rng: random.Random, quantised: bool) -> list[float]:
    """A few segments of random length, level and spread; optionally rounded to integers."""
    series: list[float] = []
    length = rng.randint(4, 40)
    while len(series) < length:
        level = rng.choice([1.0, 10.0, 1000.0]) * rng.uniform(0.5, 2.0)
        spread = level * rng.choice([0.0, 0.001, 0.01, 0.1, 0.5])
        series += noise(rng, level, spread, rng.randint(1, 15))
    series = series[:length]
    return [float(round(x)) for x in series] if quantised else series


# --- outliers


def test_no_outliers_in_plain_noise() -> None:
    series = noise(random.Random(1), 1000.0, 10.0, 500)
    assert not any(outliers(series))


def test_spikes_are_outliers() -> None:
    series = noise(random.Random(2), 1000.0, 10.0, 500)
    spikes = [150, 320, 499]  # 499: judged against the last 200 points
    for index in spikes:
        series[index] = 2000.0
    series[400] = 100.0  # low spikes too
    flags = outliers(series)
    assert [i for i, flag in enumerate(flags) if flag] == [150, 320, 400, 499]


def test_start_is_exempt_by_default() -> None:
    # A 5-point warm-up at the start of a 300-point series: with the default
    # exemption it survives for the changepoint analysis; judged against the
    # first 200 points it would be thrown away as outliers.
    series = [500.0] * 5 + noise(random.Random(3), 1000.0, 10.0, 295)
    assert not any(outliers(series))
    assert [i for i, flag in enumerate(outliers(series, exempt_start=False)) if flag] == [
        0,
        1,
        2,
        3,
        4,
    ]
    series[99] = series[100] = 5000.0
    assert [i for i, flag in enumerate(outliers(series)) if flag] == [100]


def test_window_edges() -> None:
    # Shorter than the window: one window; the first window//2 points exempt.
    series = [10.0] * 30
    series[3] = series[20] = 100.0
    assert [i for i, flag in enumerate(outliers(series, window=200)) if flag] == []
    assert [i for i, flag in enumerate(outliers(series, window=20)) if flag] == [20]
    assert [
        i for i, flag in enumerate(outliers(series, window=20, exempt_start=False)) if flag
    ] == [3, 20]
    assert outliers([], window=5) == []
    assert outliers([1.0], window=1) == [False]


def test_band_is_local() -> None:
    # A level shift is not an outlier once the window has moved past it.
    rng = random.Random(4)
    series = noise(rng, 1000.0, 10.0, 300) + noise(rng, 2000.0, 10.0, 300)
    assert not any(outliers(series, window=100))


def test_quantised_repeats_are_not_outliers() -> None:
    # 90 % of the values identical makes P90 − P10 = 0; the band's floor at the
    # quantisation step keeps the neighbouring HdrHistogram values in.
    rng = random.Random(5)
    series = [120000.0 if rng.random() < 0.9 else 120064.0 for _ in range(400)]
    assert not any(outliers(series))
    series[250] = 130000.0
    assert [i for i, flag in enumerate(outliers(series)) if flag] == [250]


def test_outlier_arguments() -> None:
    with pytest.raises(ValueError, match="window"):
        outliers([1.0, 2.0], window=0)
    with pytest.raises(ValueError, match="factor"):
        outliers([1.0, 2.0], factor=-1.0)
    with pytest.raises(ValueError, match=r"series\[1\] is not finite"):
        outliers([1.0, math.nan])
    with pytest.raises(ValueError, match="not finite"):
        outliers([math.inf, 1.0])
    with pytest.raises(TypeError):
        outliers("12345")
    with pytest.raises(TypeError):
        outliers([1.0, True])


# --- PELT on known series


def test_constant_series_has_no_changepoints() -> None:
    for value in (0.0, 5.0, -3.0, 1e9):
        assert pelt([value] * 100) == []
        assert pelt([value] * 100, penalty=1.0) == []


def test_flat_noise_has_no_changepoints() -> None:
    for seed in range(5):
        assert pelt(noise(random.Random(seed), 1000.0, 10.0, 300)) == []


def test_mean_shift() -> None:
    rng = random.Random(6)
    series = noise(rng, 500.0, 10.0, 20) + noise(rng, 1000.0, 10.0, 80)
    (changepoint,) = pelt(series)
    assert abs(changepoint - 20) <= 2


def test_variance_only_change() -> None:
    rng = random.Random(7)
    series = noise(rng, 1000.0, 1.0, 100) + noise(rng, 1000.0, 20.0, 100)
    (changepoint,) = pelt(series)
    assert abs(changepoint - 100) <= 5


def test_several_changepoints() -> None:
    rng = random.Random(8)
    truth = [50, 100, 150, 230]
    levels = [500.0, 800.0, 650.0, 1000.0, 980.0]
    series: list[float] = []
    for level, end in zip(levels, [*truth, 300]):
        series += noise(rng, level, 5.0, end - len(series))
    found = pelt(series)
    assert len(found) == len(truth)
    assert all(abs(a - b) <= 2 for a, b in zip(found, truth))


def test_quantised_repeats_do_not_explode() -> None:
    rng = random.Random(9)
    steady = [float(hdr(rng.gauss(120000.0, 20.0))) for _ in range(300)]
    assert len(set(steady)) <= 6  # mostly exact repeats
    assert pelt(steady) == []
    sparse = [120000.0] * 300
    for index in rng.sample(range(300), 10):
        sparse[index] = 120064.0
    assert pelt(sparse) == []
    warm = [float(hdr(rng.gauss(240000.0, 50.0))) for _ in range(30)] + steady
    assert pelt(warm) == [30]


def test_short_series() -> None:
    for n in range(4):
        assert pelt([float(i) for i in range(n)]) == []
    assert pelt([1.0, 1.0, 100.0, 100.0], penalty=1.0) == [2]
    assert pelt([1.0, 100.0, 100.0], penalty=1.0, min_segment=1) == [1]


def test_min_segment_is_respected() -> None:
    rng = random.Random(10)
    for _ in range(50):
        series = random_series(rng, quantised=False)
        for min_segment in (1, 2, 3, 5):
            bounds = [0, *pelt(series, penalty=1.0, min_segment=min_segment), len(series)]
            assert all(b - a >= min_segment for a, b in zip(bounds, bounds[1:])) or (
                len(bounds) == 2
            )


def test_default_penalty() -> None:
    assert default_penalty(100) == pytest.approx(15 * math.log(100))
    assert default_penalty(1) == 0.0
    rng = random.Random(11)
    series = noise(rng, 10.0, 1.0, 40) + noise(rng, 11.0, 1.0, 40)
    assert pelt(series) == pelt(series, penalty=15 * math.log(80))
    # A higher penalty never gives more changepoints.
    counts = [len(pelt(series, penalty=p)) for p in (1.0, 5.0, 20.0, 100.0, 1000.0)]
    assert counts == sorted(counts, reverse=True)


def test_extreme_magnitudes() -> None:
    assert pelt([1e300] * 10 + [2e300] * 10) == [10]
    assert pelt([1e-300] * 10 + [2e-300] * 10) == [10]
    rng = random.Random(12)
    series = noise(rng, 10.0, 1.0, 40) + noise(rng, 14.0, 1.0, 40)
    assert pelt(series) == [40]
    for scale in (2.0**-900, 2.0**900, -1.0):  # exact scalings
        assert pelt([x * scale for x in series]) == [40]
    # A huge dynamic range takes the integer path; the answer stays optimal.
    for _ in range(20):
        series = random_series(rng, quantised=False)
        series[rng.randrange(len(series))] = 1e-200
        assert pelt(series, penalty=3.0) == optimal_partitioning(series, 3.0, 2)


def test_pelt_arguments() -> None:
    with pytest.raises(ValueError, match="penalty"):
        pelt([1.0] * 10, penalty=-1.0)
    with pytest.raises(ValueError, match="penalty"):
        pelt([1.0] * 10, penalty=math.inf)
    with pytest.raises(ValueError, match="min_segment"):
        pelt([1.0] * 10, min_segment=0)
    with pytest.raises(TypeError, match="min_segment"):
        pelt([1.0] * 10, min_segment=2.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not finite"):
        pelt([1.0, 2.0, math.nan, 4.0])


# --- PELT against exact optimal partitioning


@pytest.mark.parametrize("min_segment", [1, 2, 3])
def test_pelt_equals_optimal_partitioning(min_segment: int) -> None:
    rng = random.Random(100 + min_segment)
    for _ in range(150):
        series = random_series(rng, quantised=False)
        for penalty in (0.5, 3.0, 10.0, default_penalty(len(series))):
            found = pelt(series, penalty=penalty, min_segment=min_segment)
            assert found == optimal_partitioning(series, penalty, min_segment), (series, penalty)


@pytest.mark.parametrize("min_segment", [1, 2])
def test_pelt_is_optimal_on_quantised_series(min_segment: int) -> None:
    # Exact repeats make ties possible, so compare the optimal cost, not positions.
    rng = random.Random(200 + min_segment)
    for _ in range(150):
        series = random_series(rng, quantised=True)
        for penalty in (1.0, 10.0, default_penalty(len(series))):
            found = pelt(series, penalty=penalty, min_segment=min_segment)
            reference = optimal_partitioning(series, penalty, min_segment)
            assert total_cost(series, found, penalty) == pytest.approx(
                total_cost(series, reference, penalty), rel=1e-9, abs=1e-9
            )


def test_pelt_is_optimal_among_all_segmentations() -> None:
    rng = random.Random(300)
    for _ in range(40):
        series = random_series(rng, quantised=rng.random() < 0.5)[: rng.randint(4, 10)]
        for penalty, min_segment in ((1.0, 1), (3.0, 2), (default_penalty(len(series)), 2)):
            found = pelt(series, penalty=penalty, min_segment=min_segment)
            assert total_cost(series, found, penalty) == pytest.approx(
                exhaustive(series, penalty, min_segment), rel=1e-9, abs=1e-9
            )


def test_pelt_equals_optimal_partitioning_on_long_series() -> None:
    # Long enough for the pruning to matter, with many changes.
    rng = random.Random(400)
    series: list[float] = []
    while len(series) < 250:
        series += noise(rng, rng.uniform(100, 200), rng.uniform(0.5, 5), rng.randint(5, 40))
    for penalty in (5.0, default_penalty(len(series))):
        found = pelt(series, penalty=penalty)
        assert len(found) >= 5
        assert found == optimal_partitioning(series, penalty, 2)


def floored_cost(series: Sequence[float], changepoints: Sequence[int], penalty: float,
                 floor: float) -> float:  # fmt: skip
    """The cost with an absolute variance floor, written out directly."""
    bounds = [0, *changepoints, len(series)]
    total = penalty * len(changepoints)
    for a, b in zip(bounds, bounds[1:]):
        segment = series[a:b]
        mean = sum(segment) / len(segment)
        variance = sum((x - mean) ** 2 for x in segment) / len(segment)
        total += len(segment) * (math.log(2 * math.pi) + math.log(variance + floor) + 1)
    return total


@pytest.mark.parametrize("min_segment", [1, 2, 4])
def test_pelt_with_an_absolute_floor_is_optimal(min_segment: int) -> None:
    # Log-scale series, as the steady-state analysis gives it: compare with every
    # segmentation of short series.
    rng = random.Random(500 + min_segment)
    floor = 1e-6 / 12
    for _ in range(60):
        n = rng.randint(2, 11)
        series = [math.log(rng.choice((1e3, 2e3, 5e3)) * math.exp(rng.gauss(0, 0.2)))
                  for _ in range(n)]  # fmt: skip
        for penalty in (0.5, 3.0, 6 * math.log(n)):
            found = pelt(series, penalty, min_segment, variance_floor=floor)
            best = math.inf
            for mask in range(2 ** max(n - 1, 0)):
                cps = [k + 1 for k in range(n - 1) if mask >> k & 1]
                sizes = [b - a for a, b in zip([0, *cps], [*cps, n])]
                if all(size >= min_segment for size in sizes):
                    best = min(best, floored_cost(series, cps, penalty, floor))
            if n < 2 * min_segment:
                assert found == []
            else:
                cost = floored_cost(series, found, penalty, floor)
                assert cost == pytest.approx(best, rel=1e-9, abs=1e-9), (series, penalty)


def test_absolute_floor_arguments() -> None:
    with pytest.raises(ValueError, match="variance_floor must be positive"):
        pelt([1.0, 2.0, 3.0, 4.0], variance_floor=0.0)
    with pytest.raises(TypeError):
        pelt([1.0, 2.0, 3.0, 4.0], variance_floor="x")  # type: ignore[arg-type]
    # A constant series: no changepoint, whatever the floor.
    assert pelt([3.0] * 50, 0.1, variance_floor=1e-12) == []
