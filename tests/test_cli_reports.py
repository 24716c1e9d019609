"""Saved results from the command line: report, compare, and --html on a run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import cannonade

from support import RUST_TESTEE, Server, cli


def _run(server: Server, out: Path, *extra: str) -> None:
    proc = cli("tcp", server.address, "-c", "2", "-n", "2000", "--json", str(out), *extra)
    assert proc.returncode == 0, proc.stderr


def test_report_reads_back_a_run_and_writes_its_html(rust_echo: Server, tmp_path: Path) -> None:
    saved = tmp_path / "run.json"
    html = tmp_path / "run.html"
    _run(rust_echo, saved, "--html", str(tmp_path / "live.html"))
    assert "uPlot" in (tmp_path / "live.html").read_text()
    proc = cli("report", str(saved), "--html", str(html))
    assert proc.returncode == 0, proc.stderr
    assert "2000 requests" in proc.stdout
    page = html.read_text()
    assert "<script" in page and "run.json" in page


def test_compare_gives_a_ratio_per_metric(rust_echo: Server, tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    _run(rust_echo, a)
    _run(rust_echo, b)
    proc = cli("compare", str(a), str(b), "--html", str(tmp_path / "cmp.html"))
    assert proc.returncode == 0, proc.stderr
    lines = [line.split() for line in proc.stdout.splitlines()[1:]]
    metrics = {line[0]: float(line[2]) for line in lines}
    assert set(metrics) >= {"requests_per_s", "p50", "p99"}
    assert all(ratio > 0 for ratio in metrics.values())
    assert (tmp_path / "cmp.html").stat().st_size > 10_000


def test_bad_saved_files_give_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text("")
    truncated = tmp_path / "truncated.json"
    truncated.write_text('{"schema_version": 2, "requests": ')
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"schema_version": 2, "requests": "many"}))
    for path in (empty, truncated, wrong, tmp_path / "missing.json"):
        for command in (["report", str(path)], ["compare", str(path), str(path)]):
            proc = cli(*command)
            assert proc.returncode == 2, (command, proc.stdout, proc.stderr)
            assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
            assert str(path.name) in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.once
def test_benchmark_files_are_reported_and_compared_with_the_bootstrap(tmp_path: Path) -> None:
    plain = f"{RUST_TESTEE} echo --port {{port}}"
    # Every reply held 2 ms longer: a slower server, significantly.
    delayed = f"{plain} --cold-ms 3600000 --cold-delay-us 2000"
    paths = [tmp_path / "plain.json", tmp_path / "delayed.json"]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "cannonade", "tcp", "127.0.0.1:9", "--server", server,
             "-c", "4", "-R", "400", "--interval", "250ms", "--warmup-min", "1.5",
             "--warmup-max", "8", "--window", "1.5", "--measure", "3", "--quiet",
             "--json", str(path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd="/",
        )
        for server, path in zip((plain, delayed), paths)
    ]  # fmt: skip
    for proc in procs:
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
    proc = cli("report", str(paths[0]))
    assert proc.returncode == 0, proc.stderr
    assert "cannonade benchmark: tcp @" in proc.stdout and "classification: " in proc.stdout
    proc = cli("compare", *map(str, paths), "--html", str(tmp_path / "cmp.html"))
    assert proc.returncode == 0, proc.stderr
    results = [cannonade.load(p) for p in paths]
    if all(r.steady_executions for r in results):
        assert "(cannonade.compare)" in proc.stdout.splitlines()[0], proc.stdout
        assert "delayed.json relative to plain.json (99% confidence interval" in proc.stdout
        rows = {line.split()[0]: line for line in proc.stdout.splitlines()[3:]}
        assert "significant" in rows["p50"] and "not significant" not in rows["p50"], rows
        expected = cannonade.compare(*results, labels=("plain.json", "delayed.json"))
        p50 = next(m for m in expected.metrics if m.metric == "p50")
        assert f"{p50.ratio:.3f}  [{p50.low:.3f}, {p50.high:.3f}]" in rows["p50"]
    else:  # a loaded machine kept one unsteady: said, then plain ratios
        assert "no bootstrap comparison" in proc.stderr, (proc.stdout, proc.stderr)
        assert "plain ratios" in proc.stdout.lower()
