"""What one call across the native boundary costs: cffi and PyO3, under CPython and PyPy.

    python3 bench/boundary/boundary.py                  # every interpreter x backend, 3 times
    python3 bench/boundary/boundary.py --repeat 5 --pythons .venv-cpython/bin/python

Each (interpreter, backend) pair runs in its own process, with CANNONADE_BACKEND set,
against the native echo testee (target/release/cannonade-testee, or
$CANNONADE_TESTEE_BIN) on 127.0.0.1. The pairs run in turn, and the whole set is
repeated (`--repeat`), in reverse order every other time; each cell of the table is
the median over the repetitions. The cffi/pyo3 rows are the median over the
repetitions of the ratio of the two backends' figures (above 1: PyO3 is cheaper).
Calls timed, in ns per call:

- builtin: `len(b"")`, a Python builtin, in the same loop: the yardstick.
- no-op: the raw ABI-version call (`lib.cn_abi_version()`, `_pyo3.abi_version()`).
- wait(0): the backend's `wait(0)` on a running run (releases and retakes the GIL).
- poll, empty: the backend's `poll()` with nothing new (returns b"[]").
- 1 ms apart: `poll()` timed call by call, sleeping 1 ms between calls, for 5 s, on a
  run with 10 ms intervals at 2000 requests/s: the median of the polls that returned
  nothing, and of those that returned one interval (JSON with a base64 histogram,
  encoded by the engine: the same work in both backends). A call after a pause is
  several times slower than in a tight loop (cold caches and branch predictors); this
  is how a driver that polls between waits calls it. Each includes one
  perf_counter_ns() call.
- result: `result_json()` and `histogram()` of a finished run, the pair.

The first three kinds are timed in loops of n calls, n chosen so that a loop takes at
least 0.1 s, after a warm-up loop (PyPy's JIT compiles it); the figure is the median
of 5 loops. Needs Python 3.9+; runs the installed cannonade of each interpreter.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[2]
TESTEE = Path(
    os.environ.get("CANNONADE_TESTEE_BIN", REPO / "target" / "release" / "cannonade-testee")
)
BACKENDS = ("cffi", "pyo3")
OPS = ("builtin", "noop", "wait0", "poll_empty", "spaced_empty", "spaced_interval", "result")
HEADERS = {
    "builtin": "builtin",
    "noop": "no-op",
    "wait0": "wait(0)",
    "poll_empty": "poll, empty",
    "spaced_empty": "1 ms apart: empty",
    "spaced_interval": "1 ms apart: 1 interval",
    "result": "result",
}
LOOPS = 5
LOOP_S = 0.1
POLL_S = 5.0


# --- child: one interpreter, one backend -----------------------------------------------


def per_call_ns(fn: Callable[..., Any], args: tuple) -> float:
    """Median over LOOPS loops of the mean ns per call of fn(*args)."""
    clock = time.perf_counter_ns
    n = 1000
    while True:  # calibrate (and warm up)
        start = clock()
        for _ in range(n):
            fn(*args)
        if clock() - start >= LOOP_S * 1e9:
            break
        n *= 2
    means = []
    for _ in range(LOOPS):
        start = clock()
        for _ in range(n):
            fn(*args)
        means.append((clock() - start) / n)
    return statistics.median(means)


def spaced_polls_ns(native: Any) -> tuple[float, float, int, int]:
    """Polls 1 ms apart: median ns of the empty ones and of those that returned exactly
    one interval; how many returned one interval; the median size of one.

    Polling every millisecond picks an interval up soon after the engine finished it,
    when the engine's threads are idle again (a busy loop would compete with them for
    the two cores and time the scheduler, not the call).
    """
    clock = time.perf_counter_ns
    poll = native.poll
    sleep = time.sleep
    empty = []
    samples = []
    end = clock() + POLL_S * 1e9
    while clock() < end:
        start = clock()
        data = poll()
        took = clock() - start
        if len(data) > 2:
            samples.append((took, data))
        else:
            empty.append(took)
        sleep(0.001)
    ones = [(took, data) for took, data in samples if len(json.loads(data)) == 1]
    return (
        float(statistics.median(empty)),
        float(statistics.median(took for took, _ in ones)),
        len(ones),
        int(statistics.median(len(data) for _, data in ones)),
    )


def start_testee() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [str(TESTEE), "echo", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    if not line.startswith("listening on "):
        proc.kill()
        sys.exit(f"testee {TESTEE} did not start: {line!r}")
    return proc, line[len("listening on ") :].strip()


def child() -> dict[str, Any]:
    import cannonade
    from cannonade import _backend

    backend = _backend.current()
    if backend.NAME == "cffi":
        from cannonade._native import lib

        noop = lib.cn_abi_version
    else:
        from cannonade._backend_pyo3 import _pyo3

        noop = _pyo3.abi_version

    ns: dict[str, float] = {}
    ns["builtin"] = per_call_ns(len, (b"",))
    ns["noop"] = per_call_ns(noop, ())
    testee, address = start_testee()
    try:
        plan = cannonade.Plan(
            address,
            cannonade.Tcp(payload_bytes=64),
            connections=2,
            threads=1,
            rate_per_s=2000,
            interval_s=0.01,
            duration_s=3600,
        )
        native = backend.start(plan.to_json())
        try:
            ns["wait0"] = per_call_ns(native.wait, (0,))
            native.poll()
            ns["poll_empty"] = per_call_ns(native.poll, ())
            ns["spaced_empty"], ns["spaced_interval"], polls, interval_bytes = spaced_polls_ns(
                native
            )
            native.stop()
            assert native.wait(60_000)

            def result() -> None:
                native.result_json()
                native.histogram()

            ns["result"] = per_call_ns(result, ())
            result_bytes = len(native.result_json()) + len(native.histogram())
        finally:
            native.close()
    finally:
        testee.terminate()
        testee.wait()
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "backend": backend.NAME,
        "ns": ns,
        "interval_polls": polls,
        "interval_bytes": interval_bytes,
        "result_bytes": result_bytes,
    }


# --- parent: every pair, repeated, one table ---------------------------------------------


def run_child(python: str, backend: str) -> dict[str, Any]:
    env = dict(os.environ, CANNONADE_BACKEND=backend)
    env.pop("CANNONADE_LIBRARY", None)
    proc = subprocess.run(
        [python, str(Path(__file__).resolve()), "--child"],
        env=env,
        cwd="/",  # the installed package, not the source tree
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        sys.exit(f"{python} with {backend} failed:\n{proc.stderr}")
    return json.loads(proc.stdout)


def fmt_ns(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--pythons",
        nargs="+",
        default=[str(REPO / ".venv-cpython/bin/python"), str(REPO / ".venv-pypy/bin/python")],
    )
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child()))
        return
    pairs = [(python, backend) for python in args.pythons for backend in BACKENDS]
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {pair: [] for pair in pairs}
    for repetition in range(args.repeat):
        order = pairs if repetition % 2 == 0 else pairs[::-1]
        for pair in order:
            run = run_child(*pair)
            runs[pair].append(run)
            cells = " ".join(f"{op}={fmt_ns(run['ns'][op])}" for op in OPS)
            print(f"# {run['python']:16} {run['backend']:5} {cells}", file=sys.stderr)
    print("| interpreter      | backend   | " + " | ".join(HEADERS[op] for op in OPS) + " |")
    print("|------------------|-----------|" + "|".join("-" * (len(HEADERS[op]) + 2) for op in OPS) + "|")
    for pair in pairs:
        first = runs[pair][0]
        cells = []
        for op in OPS:
            value = statistics.median(run["ns"][op] for run in runs[pair])
            cells.append(fmt_ns(value).rjust(len(HEADERS[op])))
        print(f"| {first['python']:16} | {first['backend']:9} | " + " | ".join(cells) + " |")
    # Within a repetition the two backends of an interpreter run one after the other,
    # so their ratio is steadier than either figure on a VM that shares its cores.
    for python in args.pythons:
        cffi, pyo3 = runs[(python, "cffi")], runs[(python, "pyo3")]
        cells = []
        for op in OPS:
            ratio = statistics.median(c["ns"][op] / p["ns"][op] for c, p in zip(cffi, pyo3))
            cells.append(f"{ratio:.2f}x".rjust(len(HEADERS[op])))
        name = cffi[0]["python"]
        print(f"| {name:16} | cffi/pyo3 | " + " | ".join(cells) + " |")
    sizes = runs[pairs[0]][0]
    print(
        f"\nns per call, median of {args.repeat} runs; a polled interval was "
        f"{sizes['interval_bytes']} bytes of JSON, a result {sizes['result_bytes']} bytes; "
        f"polls with one interval per run: "
        + ", ".join(
            f"{runs[pair][0]['python']}/{runs[pair][0]['backend']} "
            f"{min(run['interval_polls'] for run in runs[pair])}"
            for pair in pairs
        )
    )


if __name__ == "__main__":
    main()
