"""What driving the engine from Python costs a run: the CPU of the process's own threads
beside the engine's, while the load runs.

    python3 bench/boundary/driver_share.py                     # 3 rounds, ~3 min
    python3 bench/boundary/driver_share.py --rounds 5 --connections 32 --duration 20

Throughput on this shared VM varies by 20 % and more from one run to the next, so a
binding's cost of "under 2 %" cannot be read from two throughputs. It can be read from
where the process's CPU goes. The engine runs the load on its own worker threads and
its interval collector (threads named ``cannonade-*``); everything else in the process
(the interpreter's main thread waiting in ``wait()`` or polling intervals, and any
thread of its own) is what the binding and the driver cost. This script starts each
generator against the native testee (``cannonade-testee http``, 127.0.0.1), reads
every thread's CPU time (``/proc/PID/task/TID/schedstat``) one second into the run and
one second before its end, so that start-up and shut-down are outside the window, and
prints the CPU of the other threads as a share of the engine's over that window. With
the generator on one core (as bench/run pins it), the engine can lose at most that
share of its CPU to the rest of the process: it bounds the throughput the binding
costs.

Generators (each with one worker thread, closed loop, HTTP/1.1 keep-alive GET):

- ``load``: the engine's own example binary (target/release/examples/load), no Python;
- ``api``: ``cannonade.start_json(plan).wait()`` under the given interpreter (cffi under
  PyPy: the binding alone);
- ``cli``: ``python -m cannonade http URL`` under the same interpreter (the driver's
  progress line, interval polling and result handling as well).

Needs ``cargo build --release -p cannonade-testee`` and ``cargo build --release -p
cannonade-core --example load``, and cannonade installed in the interpreter
(.ci/bootstrap). Not part of the test command.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
API = (
    "import sys, cannonade\n"
    "result = cannonade.start_json(open(sys.argv[1]).read()).wait()\n"
    "print(result.requests)\n"
)


def threads(pid: int) -> dict[int, tuple[str, int]]:
    """Each thread of ``pid``: its name and the CPU time it has run (ns)."""
    out = {}
    base = Path(f"/proc/{pid}/task")
    for task in base.iterdir():
        try:
            name = (task / "comm").read_text().strip()
            ran = int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        out[int(task.name)] = (name, ran)
    return out


def shares(
    before: dict[int, tuple[str, int]], after: dict[int, tuple[str, int]]
) -> tuple[float, float, dict[str, float]]:
    """CPU seconds, between two readings, of the engine's threads (``cannonade-*``: its
    workers and its interval collector) and of the others (the interpreter's), and the
    others' by name. A thread born in between counts from zero."""
    engine = others = 0.0
    by_name: dict[str, float] = {}
    for tid, (name, ran) in after.items():
        spent = (ran - before.get(tid, (name, 0))[1]) / 1e9
        if name.startswith("cannonade-"):
            engine += spent
        else:
            others += spent
            by_name[name] = by_name.get(name, 0.0) + spent
    return engine, others, by_name


def testee() -> tuple[subprocess.Popen[str], str]:
    binary = Path(os.environ.get("CANNONADE_TESTEE_BIN", TARGET / "release" / "cannonade-testee"))
    if not binary.is_file():
        sys.exit(f"no testee at {binary}: cargo build --release -p cannonade-testee")
    server = subprocess.Popen(
        [str(binary), "http", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    line = server.stdout.readline().strip()
    if not line.startswith("listening on "):
        server.kill()
        sys.exit(f"the testee did not start: {line!r}")
    return server, line.removeprefix("listening on ")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run (10)")
    parser.add_argument("--connections", default="1,32,256")
    parser.add_argument("--python", default=str(REPO / ".venv-pypy" / "bin" / "python"))
    parser.add_argument("--tools", default="load,api,cli")
    args = parser.parse_args()
    if args.duration < 4:
        parser.error("--duration must be at least 4 s (a second is left out at each end)")
    load = TARGET / "release" / "examples" / "load"
    tools = args.tools.split(",")
    if "load" in tools and not load.is_file():
        sys.exit(f"no {load}: cargo build --release -p cannonade-core --example load")
    levels = [int(c) for c in args.connections.split(",")]
    server, address = testee()
    work = Path(tempfile.mkdtemp(prefix="cannonade-share-"))
    rows: dict[tuple[str, int], list[tuple[float, float, dict[str, float]]]] = {}
    try:
        for round_ in range(args.rounds):
            for conns in levels:
                order = tools[round_ % len(tools) :] + tools[: round_ % len(tools)]
                for tool in order:
                    plan = work / f"plan-{conns}.json"
                    plan.write_text(
                        json.dumps(
                            {
                                "abi_version": 2,
                                "connections": conns,
                                "threads": 1,
                                "duration_ms": int(args.duration * 1000),
                                "protocol": {"kind": "http", "url": f"http://{address}/"},
                            }
                        )
                    )
                    argv = {
                        "load": [str(load), str(plan)],
                        "api": [args.python, "-c", API, str(plan)],
                        "cli": [
                            args.python,
                            "-m",
                            "cannonade",
                            "http",
                            f"http://{address}/",
                            "-c",
                            str(conns),
                            "-t",
                            "1",
                            "-d",
                            f"{args.duration:g}s",
                        ],
                    }[tool]
                    process = subprocess.Popen(
                        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                    )
                    time.sleep(1.0)
                    first = threads(process.pid)
                    time.sleep(args.duration - 2.0)
                    last = threads(process.pid)
                    process.wait()
                    engine, others, by_name = shares(first, last)
                    rows.setdefault((tool, conns), []).append((engine, others, by_name))
                    print(
                        f"round {round_ + 1} c={conns:<4} {tool:5} engine {engine:6.3f} s, "
                        f"others {others:6.3f} s ({100 * others / max(engine, 1e-9):.2f} %) "
                        + ", ".join(f"{n} {s:.3f}" for n, s in sorted(by_name.items())),
                        file=sys.stderr,
                        flush=True,
                    )
    finally:
        server.kill()
        server.wait()
    print(
        f"CPU of the generator's own threads beside the engine's, over the engine's, from "
        f"1 s into each "
        f"{args.duration:g} s run to 1 s before its end; median (min-max) of "
        f"{args.rounds} rounds. Interpreter: {args.python}\n"
    )
    print("| generator | " + " | ".join(f"c={c}" for c in levels) + " |")
    print("|---|" + "---|" * len(levels))
    for tool in tools:
        cells = []
        for conns in levels:
            got = [100 * o / max(w, 1e-9) for w, o, _ in rows[(tool, conns)]]
            cells.append(f"{statistics.median(got):.2f} % ({min(got):.2f}-{max(got):.2f})")
        print(f"| {tool} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
