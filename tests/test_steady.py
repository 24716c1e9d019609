"""Warm-up classification of synthetic series, and combining metrics and executions."""

from __future__ import annotations

import dataclasses
import math
import random
import typing

import pytest

from cannonade import AnalysisError, CannonadeError
from cannonade._steady import (
    BAD_INCONSISTENT,
    FLAT,
    GOOD_INCONSISTENT,
    NO_STEADY_STATE,
    SLOWDOWN,
    WARMUP,
    Segment,
    SeriesAnalysis,
    analyse,
    combine,
    combine_executions,
    minimum_window,
    penalty_for,
)


def noise(rng: random.Random, mean: float, sd: float, count: int) -> list[float]:
    return [rng.gauss(mean, sd) for _ in range(count)]


def centred(rng: random.Random, mean: float, sd: float, count: int) -> list[float]:
    """Noise whose sample mean is ``mean`` (up to rounding): tests of the rule, not of luck."""
    values = noise(rng, 0.0, sd, count)
    offset = sum(values) / count
    return [mean + x - offset for x in values]


def hdr(value: float) -> int:
    """Round like an HdrHistogram at 3 significant digits (sub-bucket count 2048)."""
    step = 2 ** max(0, math.floor(math.log2(value)) - 10)
    return round(value / step) * step


def check_segments(analysis: SeriesAnalysis, n: int) -> None:
    """Segments tile the series and start at the changepoints."""
    segments = analysis.segments
    assert segments[0].start == 0 and segments[-1].end == n
    assert all(a.end == b.start for a, b in zip(segments, segments[1:]))
    assert analysis.changepoints == tuple(s.start for s in segments[1:])


def test_flat_noise() -> None:
    series = noise(random.Random(1), 1000.0, 10.0, 200)
    analysis = analyse(series, higher_is_better=True, steady_window=50)
    assert analysis.classification == FLAT
    assert analysis.changepoints == ()
    assert analysis.outliers == ()
    assert analysis.steady_start == 0
    (segment,) = analysis.segments
    assert segment.start == 0 and segment.end == 200
    assert segment.mean == pytest.approx(sum(series) / 200)
    mean = segment.mean
    assert segment.variance == pytest.approx(sum((x - mean) ** 2 for x in series) / 200)


def test_warmup_throughput() -> None:
    rng = random.Random(2)
    series = noise(rng, 500.0, 10.0, 20) + noise(rng, 1000.0, 10.0, 80)
    analysis = analyse(series, higher_is_better=True, steady_window=30)
    assert analysis.classification == WARMUP
    (changepoint,) = analysis.changepoints
    assert abs(changepoint - 20) <= 2
    assert analysis.steady_start == changepoint
    check_segments(analysis, 100)


def test_warmup_latency_and_direction() -> None:
    rng = random.Random(3)
    series = [float(hdr(x)) for x in noise(rng, 2e6, 5e4, 20) + noise(rng, 1e6, 2e4, 80)]
    latency = analyse(series, higher_is_better=False, steady_window=30)
    assert latency.classification == WARMUP
    assert abs(latency.steady_start - 20) <= 2  # type: ignore[operator]
    # The same numbers as a higher-is-better metric slowed down.
    assert analyse(series, higher_is_better=True, steady_window=30).classification == SLOWDOWN


def test_slowdown() -> None:
    rng = random.Random(4)
    series = noise(rng, 1000.0, 10.0, 60) + noise(rng, 800.0, 10.0, 60)
    analysis = analyse(series, higher_is_better=True, steady_window=30)
    assert analysis.classification == SLOWDOWN
    (changepoint,) = analysis.changepoints
    assert abs(changepoint - 60) <= 2
    assert analysis.steady_start == changepoint


def test_slowdown_wins_over_an_earlier_warmup() -> None:
    # Slow, fast, then medium: the fast segment is better than the last one.
    rng = random.Random(5)
    series = noise(rng, 500.0, 10.0, 30) + noise(rng, 1000.0, 10.0, 60) + noise(rng, 800, 10, 60)
    analysis = analyse(series, higher_is_better=True, steady_window=30)
    assert analysis.classification == SLOWDOWN
    assert len(analysis.changepoints) == 2


def test_no_steady_state_when_changing_near_the_end() -> None:
    rng = random.Random(6)
    series: list[float] = []
    for level in (1000.0, 1200.0, 900.0, 1300.0, 1100.0, 1400.0, 1000.0, 1500.0):
        series += noise(rng, level, 10.0, 15)
    analysis = analyse(series, higher_is_better=True, steady_window=30)
    assert analysis.classification == NO_STEADY_STATE
    assert analysis.steady_start is None
    assert len(analysis.changepoints) == 7
    check_segments(analysis, len(series))


def test_no_steady_state_on_a_trend() -> None:
    rng = random.Random(7)
    series = [1000.0 + 5.0 * i + rng.gauss(0.0, 10.0) for i in range(150)]
    analysis = analyse(series, higher_is_better=True, steady_window=50)
    assert analysis.classification == NO_STEADY_STATE
    assert analysis.steady_start is None


def test_steady_window_bounds_the_last_segment() -> None:
    rng = random.Random(8)
    series = noise(rng, 500.0, 5.0, 90) + noise(rng, 1000.0, 5.0, 10)
    assert analyse(series, higher_is_better=True, steady_window=10).changepoints == (90,)
    # The last segment has exactly steady_window points: steady.
    analysis = analyse(series, higher_is_better=True, steady_window=10)
    assert (analysis.classification, analysis.steady_start) == (WARMUP, 90)
    assert analyse(series, higher_is_better=True, steady_window=11).classification == (
        NO_STEADY_STATE
    )
    # Too short to show a steady state at all.
    flat = noise(rng, 500.0, 5.0, 20)
    assert analyse(flat, higher_is_better=True, steady_window=20).classification == FLAT
    assert analyse(flat, higher_is_better=True, steady_window=21).classification == (
        NO_STEADY_STATE
    )


def test_spikes_are_outliers_not_changepoints() -> None:
    rng = random.Random(9)
    series = noise(rng, 1000.0, 10.0, 300)
    spikes = (120, 150, 151, 260, 299)
    for index in spikes:
        series[index] = 5000.0
    analysis = analyse(series, higher_is_better=True, steady_window=50)
    assert analysis.outliers == spikes
    assert analysis.changepoints == ()
    assert analysis.classification == FLAT
    (segment,) = analysis.segments
    kept = [x for i, x in enumerate(series) if i not in spikes]
    assert segment.mean == pytest.approx(sum(kept) / len(kept))
    # Without the outlier filter (a window longer than the series exempts
    # every point) the spikes do create changepoints.
    unfiltered = analyse(series, higher_is_better=True, steady_window=50, outlier_window=1000)
    assert unfiltered.outliers == ()
    assert unfiltered.changepoints != ()


def test_changepoints_are_mapped_back_past_outliers() -> None:
    rng = random.Random(10)
    series = noise(rng, 1000.0, 10.0, 200) + noise(rng, 600.0, 10.0, 200)
    for index in (110, 130, 150, 198):
        series[index] = 9000.0
    analysis = analyse(series, higher_is_better=True, steady_window=50)
    assert analysis.outliers == (110, 130, 150, 198)
    (changepoint,) = analysis.changepoints
    assert abs(changepoint - 200) <= 2
    first, last = analysis.segments
    assert first.end == last.start == changepoint
    assert first.mean == pytest.approx(1000.0, abs=5.0)  # the outliers are left out
    assert analysis.classification == SLOWDOWN


def test_short_warmup_is_not_thrown_away_as_outliers() -> None:
    # 5 slow seconds at the start of a 5-minute run.
    rng = random.Random(11)
    series = noise(rng, 300.0, 10.0, 5) + noise(rng, 1000.0, 10.0, 295)
    analysis = analyse(series, higher_is_better=True, steady_window=60)
    assert analysis.outliers == ()
    assert analysis.changepoints == (5,)
    assert (analysis.classification, analysis.steady_start) == (WARMUP, 5)


def test_variance_only_change_is_flat() -> None:
    rng = random.Random(12)
    series = centred(rng, 1000.0, 1.0, 100) + centred(rng, 1000.0, 20.0, 100)
    analysis = analyse(series, higher_is_better=True, steady_window=50)
    # PELT's variance term splits it, but one level is one segment (min_effect).
    assert analysis.changepoints == ()
    assert analysis.classification == FLAT
    assert analysis.steady_start == 0
    raw = analyse(series, higher_is_better=True, steady_window=50, min_effect=0.0, effect_sd=0.0)
    (changepoint,) = raw.changepoints
    assert abs(changepoint - 100) <= 5
    assert (raw.classification, raw.steady_start) == (FLAT, 0)


def test_equivalence_is_relative() -> None:
    # A 0.08 % step is below the minimum effect; without one it is found, but lies
    # within delta = 0.1 % of the last mean.
    rng = random.Random(13)
    series = noise(rng, 999.2, 0.01, 100) + noise(rng, 1000.0, 0.01, 100)
    assert analyse(series, higher_is_better=True, steady_window=50).changepoints == ()
    analysis = analyse(series, higher_is_better=True, steady_window=50, min_effect=0.0)
    assert analysis.changepoints == (100,)
    assert (analysis.classification, analysis.steady_start) == (FLAT, 0)
    strict = analyse(series, higher_is_better=True, steady_window=50, delta=0.0005, min_effect=0)
    assert (strict.classification, strict.steady_start) == (WARMUP, 100)
    # The same series in other units classifies the same.
    scaled = analyse(
        [x * 1e6 for x in series], higher_is_better=True, steady_window=50, min_effect=0.0
    )
    assert (scaled.classification, scaled.changepoints) == (FLAT, (100,))


def test_variance_of_the_last_segment_widens_equivalence() -> None:
    # The last segment is noisy (relative variance 0.01 > delta), so a 0.5 %
    # lower first segment is equivalent; the variance change is still found.
    rng = random.Random(14)
    series = centred(rng, 995.0, 1.0, 100) + centred(rng, 1000.0, 100.0, 200)
    # (Without the minimum effects, in percent and in the points' spread.)
    analysis = analyse(
        series, higher_is_better=True, steady_window=50, min_effect=0.0, effect_sd=0.0
    )
    assert len(analysis.changepoints) == 1
    assert analysis.classification == FLAT


def test_several_changepoints() -> None:
    rng = random.Random(15)
    truth = (50, 100, 150)
    series = (
        noise(rng, 500.0, 10.0, 50)
        + noise(rng, 800.0, 10.0, 50)
        + noise(rng, 650.0, 10.0, 50)
        + noise(rng, 1000.0, 10.0, 150)
    )
    analysis = analyse(series, higher_is_better=True, steady_window=100)
    assert len(analysis.changepoints) == 3
    assert all(abs(a - b) <= 2 for a, b in zip(analysis.changepoints, truth))
    assert analysis.classification == WARMUP
    assert analysis.steady_start == analysis.changepoints[-1]
    means = [s.mean for s in analysis.segments]
    assert means == pytest.approx([500.0, 800.0, 650.0, 1000.0], abs=10.0)


def test_steady_start_skips_equivalent_segments() -> None:
    # Warm-up, then a variance change at the same level: steady from the end
    # of the warm-up, not from the last changepoint.
    rng = random.Random(16)
    series = (
        centred(rng, 500.0, 5.0, 30)
        + centred(rng, 1000.0, 1.0, 100)
        + centred(rng, 1000.0, 30.0, 100)
    )
    analysis = analyse(
        series, higher_is_better=True, steady_window=50, min_effect=0.0, effect_sd=0.0
    )
    assert len(analysis.changepoints) == 2
    assert analysis.classification == WARMUP
    assert analysis.steady_start == analysis.changepoints[0]
    # With the minimum effect, the variance change is no change of level at all.
    merged = analyse(series, higher_is_better=True, steady_window=50)
    assert (merged.classification, merged.changepoints) == (WARMUP, (30,))


def lognormal(rng: random.Random, level: float, sigma: float, count: int) -> list[float]:
    return [level * math.exp(rng.gauss(0.0, sigma)) for _ in range(count)]


def test_a_short_series_pays_for_a_tripling() -> None:
    # 20 points, the level triples after 10.
    rng = random.Random(30)
    series = lognormal(rng, 250.0, 0.15, 10) + lognormal(rng, 750.0, 0.15, 10)
    analysis = analyse(series, higher_is_better=True, steady_window=8)
    assert analysis.changepoints == (10,)
    assert analysis.classification == WARMUP
    assert analysis.reasons[0].startswith("level changed from")


def test_flat_lognormal_noise_does_not_split() -> None:
    for seed in range(20):
        series = lognormal(random.Random(100 + seed), 20000.0, 0.25, 100)
        analysis = analyse(series, higher_is_better=True, steady_window=100, max_halfwidth=0.1)
        assert analysis.classification == FLAT, (seed, analysis.reasons)
        assert analysis.changepoints == ()
        assert any("no alternation" in r for r in analysis.reasons)
        assert analysis.halfwidth is not None and analysis.halfwidth < 0.1


@pytest.mark.parametrize("half", [2, 4])
def test_fast_alternation_is_no_steady_state(half: int) -> None:
    # A server alternating every few intervals: no flat verdict, and the reason says so.
    rng = random.Random(31)
    series = [
        (4000.0 if (k // half) % 2 == 0 else 480.0) * math.exp(rng.gauss(0.0, 0.05))
        for k in range(100)
    ]
    analysis = analyse(series, higher_is_better=True, steady_window=20, max_halfwidth=0.1)
    assert analysis.classification == NO_STEADY_STATE
    assert analysis.steady_start is None and analysis.reasons


def test_a_level_that_returns_is_no_warmup() -> None:
    rng = random.Random(32)
    series = lognormal(rng, 4000, 0.05, 40) + lognormal(rng, 480, 0.05, 40)
    series += lognormal(rng, 4000, 0.05, 40)
    analysis = analyse(series, higher_is_better=True, steady_window=20)
    assert analysis.changepoints == (40, 80)
    assert analysis.classification == NO_STEADY_STATE
    assert "recurring" in analysis.reasons[0]


def test_tightness_guard() -> None:
    rng = random.Random(33)
    series = lognormal(rng, 1000.0, 0.6, 40)
    loose = analyse(series, higher_is_better=True, steady_window=20, max_halfwidth=0.05)
    assert loose.classification == NO_STEADY_STATE
    assert any("not tight" in r for r in loose.reasons)
    assert analyse(series, higher_is_better=True, steady_window=20).classification == FLAT


def test_minimum_window() -> None:
    # At 100 ms intervals over 120 s, a changepoint needs 6 intervals after it; at 1 s
    # intervals over 120 s, 5 (so a 2-interval window is refused).
    assert minimum_window(1200) == 6
    assert minimum_window(120) == 5
    assert minimum_window(120, noise=0.5) > minimum_window(120)
    assert penalty_for(100) == pytest.approx(6 * math.log(100))


def test_errors_are_cannonade_errors_and_still_value_or_type_errors() -> None:
    with pytest.raises(AnalysisError) as caught:
        analyse([], higher_is_better=True, steady_window=1)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, CannonadeError)
    with pytest.raises(TypeError) as typed:
        analyse(["x"], higher_is_better=True, steady_window=1)  # type: ignore[list-item]
    assert isinstance(typed.value, AnalysisError)
    with pytest.raises(AnalysisError, match="negative"):
        analyse([1.0, -1.0], higher_is_better=True, steady_window=1)


def test_quantised_repeats() -> None:
    rng = random.Random(17)
    steady = [float(hdr(rng.gauss(120000.0, 20.0))) for _ in range(300)]
    analysis = analyse(steady, higher_is_better=False, steady_window=60)
    assert (analysis.classification, analysis.changepoints, analysis.outliers) == (FLAT, (), ())
    warm = [float(hdr(rng.gauss(360000.0, 50.0))) for _ in range(20)] + steady
    analysis = analyse(warm, higher_is_better=False, steady_window=60)
    assert (analysis.classification, analysis.changepoints) == (WARMUP, (20,))


def test_constant_series() -> None:
    for value in (0.0, 120000.0):
        analysis = analyse([value] * 100, higher_is_better=False, steady_window=10)
        assert (analysis.classification, analysis.changepoints, analysis.outliers) == (
            FLAT,
            (),
            (),
        )
        assert analysis.segments == (Segment(0, 100, value, 0.0),)


def test_throughput_dropping_to_zero() -> None:
    series = [1000.0 + (i % 7) for i in range(100)] + [0.0] * 100
    analysis = analyse(series, higher_is_better=True, steady_window=50)
    assert analysis.changepoints == (100,)
    assert (analysis.classification, analysis.steady_start) == (SLOWDOWN, 100)


def test_short_series() -> None:
    for n in (1, 2, 3):
        series = [float(10 * i) for i in range(n)]
        analysis = analyse(series, higher_is_better=True, steady_window=n)
        assert (analysis.classification, analysis.changepoints, analysis.steady_start) == (
            FLAT,
            (),
            0,
        )
        assert analysis.segments[0].end == n
        assert analyse(series, higher_is_better=True, steady_window=n + 1).classification == (
            NO_STEADY_STATE
        )


def test_analyse_arguments() -> None:
    with pytest.raises(ValueError, match="empty"):
        analyse([], higher_is_better=True, steady_window=1)
    with pytest.raises(ValueError, match="not finite"):
        analyse([1.0, math.inf], higher_is_better=True, steady_window=1)
    with pytest.raises(ValueError, match="steady_window"):
        analyse([1.0], higher_is_better=True, steady_window=-1)
    with pytest.raises(ValueError, match="delta"):
        analyse([1.0], higher_is_better=True, steady_window=1, delta=-0.1)
    with pytest.raises(ValueError, match="penalty"):
        analyse([1.0] * 10, higher_is_better=True, steady_window=1, penalty=math.nan)
    with pytest.raises(ValueError, match="window"):
        analyse([1.0], higher_is_better=True, steady_window=1, outlier_window=0)
    with pytest.raises(TypeError, match="higher_is_better"):
        analyse([1.0], higher_is_better=1, steady_window=1)  # type: ignore[arg-type]


def test_types_resolve_on_every_python() -> None:
    for cls in (Segment, SeriesAnalysis):
        hints = typing.get_type_hints(cls)
        assert set(hints) == {f.name for f in dataclasses.fields(cls)}


# --- combining


def result(classification: str, steady_start: typing.Optional[int]) -> SeriesAnalysis:
    return SeriesAnalysis(classification, (), (Segment(0, 10, 1.0, 0.0),), (), steady_start)


@pytest.mark.parametrize(
    ("metrics", "expected"),
    [
        ([(FLAT, 0)], (FLAT, 0)),
        ([(FLAT, 0), (FLAT, 0), (FLAT, 0)], (FLAT, 0)),
        ([(FLAT, 0), (WARMUP, 12), (WARMUP, 7)], (WARMUP, 12)),
        ([(WARMUP, 3), (FLAT, 0), (SLOWDOWN, 40)], (SLOWDOWN, 40)),
        ([(SLOWDOWN, 40), (WARMUP, 55)], (SLOWDOWN, 55)),
        ([(WARMUP, 3), (NO_STEADY_STATE, None), (FLAT, 0)], (NO_STEADY_STATE, None)),
        ([(NO_STEADY_STATE, None), (SLOWDOWN, 9)], (NO_STEADY_STATE, None)),
    ],
)
def test_combine(
    metrics: list[tuple[str, typing.Optional[int]]],
    expected: tuple[str, typing.Optional[int]],
) -> None:
    assert combine([result(c, s) for c, s in metrics]) == expected


def test_combine_errors() -> None:
    with pytest.raises(ValueError, match="at least one"):
        combine([])
    with pytest.raises(ValueError, match="unknown"):
        combine([result("lukewarm", 0)])


@pytest.mark.parametrize(
    ("classes", "expected"),
    [
        ([FLAT], FLAT),
        ([FLAT, FLAT, FLAT], FLAT),
        ([WARMUP] * 5, WARMUP),
        ([SLOWDOWN, SLOWDOWN], SLOWDOWN),
        ([NO_STEADY_STATE] * 3, NO_STEADY_STATE),
        ([FLAT, WARMUP, WARMUP], GOOD_INCONSISTENT),
        ([WARMUP, FLAT], GOOD_INCONSISTENT),
        ([FLAT, SLOWDOWN], BAD_INCONSISTENT),
        ([WARMUP, SLOWDOWN], BAD_INCONSISTENT),
        ([WARMUP, NO_STEADY_STATE], BAD_INCONSISTENT),
        ([SLOWDOWN, NO_STEADY_STATE], BAD_INCONSISTENT),
        ([FLAT, WARMUP, SLOWDOWN, NO_STEADY_STATE], BAD_INCONSISTENT),
    ],
)
def test_combine_executions(classes: list[str], expected: str) -> None:
    assert combine_executions(classes) == expected


def test_combine_executions_errors() -> None:
    with pytest.raises(ValueError, match="at least one"):
        combine_executions([])
    with pytest.raises(ValueError, match="unknown"):
        combine_executions([FLAT, GOOD_INCONSISTENT])
    with pytest.raises(TypeError):
        combine_executions(FLAT)


def ar1(rng: random.Random, level: float, sigma: float, rho: float, count: int) -> list[float]:
    """Log-normal noise whose logs are an AR(1) process: a machine whose share wanders."""
    out, x = [], 0.0
    for _ in range(count):
        x = rho * x + math.sqrt(1.0 - rho * rho) * rng.gauss(0.0, sigma)
        out.append(level * math.exp(x))
    return out


def test_wandering_noise_is_not_an_alternation_but_a_mild_alternation_is() -> None:
    # Intervals on a busy machine are positively correlated (rho1 about 0.5, measured):
    # no pattern of the server's. An alternation of 25 % every 4 intervals is one.
    rng = random.Random(40)
    for _ in range(10):
        wander = ar1(rng, 50000.0, 0.1, 0.5, 200)
        analysis = analyse(wander, higher_is_better=True, steady_window=200)
        assert not any("alternates" in r for r in analysis.reasons), analysis.reasons
    alternating = [
        (1.25 if (k // 4) % 2 else 1.0) * 50000.0 * math.exp(rng.gauss(0.0, 0.1))
        for k in range(200)
    ]
    analysis = analyse(alternating, higher_is_better=True, steady_window=200)
    assert analysis.classification == NO_STEADY_STATE
    assert any("alternates" in r for r in analysis.reasons), analysis.reasons


def test_one_excursion_that_returns_is_forgiven_and_recurring_ones_are_not() -> None:
    # The finer-grain check of a steady part of 200 intervals, the window its last 150.
    from cannonade._steady import _guards

    rng = random.Random(41)
    base = lognormal(rng, 250e3, 0.03, 200)
    indices = list(range(200))

    def shifts(values: list[float]) -> list[str]:
        failed, _, _ = _guards(values, indices, 50, factor=6.0, min_effect=0.1, max_halfwidth=None)
        return [r for r in failed if "level shift" in r]

    # One busy spell of 13 intervals at +17 % at the window's start (seen on the echo server).
    assert not shifts([v * (1.17 if 52 <= k < 65 else 1.0) for k, v in enumerate(base)])
    # The same spell every 40 intervals covers a third of the window: a recurring change.
    assert shifts([v * (1.17 if k % 40 < 13 else 1.0) for k, v in enumerate(base)])
    # A shift that stays is one.
    assert shifts([v * (1.17 if k >= 150 else 1.0) for k, v in enumerate(base)])


def test_excluded_points_are_left_out_and_reported() -> None:
    rng = random.Random(42)
    series = lognormal(rng, 1000.0, 0.05, 30) + lognormal(rng, 3000.0, 0.05, 60)
    stalled = [35, 36, 37, 60, 61]  # intervals in which the machine stalled the load
    for k in stalled:
        series[k] = 30.0
    analysis = analyse(series, higher_is_better=True, steady_window=40, excluded=stalled)
    assert analysis.excluded == tuple(stalled)
    assert analysis.classification == WARMUP and analysis.changepoints == (30,)
    assert not set(stalled) & set(analysis.outliers)
    assert any("5 of 90 intervals left out" in r for r in analysis.reasons)
    with pytest.raises(AnalysisError, match="beyond the series"):
        analyse(series, higher_is_better=True, steady_window=40, excluded=[90])
    with pytest.raises(AnalysisError, match="every one"):
        analyse([1.0, 2.0], higher_is_better=True, steady_window=1, excluded=[0, 1])


def test_a_short_dip_that_returns_is_forgiven_and_a_long_one_is_not() -> None:
    # Seen on the shape testee under load: 1,450 req/s, 7 intervals at 970, 1,480 again.
    rng = random.Random(43)
    base = lognormal(rng, 1450.0, 0.03, 48)
    short = [v * (0.67 if 16 <= k < 23 else 1.0) for k, v in enumerate(base)]
    analysis = analyse(short, higher_is_better=True, steady_window=12)
    assert analysis.classification == FLAT, analysis.reasons
    assert any("forgiven" in r for r in analysis.reasons)
    # Twelve intervals (a quarter of the series) are a level the server held: a
    # recurring change, not a transient.
    long = [v * (0.67 if 16 <= k < 28 else 1.0) for k, v in enumerate(base)]
    analysis = analyse(long, higher_is_better=True, steady_window=12)
    assert analysis.classification == NO_STEADY_STATE, analysis.reasons
    # A better start is a slowdown however short the series.
    slow = [v * (1.5 if k < 6 else 1.0) for k, v in enumerate(base)]
    assert analyse(slow, higher_is_better=True, steady_window=12).classification == SLOWDOWN


def test_a_window_the_stalls_leave_too_short_is_refused() -> None:
    rng = random.Random(44)
    series = lognormal(rng, 1000.0, 0.05, 40)
    ok = analyse(series, higher_is_better=True, steady_window=12)
    assert ok.classification == FLAT
    stalled = analyse(series, higher_is_better=True, steady_window=12, excluded=[29, 31, 33, 36])
    assert stalled.classification == NO_STEADY_STATE
    assert "too few to check" in stalled.reasons[0], stalled.reasons


def test_a_change_within_the_measured_noise_floor_is_no_level() -> None:
    # p50 124 us, then 189 us, while the generator's own lateness was 134 us (seen in a
    # CLI benchmark, open loop): without the floor a slowdown, with it one level.
    rng = random.Random(21)
    series = lognormal(rng, 124e3, 0.03, 30) + lognormal(rng, 189e3, 0.03, 30)
    raw = analyse(series, higher_is_better=False, steady_window=12)
    assert (raw.classification, raw.changepoints) == (SLOWDOWN, (30,))
    floor = [134e3 / value for value in series]
    noisy = analyse(series, higher_is_better=False, steady_window=12, noise=floor)
    assert noisy.changepoints == () and noisy.classification != SLOWDOWN
    assert any("generator's own noise" in reason for reason in noisy.reasons), noisy.reasons
    # A step far above the floor is still found: x2.5 with 30 % of noise floor.
    step = lognormal(rng, 13e6, 0.05, 30) + lognormal(rng, 5.2e6, 0.05, 30)
    found = analyse(step, higher_is_better=False, steady_window=12, noise=[0.3] * 60)
    assert (found.classification, found.changepoints) == (WARMUP, (30,))


def test_a_change_the_servers_run_queue_waits_account_for_is_the_machines() -> None:
    # A flat 5.3 ms server made to wait 1.3 ms a reply by other programs for the first
    # 30 intervals (seen under load: p50 6.6 -> 5.3 ms, called "warmup"): with the delay
    # measured beside it, one level; the reason says why.
    rng = random.Random(23)
    series = lognormal(rng, 6.6e6, 0.03, 30) + lognormal(rng, 5.3e6, 0.03, 30)
    raw = analyse(series, higher_is_better=False, steady_window=12)
    assert (raw.classification, raw.changepoints) == (WARMUP, (30,))
    delay = [1.3e6 / value for value in series[:30]] + [0.02] * 30
    kept = analyse(series, higher_is_better=False, steady_window=12, delay=delay)
    assert kept.changepoints == () and kept.classification != WARMUP, kept.reasons
    assert any("what the machine took accounts for it" in r for r in kept.reasons), kept.reasons
    # Throughput of the same closed loop (higher is better): the same.
    rates = [32 / (value / 1e9) for value in series]
    assert analyse(rates, higher_is_better=True, steady_window=12, delay=delay).changepoints == ()
    # Waits that changed the other way do not explain the change: still a warm-up.
    against = analyse(series, higher_is_better=False, steady_window=12, delay=delay[::-1])
    assert (against.classification, against.changepoints) == (WARMUP, (30,))
    # A warm-up far larger than the waits' change is still found (x2.5, waits 20 %).
    step = lognormal(rng, 13e6, 0.05, 30) + lognormal(rng, 5.2e6, 0.05, 30)
    waits = [0.2] * 30 + [0.0] * 30
    found = analyse(step, higher_is_better=False, steady_window=12, delay=waits)
    assert (found.classification, found.changepoints) == (WARMUP, (30,))
    with pytest.raises(AnalysisError, match="delay"):
        analyse([1.0] * 20, higher_is_better=True, steady_window=12, delay=[0.1] * 19)


def test_a_change_within_the_points_own_spread_is_no_level() -> None:
    # Two levels 12 % apart in log-normal noise of 25 % per point: PELT pays for the
    # split, but the points overlap (Cohen's d about 0.5): not resolved.
    rng = random.Random(22)
    series = lognormal(rng, 1000.0, 0.25, 100) + lognormal(rng, 1120.0, 0.25, 100)
    split = analyse(series, higher_is_better=True, steady_window=50, effect_sd=0.0)
    kept = analyse(series, higher_is_better=True, steady_window=50)
    assert kept.changepoints == () and kept.classification in (FLAT, NO_STEADY_STATE)
    assert len(split.changepoints) >= len(kept.changepoints)


def test_the_noise_floor_must_give_one_value_per_point() -> None:
    with pytest.raises(AnalysisError, match="noise"):
        analyse([1.0] * 20, higher_is_better=True, steady_window=12, noise=[0.1] * 19)
