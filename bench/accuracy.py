"""How often the warm-up driver is right about servers whose truth is known.

Runs the real driver (cannonade.Benchmark) N times against each shape of the native
testee (the cases of tests/ground_truth.py: flat, a warm-up step, a slowdown step, an
alternation, a periodic stall), the cases in rotation so that a busy spell of the
machine falls on all of them alike, and tabulates how often the verdict was right
(the class; a changepoint within the margin of the step; for the stall, the corrected
p99 within 15% of its analytic value and a small p50), and how far the changepoint
nearest to the step was from it.

    cargo build --release -p cannonade-testee
    .venv-pypy/bin/python bench/accuracy.py                  # 10 runs of each: ~10 min
    .venv-pypy/bin/python bench/accuracy.py --runs 3 --cases warmup,alternate

The testee is target/release/cannonade-testee, or CANNONADE_TESTEE_BIN, or --testee.
A markdown table goes to stdout at the end (one line per run before it, on stderr).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import ground_truth  # noqa: E402


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="executions of each case (10)")
    parser.add_argument(
        "--cases",
        default=",".join(ground_truth.CASES),
        help=f"comma-separated, from {', '.join(ground_truth.CASES)} (all)",
    )
    parser.add_argument(
        "--testee",
        type=Path,
        default=Path(
            os.environ.get("CANNONADE_TESTEE_BIN", REPO / "target" / "release" / "cannonade-testee")
        ),
        help="the cannonade-testee binary",
    )
    parser.add_argument("--json", type=Path, help="also write every run's verdict here")
    args = parser.parse_args()
    unknown = [c for c in args.cases.split(",") if c not in ground_truth.CASES]
    if unknown:
        parser.error(f"unknown cases {unknown}; choose from {list(ground_truth.CASES)}")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if not args.testee.is_file():
        parser.error(
            f"no testee at {args.testee}: run `cargo build --release -p cannonade-testee` "
            "or give --testee"
        )
    return args


def _seconds(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.2f} / {max(values):.2f}"


def main() -> int:
    args = _args()
    names = args.cases.split(",")
    verdicts: dict[str, list[ground_truth.Verdict]] = collections.defaultdict(list)
    started = time.monotonic()
    for run in range(1, args.runs + 1):
        for name in names:
            case = ground_truth.CASES[name]
            try:
                verdict = ground_truth.judge(case, ground_truth.run(case, args.testee))
            except Exception as error:  # a failed execution is a wrong verdict, not a crash
                verdict = ground_truth.Verdict(
                    False, f"error: {error}", (), None, None, None, f"{name}: {error}"
                )
            verdicts[name].append(verdict)
            print(
                f"[{time.monotonic() - started:6.0f} s] {name} run {run}: "
                f"{'right' if verdict.right else 'WRONG'}: {verdict.explain}",
                file=sys.stderr,
                flush=True,
            )
    print(
        "| shape | truth | right | verdicts seen | step: nearest changepoint off by "
        "(median / max, s) | stall: corrected p50 / p99 (median, ms) |"
    )
    print("|---|---|---|---|---|---|")
    for name in names:
        case = ground_truth.CASES[name]
        got = verdicts[name]
        right = sum(v.right for v in got)
        seen = collections.Counter(v.classification for v in got)
        truth = case.expected or f"p99 {ground_truth.stall_p99_ns() / 1e6:.0f} ms ± 15%"
        errors = [v.change_error_s for v in got if v.change_error_s is not None]
        finite = [e for e in errors if e != float("inf")]
        offset = _seconds(finite) + (
            f" ({len(errors) - len(finite)} none)" if len(finite) < len(errors) else ""
        )
        latency = "-"
        if case.name == "stall":
            p50 = [v.p50_ms for v in got if v.p50_ms is not None]
            p99 = [v.p99_ms for v in got if v.p99_ms is not None]
            if p50 and p99:
                latency = f"{statistics.median(p50):.2f} / {statistics.median(p99):.1f}"
        print(
            f"| {name} | {truth} | {right}/{len(got)} | "
            f"{', '.join(f'{k} ×{n}' for k, n in seen.most_common())} | "
            f"{offset if case.change_s is not None else '-'} | {latency} |"
        )
    if args.json is not None:
        rows = {
            name: [
                {
                    "right": v.right,
                    "classification": v.classification,
                    "changepoints_s": list(v.changepoints_s),
                    # inf: no changepoint at all
                    "change_error_s": (
                        None if v.change_error_s == float("inf") else v.change_error_s
                    ),
                    "p50_ms": v.p50_ms,
                    "p99_ms": v.p99_ms,
                    "explain": v.explain,
                }
                for v in got
            ]
            for name, got in verdicts.items()
        }
        args.json.write_text(json.dumps(rows, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
