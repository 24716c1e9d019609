"""The pytest plugin, as a user's test script would use it, in a separate pytest run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from support import RUST_TESTEE, rust_testee_argv

SCRIPT = """
import cannonade

TESTEE = {testee!r}


def _bench(cannonade_benchmark, *extra):
    server = cannonade.Server([TESTEE, "echo", "--port", "{{port}}", *extra])
    plan = cannonade.Plan("127.0.0.1:9", cannonade.Tcp(payload_bytes=16), connections=4,
                          threads=1, duration_s=1, interval_s=0.25)
    warmup = cannonade.Warmup(min_s=1.5, max_s=4, steady_window_s=1.5)
    return cannonade_benchmark(plan, server, warmup=warmup, measure_s=3)


def test_measured(cannonade_benchmark):
    result = _bench(cannonade_benchmark)
    assert len(result.executions[0].measured) == 12
    assert result.executions[0].measure.requests > 0


def test_fails_on_purpose(cannonade_benchmark):
    result = _bench(cannonade_benchmark, "--cold-ms", "3600000", "--cold-delay-us", "2000")
    assert result.executions[0].measure.requests_per_s > 1e9, "too slow"
"""


def test_the_fixture_runs_reports_and_saves(tmp_path: Path) -> None:
    rust_testee_argv()  # fails clearly if the testee is not built
    (tmp_path / "test_user.py").write_text(SCRIPT.format(testee=str(RUST_TESTEE)))
    save = tmp_path / "saved"
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "test_user.py",
            "--cannonade-save",
            str(save),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out  # one test passes, one fails on purpose
    assert "1 failed, 1 passed" in out, out
    assert "too slow" in out
    assert "cannonade benchmarks" in out and "classification:" in out
    saved = sorted(p.name for p in save.iterdir())
    assert len(saved) == 4, saved  # a JSON and an interval log per benchmark
    data = json.loads(next(save.glob("*measured*.json")).read_text())
    assert data["kind"] == "benchmark" and len(data["executions"]) == 1
