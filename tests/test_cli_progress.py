"""Progress while the load runs: a live line on a terminal, a line per interval otherwise,
nothing with --quiet. The terminal is a real pseudo-terminal (``os.openpty``)."""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time

import pytest

from support import RUST_TESTEE, Server, cli

# A bound against hangs only.
EXIT_TIMEOUT_S = 120.0
INTERVAL_LINE = re.compile(r"^  main +\d+\.\d+s +[\d,]+ req/s  p50 +\S+  p99 +\S+", re.M)


def _on_a_terminal(*args: str) -> tuple[int, str]:
    """Run the CLI with its stdout on a pseudo-terminal; return (status, what it showed)."""
    master, slave = os.openpty()
    # A terminal as wide as a usual one (a new pseudo-terminal says 0 x 0).
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cannonade", *args],
            stdin=subprocess.DEVNULL,
            stdout=slave,
            stderr=subprocess.PIPE,
            cwd="/",
        )
    finally:
        os.close(slave)
    chunks = []
    deadline = time.monotonic() + EXIT_TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
        _, err = proc.communicate(timeout=EXIT_TIMEOUT_S)
    assert proc.returncode == 0, err
    return proc.returncode, b"".join(chunks).decode("utf-8", "replace")


def test_without_a_terminal_each_interval_is_a_line(rust_echo: Server) -> None:
    proc = cli("tcp", rust_echo.address, "-c", "2", "-d", "2")
    assert proc.returncode == 0, proc.stderr
    assert len(INTERVAL_LINE.findall(proc.stdout)) >= 2, proc.stdout
    assert "\r" not in proc.stdout and "\x1b" not in proc.stdout
    summary = proc.stdout.index("tcp run @")
    assert all(m.start() < summary for m in INTERVAL_LINE.finditer(proc.stdout))


def test_quiet_shows_no_progress_only_the_summary(rust_echo: Server) -> None:
    proc = cli("tcp", rust_echo.address, "-c", "2", "-d", "2", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert not INTERVAL_LINE.search(proc.stdout), proc.stdout
    assert proc.stdout.startswith("2.") and "tcp run @" in proc.stdout
    _, shown = _on_a_terminal("tcp", rust_echo.address, "-c", "2", "-d", "2", "-q")
    assert "\x1b[K" not in shown and "tcp run @" in shown


def test_on_a_terminal_one_line_is_updated_in_place(rust_echo: Server) -> None:
    _, shown = _on_a_terminal("tcp", rust_echo.address, "-c", "2", "-d", "3")
    updates = re.findall(r"\rmain +(\d+\.\d)s  [\d,]+ req/s  p99 \S+  errors (\d+)\x1b\[K", shown)
    assert len(updates) >= 2, repr(shown[:500])
    assert [float(t) for t, _ in updates] == sorted(float(t) for t, _ in updates)
    # Carriage returns only between the updates: the line never scrolls.
    first = shown.index("\rmain")
    cleared = shown.index("\r\x1b[K", first)
    assert "\n" not in shown[first:cleared]
    # Then the live line is erased and the summary takes its place.
    assert shown[cleared + len("\r\x1b[K") :].lstrip().startswith("3.")
    assert not INTERVAL_LINE.search(shown)


@pytest.mark.once
def test_a_benchmark_on_a_terminal_shows_its_phase(tmp_path) -> None:  # type: ignore[no-untyped-def]
    server = f"{RUST_TESTEE} echo --port {{port}}"
    _, shown = _on_a_terminal(
        "tcp", "127.0.0.1:9", "--server", server, "-c", "4", "-R", "400",
        "--interval", "250ms", "--warmup-min", "1.5", "--warmup-max", "4", "--window", "1.5",
        "--measure", "3",
    )  # fmt: skip
    phases = re.findall(
        r"\r(warmup|measure)\S* +\d+\.\ds  [\d,]+ req/s  p99 \S+  errors \d+", shown
    )
    assert "warmup" in phases and "measure" in phases, repr(shown[:500])
    assert "classification: " in shown
    lines = shown.replace("\r\n", "\n")
    assert not re.search(r"^  (warmup|measure)\S* +\d+\.\ds", lines, re.M)
