"""Saved results from the command line: report, compare, and --html on a run."""

from __future__ import annotations

import json
from pathlib import Path

from support import Server, cli


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
