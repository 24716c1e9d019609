"""CPU per request of a one-entry mix against the plan's one request, side by side.

    python bench/mix_overhead.py [--rounds 5] [--seconds 4] [--testee PATH]

Starts the native testee (HTTP) on loopback, then runs the CLI against it in turns:
the plain plan (`cannonade http URL`) and the same request as a one-entry mix
(`--requests-file` with one line), closed loop, 4 connections, 1 thread. The CPU of each
generator process (user + system, all threads, from wait4's rusage) is divided by its
completed requests. The per-round ratio mix / plain is printed, and the median of them:
a ratio from the same machine at the same time, not a speed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def _generator(args: list[str], out: str) -> tuple[float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [sys.executable, "-m", "cannonade", "http", *args, "-q", "--json", out],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    with open(out, encoding="utf-8") as f:
        requests = json.load(f)["requests"]
    return cpu_s, requests


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=4.0)
    default = os.path.join(HERE, "..", "target", "release", "cannonade-testee")
    parser.add_argument("--testee", default=os.environ.get("CANNONADE_TESTEE_BIN", default))
    args = parser.parse_args()
    server = subprocess.Popen(
        [args.testee, "http", "--host", "127.0.0.1", "--port", "0"], stdout=subprocess.PIPE
    )
    try:
        assert server.stdout is not None
        address = server.stdout.readline().decode().split()[-1]
        url = f"http://{address}/"
        with tempfile.TemporaryDirectory() as tmp:
            entries = os.path.join(tmp, "one.jsonl")
            with open(entries, "w", encoding="utf-8") as f:
                f.write('{"label": "home", "path": "/"}\n')
            out = os.path.join(tmp, "run.json")
            common = [url, "-c", "4", "-t", "1", "-d", f"{args.seconds}s"]
            ratios = []
            for k in range(args.rounds):
                plain_s, plain_n = _generator(common, out)
                mix_s, mix_n = _generator([*common, "--requests-file", entries], out)
                plain, mix = plain_s / plain_n * 1e9, mix_s / mix_n * 1e9
                ratios.append(mix / plain)
                print(
                    f"round {k + 1}: plain {plain:6.0f} ns/request ({plain_n} requests), "
                    f"one-entry mix {mix:6.0f} ns/request ({mix_n}), ratio {mix / plain:.3f}"
                )
            print(f"median ratio (one-entry mix / plain): {statistics.median(ratios):.3f}")
    finally:
        server.terminate()
        server.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
