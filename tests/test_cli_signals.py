"""python -m cannonade under signals and server faults: the load and the server stop, and
what was measured is printed and written (JSON, interval log), marked as interrupted."""

from __future__ import annotations

import json
import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cannonade import Result

from support import RUST_TESTEE, Server

# Only bounds against hangs: nothing here is timed.
EXIT_TIMEOUT_S = 60.0
GONE_TIMEOUT_S = 30.0
START_TIMEOUT_S = 90.0


class Cli:
    """The CLI in a subprocess, its stdout read line by line as it comes."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cannonade", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd="/",  # the installed package, not the source tree
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stdout: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def wait_for(self, text: str, count: int = 1) -> None:
        """Return once ``count`` stdout lines have held ``text``."""
        deadline = time.monotonic() + START_TIMEOUT_S
        seen = sum(text in line for line in self.stdout)
        while seen < count:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                self.kill()
                pytest.fail(f"no {count} lines with {text!r} in {START_TIMEOUT_S:.0f} s")
            self.stdout.append(line)
            seen += text in line
            if self.proc.poll() is not None and self.lines.empty():
                break
        assert seen >= count, ("".join(self.stdout), self.stderr())

    def count(self, text: str) -> int:
        return sum(text in line for line in self.stdout)

    def finish(self) -> tuple[int, str, str]:
        """Wait for the CLI to exit: (status, stdout, stderr)."""
        try:
            self.proc.wait(EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"the CLI did not exit within {EXIT_TIMEOUT_S:.0f} s of the signal")
        self._reader.join(10)
        while not self.lines.empty():
            self.stdout.append(self.lines.get())
        return self.proc.returncode, "".join(self.stdout), self.stderr()

    def stderr(self) -> str:
        assert self.proc.stderr is not None
        return self.proc.stderr.read() if self.proc.poll() is not None else ""

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            state = stat.read().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in (b"Z", b"X")


def _wait_gone(pid: int) -> bool:
    deadline = time.monotonic() + GONE_TIMEOUT_S
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _server_command(pidfile: Path, *extra: str) -> str:
    """The native testee behind a shell that writes its pid (``exec`` keeps the pid)."""
    testee = " ".join(shlex.quote(a) for a in [str(RUST_TESTEE), "echo", *extra])
    script = f"echo $$ > {shlex.quote(str(pidfile))}; exec {testee} --port {{port}}"
    return f"sh -c {shlex.quote(script)}"


def _server_pid(pidfile: Path) -> int:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not pidfile.exists() or not pidfile.read_text().strip():
        assert time.monotonic() < deadline, "the server never started"
        time.sleep(0.05)
    return int(pidfile.read_text())


def _benchmark(tmp_path: Path, *extra: str) -> tuple[Cli, int, Path, Path]:
    pidfile, out, hlog = tmp_path / "server.pid", tmp_path / "b.json", tmp_path / "b.hlog"
    cli = Cli(
        "tcp", "127.0.0.1:9", "--server", _server_command(pidfile), "-c", "4", "-R", "400",
        "--interval", "250ms", "--json", str(out), "--hlog", str(hlog), *extra,
    )  # fmt: skip
    return cli, _server_pid(pidfile), out, hlog


def _cleanup(pid: int) -> None:
    if _alive(pid):
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _check_benchmark_files(out: Path, hlog: Path, stopped_by: str) -> dict:
    data = json.loads(out.read_text())
    assert data["kind"] == "benchmark" and data["stopped_by"] == stopped_by, data.get("error")
    execution = data["executions"][-1]
    assert execution["error"] and execution["intervals"]
    for row in execution["intervals"]:
        assert row["histogram_v2_base64"]
    # The run's result inside reads back with the loader.
    Result.from_dict(execution["result"])
    # Every interval once: the measured ones untagged, the others tagged with their phase.
    lines = [line for line in hlog.read_text().splitlines() if not line.startswith(("#", '"'))]
    assert len(lines) == sum(len(e["intervals"]) for e in data["executions"])
    return data


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_in_warmup_stops_load_and_server_and_keeps_the_data(
    sig: signal.Signals, tmp_path: Path
) -> None:
    cli, pid, out, hlog = _benchmark(tmp_path, "--warmup-min", "60", "--warmup-max", "120")
    try:
        cli.wait_for("  warmup ", count=3)
        cli.proc.send_signal(sig)
        status, stdout, stderr = cli.finish()
        assert _wait_gone(pid), f"server {pid} still runs after the CLI got {sig.name}"
    finally:
        cli.kill()
        _cleanup(pid)
    assert status == 128 + sig, (status, stderr)
    assert f"interrupted by {sig.name}" in stderr
    assert "Traceback" not in stderr
    assert f"stopped early: interrupted by {sig.name}" in stdout, stdout
    data = _check_benchmark_files(out, hlog, "interrupted")
    assert len(data["executions"][0]["intervals"]) >= 3
    phases = {row["phase"] for row in data["executions"][0]["intervals"]}
    assert "warmup" in phases and "measure" not in phases, phases


def test_ctrl_c_in_the_measurement_keeps_the_measured_intervals(tmp_path: Path) -> None:
    cli, pid, out, hlog = _benchmark(
        tmp_path, "--warmup-min", "1", "--warmup-max", "3", "--window", "2", "--measure", "120"
    )
    try:
        cli.wait_for("  measure ", count=2)
        cli.proc.send_signal(signal.SIGINT)
        status, stdout, stderr = cli.finish()
        assert _wait_gone(pid)
    finally:
        cli.kill()
        _cleanup(pid)
    assert status == 130, stderr
    data = _check_benchmark_files(out, hlog, "interrupted")
    phases = [row["phase"] for row in data["executions"][0]["intervals"]]
    assert phases.count("measure") >= 2, phases
    # The measured intervals are the untagged lines (what the reference tools read).
    lines = hlog.read_text().splitlines()
    assert sum(not line.startswith(("Tag=", "#", '"')) for line in lines) >= 2
    assert "measured " in stdout  # the measured phase's summary line


def test_an_interrupted_second_execution_keeps_the_first(tmp_path: Path) -> None:
    cli, first_pid, out, hlog = _benchmark(
        tmp_path, "--warmup-min", "2", "--warmup-max", "3", "--window", "2",
        "--measure", "3", "--executions", "2",
    )  # fmt: skip
    pid = first_pid
    try:
        cli.wait_for("  measure ", count=4)
        cli.wait_for("  warmup ", count=cli.count("  warmup ") + 2)
        pid = _server_pid(tmp_path / "server.pid")
        cli.proc.send_signal(signal.SIGINT)
        status, stdout, stderr = cli.finish()
        assert _wait_gone(pid) and not _alive(first_pid)
    finally:
        cli.kill()
        _cleanup(pid)
    assert status == 130, stderr
    data = _check_benchmark_files(out, hlog, "interrupted")
    first, second = data["executions"]
    assert first["error"] is None and second["error"] == "interrupted by SIGINT"
    assert [e["index"] for e in data["executions"]] == [1, 2]
    assert "execution 1: " in stdout and "execution 2: " in stdout


def test_a_server_that_exits_in_warmup_is_reported_with_the_data(tmp_path: Path) -> None:
    pidfile, out, hlog = tmp_path / "server.pid", tmp_path / "b.json", tmp_path / "b.hlog"
    cli = Cli(
        "tcp", "127.0.0.1:9", "--server", _server_command(pidfile, "--exit-after-ms", "2000"),
        "-c", "4", "-R", "400", "--interval", "250ms", "--warmup-min", "60",
        "--warmup-max", "120", "--json", str(out), "--hlog", str(hlog),
    )  # fmt: skip
    try:
        status, stdout, stderr = cli.finish()
    finally:
        cli.kill()
    assert status == 2, (status, stderr)
    assert stderr.startswith("cannonade: error: ") and "Traceback" not in stderr
    assert "stopped early: " in stdout
    data = _check_benchmark_files(out, hlog, "error")
    assert "exit" in data["error"]


def _engine_threads(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_stops_a_plain_run_and_keeps_its_result(
    sig: signal.Signals, rust_echo: Server, tmp_path: Path
) -> None:
    out = tmp_path / "r.json"
    cli = Cli("tcp", rust_echo.address, "-c", "2", "-t", "2", "-d", "120", "--json", str(out))
    try:
        # The engine's worker threads are up: the load runs.
        deadline = time.monotonic() + START_TIMEOUT_S
        while _engine_threads(cli.proc.pid) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        cli.proc.send_signal(sig)
        status, stdout, stderr = cli.finish()
    finally:
        cli.kill()
    assert status == 128 + sig, stderr
    assert "stopped by interrupted" in stdout
    result = Result.from_file(out)
    assert result.stopped_by == "interrupted"
    assert result.duration_s < 120
