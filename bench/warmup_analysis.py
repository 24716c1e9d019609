"""Accuracy of the warm-up classification on known shapes, and its cost per interval.

    python bench/warmup_analysis.py accuracy [--trials N]   # shape x verdict table
    python bench/warmup_analysis.py cost [--points N]        # online analysis per interval

``accuracy``: synthetic series of 100 intervals of 100 ms with log-normal noise
(sigma 0.10 or 0.25 per interval, optionally 5 % of intervals dipping to
20-60 %, as GC pauses and neighbours do on a shared VM), each shape ``--trials``
times with a fixed seed, analysed with a steady window of the last 80 intervals and the
tightness check of the final classification; then the two recorded real
series of tests/data. Prints a Markdown table: how often the verdict is the
expected one, and the changepoint's position error in intervals.

``cost``: the online analysis the driver runs every twentieth of a steady window
(the steady window and 50 intervals before it, of throughput and p50), timed over a whole warm-up
of ``--points`` intervals (1,200 = max_s 120 s at 100 ms), on flat noise (the
worst case for PELT's pruning) and on a series with a warm-up step: the median
and the longest analysis, the cost per interval (all analyses over the
intervals), and the final classification of the whole series.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from pathlib import Path

from cannonade import _steady

#: The steady window: the last 80 of 100 intervals (a measurement of 8 s at 100 ms).
WINDOW = 80
DATA = Path(__file__).resolve().parent.parent / "tests" / "data"


def lognormal(rng: random.Random, level: float, sigma: float, count: int, dips: float) -> list:
    out = []
    for _ in range(count):
        x = level * math.exp(rng.gauss(0.0, sigma))
        if rng.random() < dips:
            x *= rng.uniform(0.2, 0.6)
        out.append(x)
    return out


def shapes(rng: random.Random, sigma: float, dips: float):
    n = 100

    def alternate(high: float, low: float, half: int) -> list:
        return [
            lognormal(rng, high if (i // half) % 2 == 0 else low, sigma, 1, dips)[0]
            for i in range(n)
        ]

    yield "flat", lognormal(rng, 20000, sigma, n, dips), _steady.FLAT, None
    yield (
        "step x2 at 10",
        lognormal(rng, 10000, sigma, 10, dips) + lognormal(rng, 20000, sigma, n - 10, dips),
        _steady.WARMUP,
        10,
    )
    yield (
        "step x2 at 20",
        lognormal(rng, 10000, sigma, 20, dips) + lognormal(rng, 20000, sigma, n - 20, dips),
        _steady.WARMUP,
        20,
    )
    yield (
        "step x3 at 20",
        lognormal(rng, 7000, sigma, 20, dips) + lognormal(rng, 21000, sigma, n - 20, dips),
        _steady.WARMUP,
        20,
    )
    yield "alternate x2 every 4", alternate(20000, 10000, 4), _steady.NO_STEADY_STATE, None
    yield "alternate x8 every 2", alternate(4000, 480, 2), _steady.NO_STEADY_STATE, None
    yield "alternate x8 every 40", alternate(4000, 480, 40), _steady.NO_STEADY_STATE, None


def accuracy(trials: int, factor: float) -> None:
    print(
        f"penalty {factor:g} log n, min segment {_steady.MIN_SEGMENT}, "
        f"min effect {_steady.MIN_EFFECT:.0%}, steady window {WINDOW}, {trials} trials each\n"
    )
    print("| shape | noise σ | dips | right verdict | changepoint error (mean / max) |")
    print("|---|---|---|---|---|")
    for sigma, dips in ((0.10, 0.0), (0.25, 0.0), (0.25, 0.05)):
        rng = random.Random(7)
        tally: dict = {}
        for _ in range(trials):
            for name, series, want, truth in shapes(rng, sigma, dips):
                a = _steady.analyse(
                    series,
                    higher_is_better=True,
                    steady_window=WINDOW,
                    penalty_factor=factor,
                    max_halfwidth=_steady.MAX_HALFWIDTH,
                )
                right, errors = tally.setdefault(name, [0, []])
                tally[name][0] += a.classification == want
                if truth is not None and a.changepoints:
                    errors.append(min(abs(c - truth) for c in a.changepoints))
        for name, (right, errors) in tally.items():
            error = f"{statistics.mean(errors):.2f} / {max(errors)}" if errors else "-"
            print(f"| {name} | {sigma:.2f} | {dips:.0%} | {right}/{trials} | {error} |")
    print("\nRecorded series (tests/data), whole series, steady window 40:\n")
    print("| series | metric | verdict | changepoints | first reason |")
    print("|---|---|---|---|---|")
    for path in sorted(DATA.glob("*.json")):
        data = json.loads(path.read_text())
        for key, higher in (("requests_per_s", True), ("p50_ns", False), ("p99_ns", False)):
            a = _steady.analyse(
                data[key],
                higher_is_better=higher,
                steady_window=40,
                penalty_factor=factor,
                max_halfwidth=_steady.MAX_HALFWIDTH,
            )
            print(
                f"| {path.stem} | {key} | {a.classification} | "
                f"{', '.join(map(str, a.changepoints)) or 'none'} | {a.reasons[0]} |"
            )


def cost(points: int, window: int) -> None:
    rng = random.Random(3)
    cases = {
        "flat": lognormal(rng, 20000, 0.25, points, 0.05),
        "step at 2 s": lognormal(rng, 5000, 0.25, 20, 0.0)
        + lognormal(rng, 20000, 0.25, points - 20, 0.05),
    }
    impl = sys.implementation.name
    every = max(1, window // 20)  # as the driver does
    for name, rates in cases.items():
        latencies = [1e9 * 32 / r for r in rates]
        times = []
        context = min(window, 50)  # as the driver does
        for n in range(window + context, points + 1, every):
            lo = n - window - context
            start = time.perf_counter()
            for series, higher in ((rates[lo:n], True), (latencies[lo:n], False)):
                _steady.analyse(series, higher_is_better=higher, steady_window=window)
            times.append(time.perf_counter() - start)
        per_interval = math.fsum(times) / (points - window - context)
        start = time.perf_counter()
        for series, higher in ((rates, True), (latencies, False)):
            _steady.analyse(
                series,
                higher_is_better=higher,
                steady_window=window,
                max_halfwidth=_steady.MAX_HALFWIDTH,
            )
        final = time.perf_counter() - start
        times.sort()
        print(
            f"| {impl} | {name} | {points} | {window} | every {every} | "
            f"{1e3 * statistics.median(times):.1f} ms | {1e3 * max(times):.1f} ms | "
            f"{1e3 * per_interval:.1f} ms | {final:.2f} s |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("accuracy", "cost"))
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--factor", type=float, default=_steady.PENALTY_FACTOR)
    parser.add_argument("--points", type=int, default=1200)
    parser.add_argument("--window", type=int, default=100)
    args = parser.parse_args()
    if args.what == "accuracy":
        accuracy(args.trials, args.factor)
    else:
        cost(args.points, args.window)


if __name__ == "__main__":
    main()
