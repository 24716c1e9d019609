"""Every script in examples/ runs and prints a result."""

from __future__ import annotations

import subprocess

from support import REPO, pypy_argv

EXAMPLES = REPO / "examples"
# script -> arguments that keep it short
TESTED = {
    "quickstart.py": ["1"],
    "warmup.py": ["--measure", "2", "--warmup-min", "2", "--warmup-max", "6", "--window", "2"],
}


def test_every_example_is_tested() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(TESTED)


def test_quickstart_runs_under_pypy() -> None:
    # The example starts the Twisted testee with its own interpreter, so it runs
    # under PyPy (where Twisted is installed) whichever interpreter runs pytest.
    proc = subprocess.run(
        [*pypy_argv(), str(EXAMPLES / "quickstart.py"), *TESTED["quickstart.py"]],
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",
    )
    assert proc.returncode == 0, proc.stderr
    assert "32 connections" in proc.stdout
    assert "requests in" in proc.stdout
    assert "Requests/sec:" in proc.stdout


def test_warmup_runs_under_pypy_and_reports_the_phases() -> None:
    proc = subprocess.run(
        [*pypy_argv(), str(EXAMPLES / "warmup.py"), *TESTED["warmup.py"]],
        capture_output=True,
        text=True,
        timeout=180,
        cwd="/",
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "  warmup " in out and "  measure " in out  # live progress, both phases
    assert "execution 1:" in out and "(warm-up | measured)" in out
    assert "classification:" in out
    assert "minor gc" in out  # PyPy's GC events were collected
