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
    .venv-pypy/bin/python bench/accuracy.py --runs 6 --bursty 6 --paired

The testee is target/release/cannonade-testee, or CANNONADE_TESTEE_BIN, or --testee.
A markdown table goes to stdout at the end (one line per run before it, on stderr).

The machine's load can be made part of the run: ``--hogs N`` keeps N processes
spinning for the whole table, ``--bursty N`` N processes that each spin for 0.3-2.5 s
and then sleep for 0.3-2.5 s, at random (seeded), as other programs come and go, and
``--builds N`` N loops that each build the engine's crate from scratch with cargo (in a
target directory of their own, removed at the end): the load of other sessions
compiling on a shared machine. ``--paired`` also replays each execution's recorded
series (with the machine's stalls and waits sampled beside it) through the same driver
with ``Warmup(machine_share=False)``, so that the same measurements are judged with and
without taking out what the machine took; a replay whose driver would have run for
longer than the live one runs out of series, and is counted apart ("ran out").
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import cannonade  # noqa: E402
import ground_truth  # noqa: E402
from cannonade._benchmark import Replay  # noqa: E402

#: One process of --bursty: spin, then sleep, for 0.3-2.5 s each, at random (argv[1]: seed).
_BURSTY = """
import random, sys, time
rng = random.Random(int(sys.argv[1]))
while True:
    end = time.monotonic() + rng.uniform(0.3, 2.5)
    while time.monotonic() < end:
        pass
    time.sleep(rng.uniform(0.3, 2.5))
"""
_HOG = "while True:\n    pass\n"
#: One process of --builds: build the engine's crate from scratch, over and over, in a
#: target directory of its own ($1: the repository, $2: the target directory).
_BUILD = """
cd "$1"
while :; do
    cargo build --quiet --release -p cannonade-core --target-dir "$2" || sleep 1
    rm -rf "$2"
done
"""
#: The reason the analysis gives when the machine's share decided a merge.
_MACHINE_REASON = "what the machine took accounts for it"


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
    parser.add_argument("--hogs", type=int, default=0, help="processes spinning throughout (0)")
    parser.add_argument(
        "--bursty", type=int, default=0, help="processes spinning and sleeping at random (0)"
    )
    parser.add_argument(
        "--builds",
        type=int,
        default=0,
        help="processes building the engine's crate from scratch in a loop (0)",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the --bursty processes (1)")
    parser.add_argument(
        "--paired",
        action="store_true",
        help="also judge each execution's recorded series with Warmup(machine_share=False)",
    )
    args = parser.parse_args()
    unknown = [c for c in args.cases.split(",") if c not in ground_truth.CASES]
    if unknown:
        parser.error(f"unknown cases {unknown}; choose from {list(ground_truth.CASES)}")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if min(args.hogs, args.bursty, args.builds) < 0:
        parser.error("--hogs, --bursty and --builds take a number of processes, 0 or more")
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


@contextlib.contextmanager
def _load(hogs: int, bursty: int, builds: int, seed: int) -> Iterator[None]:
    """The --hogs, --bursty and --builds processes, for as long as the block runs."""
    programs = [[sys.executable, "-c", _HOG] for _ in range(hogs)]
    programs += [[sys.executable, "-c", _BURSTY, str(seed * 1000 + k)] for k in range(bursty)]
    scratch = Path(tempfile.mkdtemp(prefix="cannonade-accuracy-builds-"))
    for k in range(builds):
        target = scratch / f"target-{k}"
        programs.append(["bash", "-c", _BUILD, "build", str(REPO), str(target)])
    started = [
        subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for argv in programs
    ]
    try:
        yield
    finally:
        for process in started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        for process in started:
            process.wait()
        shutil.rmtree(scratch, ignore_errors=True)


def _failed(name: str, error: BaseException) -> ground_truth.Verdict:
    """A failed execution is a wrong verdict, not a crash."""
    return ground_truth.Verdict(False, f"error: {error}", (), None, None, None, f"{name}: {error}")


def _unruled(case: ground_truth.Case, execution: cannonade.Execution) -> ground_truth.Verdict:
    """The same recorded series through the driver with Warmup(machine_share=False)."""
    replay = Replay.from_execution(execution)
    warmup = dataclasses.replace(case.warmup, machine_share=False)
    with cannonade.Benchmark(
        ground_truth.plan(case),
        replay.server(),
        warmup=warmup,
        measure_s=case.measure_s,
        **replay.hooks(),
    ) as bench:
        again = bench.execution()
    if again.error is not None:
        return ground_truth.Verdict(
            False, "ran out", (), None, None, None, f"{case.name}: ran out: {again.error}"
        )
    return ground_truth.judge(case, again)


def _decided(execution: cannonade.Execution) -> bool:
    """Whether the machine's share decided a merge in any of its analyses."""
    return any(
        _MACHINE_REASON in reason for a in execution.analyses.values() for reason in a.reasons
    ) or any(_MACHINE_REASON in reason for reason in execution.reasons)


def _load_average() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "?"


def main() -> int:
    args = _args()
    names = args.cases.split(",")
    verdicts: dict[str, list[ground_truth.Verdict]] = collections.defaultdict(list)
    paired: dict[str, list[ground_truth.Verdict]] = collections.defaultdict(list)
    decided: dict[str, int] = collections.Counter()
    started = time.monotonic()
    load_before = _load_average()
    with _load(args.hogs, args.bursty, args.builds, args.seed):
        for run in range(1, args.runs + 1):
            for name in names:
                case = ground_truth.CASES[name]
                execution = None
                try:
                    execution = ground_truth.run(case, args.testee)
                    verdict = ground_truth.judge(case, execution)
                except Exception as error:
                    verdict = _failed(name, error)
                verdicts[name].append(verdict)
                line = f"{'right' if verdict.right else 'WRONG'}: {verdict.explain}"
                if args.paired and case.expected is not None:
                    if execution is None:
                        other = verdict
                    else:
                        decided[name] += _decided(execution)
                        try:
                            other = _unruled(case, execution)
                        except Exception as error:
                            other = _failed(name, error)
                    paired[name].append(other)
                    line += (
                        f" || without the machine share: "
                        f"{'right' if other.right else 'WRONG'} ({other.classification})"
                    )
                print(
                    f"[{time.monotonic() - started:6.0f} s] {name} run {run}: {line}",
                    file=sys.stderr,
                    flush=True,
                )
    print(
        f"load average {load_before} -> {_load_average()}, --hogs {args.hogs} "
        f"--bursty {args.bursty} --builds {args.builds}, "
        f"{time.monotonic() - started:.0f} s\n"
    )
    print(
        "| shape | truth | right | verdicts seen | step: nearest changepoint off by "
        "(median / max, s) | stall: corrected p50 / p99 (median, ms) |"
        + (" without the machine share: right (verdicts) | share decided |" if args.paired else "")
    )
    print("|---|---|---|---|---|---|" + ("---|---|" if args.paired else ""))
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
        row = (
            f"| {name} | {truth} | {right}/{len(got)} | "
            f"{', '.join(f'{k} ×{n}' for k, n in seen.most_common())} | "
            f"{offset if case.change_s is not None else '-'} | {latency} |"
        )
        if args.paired:
            other = paired.get(name, [])
            if other:
                also = collections.Counter(v.classification for v in other)
                row += (
                    f" {sum(v.right for v in other)}/{len(other)} "
                    f"({', '.join(f'{k} ×{n}' for k, n in also.most_common())}) | "
                    f"{decided[name]}/{len(other)} |"
                )
            else:
                row += " - (percentiles are not replayed) | - |"
        print(row)
    if args.json is not None:

        def unruled(name: str, k: int) -> object:
            other = paired.get(name, [])
            if k >= len(other):
                return None
            return {"right": other[k].right, "classification": other[k].classification}

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
                    "without_machine_share": unruled(name, k),
                }
                for k, v in enumerate(got)
            ]
            for name, got in verdicts.items()
        }
        args.json.write_text(json.dumps(rows, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
