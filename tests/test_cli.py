"""python -m cannonade: prints a summary; bad input is one line on stderr and exit 2."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from cannonade import Result

from support import RUST_TESTEE, Server, cli


def test_tcp_prints_a_summary(rust_echo: Server, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    proc = cli("tcp", rust_echo.address, "-c", "4", "-t", "2", "-n", "500", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert rust_echo.address in proc.stdout
    assert "2 threads and 4 connections" in proc.stdout
    assert "500 requests in" in proc.stdout
    assert "Latency Distribution" in proc.stdout
    result = Result.from_json(out.read_text())
    assert result.requests == 500 and result.histogram


def test_tcp_duration_and_payload_text(twisted_echo: Server) -> None:
    proc = cli("tcp", twisted_echo.address, "-c", "2", "-d", "300ms", "--payload-text", "ping")
    assert proc.returncode == 0, proc.stderr
    assert "stopped by duration" in proc.stdout


def one_line_error(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines: list[str] = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("cannonade: error: ")
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in lines[0]


@pytest.mark.parametrize(
    "args, words",
    [
        (["tcp", "127.0.0.1:9", "-c", "0", "-n", "1"], ["connections"]),
        (["tcp", "127.0.0.1:9", "-c", "2", "-t", "4", "-n", "1"], ["threads"]),
        (["tcp", "127.0.0.1:9", "-d", "-1"], ["duration"]),
        (["tcp", "127.0.0.1:9", "-d", "soon"], ["duration", "soon"]),
        (["tcp", "127.0.0.1:9", "--payload-bytes", "16777217"], ["16 MiB"]),
        (["tcp", "localhost", "-n", "1"], ["target"]),
        (["tcp"], ["HOST:PORT"]),
        ([], ["COMMAND"]),
        (["udp", "127.0.0.1:9"], ["udp"]),
        (["tcp", "127.0.0.1:9", "-c", "many"], ["many"]),
    ],
)
def test_bad_input(args: list[str], words: list[str]) -> None:
    one_line_error(cli(*args), *words)


def test_unreachable_target(unused_port: int) -> None:
    address = f"127.0.0.1:{unused_port}"
    one_line_error(cli("tcp", address, "-n", "1"), address)


def test_version() -> None:
    proc = cli("--version")
    assert proc.returncode == 0 and "0.1.0" in proc.stdout


def test_json_output_is_the_result_json(rust_echo: Server, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    assert cli("tcp", rust_echo.address, "-c", "1", "-n", "10", "--json", str(out)).returncode == 0
    data = json.loads(out.read_text())
    assert data["schema_version"] == 3 and data["requests"] == 10
    assert [p["name"] for p in data["phases"]] == ["main"]


def test_a_benchmark_from_the_command_line(tmp_path: Path) -> None:
    server = f"{RUST_TESTEE} echo --port {{port}} --cold-ms 1500 --cold-delay-us 3000"
    out, hlog = tmp_path / "bench.json", tmp_path / "bench.hlog"
    for _attempt in range(3):
        proc = cli(
            "tcp", "127.0.0.1:9", "--server", server, "-c", "8", "-R", "400", "--interval", "250ms",
            "--warmup-min", "3", "--warmup-max", "10", "--window", "1.5", "--measure", "3",
            "--watch", "p50,requests_per_s", "--json", str(out), "--hlog", str(hlog),
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        data = json.loads(out.read_text())
        # A run in which the generator itself was paused (its send lag's p99 over 5 ms, as
        # tests/test_benchmark.py judges it) is no test of detection: it is run again.
        noise = data["executions"][0].get("generator_noise")
        if noise is None or noise["p99_ns"] <= 5_000_000:
            break
    assert "  warmup " in proc.stdout and "  measure " in proc.stdout
    # The step at 1.5 s is found; whether the measurement after it is steady depends on
    # how loaded the machine is (the driver re-measures until max_s, then says so).
    assert data["kind"] == "benchmark"
    verdicts = ["warmup", "no steady state"]
    # A later shift of p50 smaller than the generator's own noise (the report flags noise
    # over 10% of p50) may read as a slowdown; the driver said its latency is not to be
    # trusted at that grain, so only the step's position is checked then (issue 9).
    noise = data["executions"][0].get("generator_noise")
    if noise is not None and noise.get("flagged"):
        verdicts.append("slowdown")
    assert data["classification"] in verdicts, proc.stdout
    assert data["warmup"]["metrics"] == ["p50", "requests_per_s"]
    assert set(data["executions"][0]["analyses"]) == {"p50", "requests_per_s"}
    assert f"classification: {data['classification']}" in proc.stdout
    execution = data["executions"][0]
    starts = [i["start_ns"] / 1e9 for i in execution["intervals"]]
    found = [starts[c] for c in execution["analyses"]["p50"]["changepoints"]]
    assert any(0.5 <= t <= 2.0 for t in found), found
    # The last measurement attempt is written untagged (what the reference tools read).
    lines = hlog.read_text().splitlines()
    assert sum(not line.startswith(("Tag=", "#", '"')) for line in lines) == 12


def test_benchmark_options_without_a_benchmark_are_refused() -> None:
    one_line_error(cli("tcp", "127.0.0.1:9", "-n", "1", "--hlog", "x.hlog"), "--warmup")
    one_line_error(cli("tcp", "127.0.0.1:9", "-n", "1", "--watch", "p50"), "--watch", "--warmup")


def test_watch_names_the_metrics_the_driver_knows() -> None:
    from cannonade._benchmark import METRICS
    from cannonade._cli import _WATCHABLE

    assert _WATCHABLE == tuple(METRICS)
    one_line_error(cli("tcp", "127.0.0.1:9", "--warmup", "--watch", "p51"), "p51", "p99.9")
    one_line_error(cli("tcp", "127.0.0.1:9", "--warmup", "--watch", ","), "--watch")
    one_line_error(cli("tcp", "127.0.0.1:9", "--warmup", "--watch", "p50@"), "METRIC@LABEL")
    # A label is accepted by the option; the driver refuses it without a mix.
    one_line_error(
        cli("tcp", "127.0.0.1:9", "--warmup", "--watch", "p99@home"), "plan sends one request"
    )
    one_line_error(
        cli("tcp", "127.0.0.1:9", "--warmup", "--warmup-min", "10", "--warmup-max", "5"),
        "max_s",
    )


@pytest.mark.parametrize("option", ["--json", "--hlog"])
def test_an_unwritable_output_path_fails_before_the_load(
    option: str, tmp_path: Path, unused_port: int
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    marker = tmp_path / "server-started"
    server = f"sh -c 'touch {marker}; exec {RUST_TESTEE} echo --port {{port}}'"
    for path, words in [
        ("/nonexistent/dir/x.out", ["/nonexistent/dir", "create the directory"]),
        (str(a_file / "x.out"), ["Not a directory"]),
        (str(tmp_path), ["is a directory"]),
    ]:
        # The target does not listen: had the load started, the error would say so.
        target = f"127.0.0.1:{unused_port}"
        args = ["tcp", target, "-n", "1", option, path]
        if option == "--hlog":
            args += ["--server", server]
        proc = cli(*args)
        one_line_error(proc, option, path, *words)
        assert target not in proc.stderr
        assert not marker.exists(), "the server was started before the paths were checked"
    assert a_file.read_text() == ""


def test_an_output_path_that_exists_is_kept_until_written(
    rust_echo: Server, tmp_path: Path
) -> None:
    out = tmp_path / "r.json"
    out.write_text("old")
    fresh = tmp_path / "fresh.json"
    # Refused for another reason after the check: neither file is touched.
    proc = cli("tcp", rust_echo.address, "-c", "0", "--json", str(out))
    assert proc.returncode == 2 and out.read_text() == "old"
    proc = cli("tcp", rust_echo.address, "-c", "0", "--json", str(fresh))
    assert proc.returncode == 2 and not fresh.exists()
