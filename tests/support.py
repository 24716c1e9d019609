"""Helpers shared by the tests: starting testees, bounded runs, histogram decoding."""

from __future__ import annotations

import math
import os
import selectors
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

import cannonade

REPO = Path(__file__).resolve().parent.parent
RUST_TESTEE = Path(
    os.environ.get("CANNONADE_TESTEE_BIN", REPO / "target" / "release" / "cannonade-testee")
)
PYPY = Path(os.environ.get("CANNONADE_PYPY", REPO / ".venv-pypy" / "bin" / "python"))
# Generous: PyPy plus Twisted can take a few seconds to start on a small VM.
STARTUP_TIMEOUT_S = 60.0
# Upper bound for any single run in the tests; runs are sized to finish far sooner.
RUN_TIMEOUT_S = 120.0


@dataclass
class Server:
    name: str
    address: str
    process: subprocess.Popen

    @property
    def port(self) -> int:
        return int(self.address.rsplit(":", 1)[1])


def rust_testee_argv() -> list[str]:
    if not RUST_TESTEE.is_file():
        pytest.fail(
            f"Rust testee {RUST_TESTEE} not found: run `cargo build --release -p cannonade-testee` "
            f"(or set CANNONADE_TESTEE_BIN)",
            pytrace=False,
        )
    return [str(RUST_TESTEE), "echo"]


def pypy_argv() -> list[str]:
    if not PYPY.is_file():
        pytest.fail(
            f"PyPy interpreter {PYPY} not found: run .ci/bootstrap (or set CANNONADE_PYPY)",
            pytrace=False,
        )
    return [str(PYPY)]


def twisted_testee_argv() -> list[str]:
    return [*pypy_argv(), "-m", "cannonade.testees.echo"]


def _read_line(proc: subprocess.Popen, timeout_s: float) -> bytes:
    """The first stdout line, or what arrived before the deadline / process exit."""
    assert proc.stdout is not None
    data = b""
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while b"\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                break
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            data += chunk
    return data


def stop_process(proc: subprocess.Popen) -> int:
    """SIGTERM, then SIGKILL if it lingers; returns the exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    if proc.stdout is not None:
        proc.stdout.close()
    return proc.returncode


def start_server(name: str, argv: list[str]) -> Server:
    stderr = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [*argv, "--host", "127.0.0.1", "--port", "0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,
    )
    line = _read_line(proc, STARTUP_TIMEOUT_S)
    prefix = b"listening on "
    if not line.startswith(prefix) or not line.endswith(b"\n"):
        stop_process(proc)
        stderr.seek(0)
        pytest.fail(
            f"{name} ({' '.join(argv)}) did not print 'listening on HOST:PORT' within "
            f"{STARTUP_TIMEOUT_S:.0f}s; stdout {line!r}; stderr:\n"
            f"{stderr.read().decode(errors='replace')}",
            pytrace=False,
        )
    stderr.close()
    return Server(name, line[len(prefix) :].decode().strip(), proc)


#: The testees under PyPy, by protocol (the native one serves all of them).
PYPY_TESTEES = {
    "http": "cannonade.testees.http",
    "ws": "cannonade.testees.ws",
    "echo": "cannonade.testees.echo",
}


def testee_argv(impl: str, kind: str, *extra: str) -> list[str]:
    """The command of a testee: ``impl`` "rust" (native) or a PyPy one (twisted,
    autobahn), serving ``kind`` (http, ws, echo)."""
    if impl == "rust":
        return [rust_testee_argv()[0], kind, *extra]
    return [*pypy_argv(), "-m", PYPY_TESTEES[kind], *extra]


def start_testee(impl: str, kind: str, *extra: str) -> Server:
    return start_server(f"{impl} {kind} testee", testee_argv(impl, kind, *extra))


class SharedTestees:
    """Testees with default options, started on first use and shared (a module-scoped
    fixture holds one and calls :meth:`close` at its teardown)."""

    def __init__(self) -> None:
        self._servers: dict[tuple[str, str], Server] = {}

    def get(self, impl: str, kind: str) -> Server:
        if (impl, kind) not in self._servers:
            self._servers[impl, kind] = start_testee(impl, kind)
        return self._servers[impl, kind]

    def close(self) -> None:
        for server in self._servers.values():
            stop_process(server.process)


def run_bounded(plan: cannonade.Plan, timeout_s: float = RUN_TIMEOUT_S) -> cannonade.Result:
    """Like cannonade.run, but a run that hangs fails the test instead of the session."""
    with cannonade.start(plan) as run:
        result = run.wait(timeout_s)
        if result is None:
            pytest.fail(f"run did not finish within {timeout_s}s: {plan}")
    return result


# --- HdrHistogram V2 (deflate) decoding -------------------------------------------
# A small independent reader, so the tests check the bytes against the format
# rather than against the library that wrote them.
_V2_COOKIE = 0x1C849303
_V2_COMPRESSED_COOKIE = 0x1C849304


@dataclass
class DecodedHistogram:
    significant_figures: int
    lowest_discernible: int
    highest_trackable: int
    counts: dict[int, int]  # bucket index -> count (non-zero only)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def _layout(self) -> tuple[int, int]:
        largest_single_unit = 2 * 10**self.significant_figures
        sub_bucket_count_magnitude = math.ceil(math.log2(largest_single_unit))
        half_magnitude = max(sub_bucket_count_magnitude, 1) - 1
        unit_magnitude = int(math.floor(math.log2(self.lowest_discernible)))
        return half_magnitude, unit_magnitude

    def value_range(self, index: int) -> tuple[int, int]:
        """The lowest and highest value counted in bucket ``index``."""
        half_magnitude, unit_magnitude = self._layout()
        half_count = 1 << half_magnitude
        bucket = (index >> half_magnitude) - 1
        sub_bucket = (index & (half_count - 1)) + half_count
        if bucket < 0:
            sub_bucket -= half_count
            bucket = 0
        shift = bucket + unit_magnitude
        return sub_bucket << shift, ((sub_bucket + 1) << shift) - 1


def _zigzag_varint(data: bytes, pos: int) -> tuple[int, int]:
    # LEB128, at most 9 bytes; the 9th byte contributes all 8 of its bits.
    value = 0
    for i in range(9):
        byte = data[pos]
        pos += 1
        if i == 8:
            value |= byte << 56
            break
        value |= (byte & 0x7F) << (7 * i)
        if byte < 0x80:
            break
    return (value >> 1) ^ -(value & 1), pos


def decode_histogram(blob: bytes) -> DecodedHistogram:
    cookie, length = struct.unpack_from(">II", blob, 0)
    assert cookie & ~0xF0 == _V2_COMPRESSED_COOKIE, f"not a V2 deflate histogram: {cookie:#x}"
    inner = zlib.decompress(blob[8 : 8 + length])
    cookie, payload_len, offset, sigfigs, lowest, highest, ratio = struct.unpack_from(
        ">IIIIqqd", inner, 0
    )
    assert cookie & ~0xF0 == _V2_COOKIE, f"bad V2 encoding cookie {cookie:#x}"
    assert offset == 0 and ratio == 1.0, (offset, ratio)
    payload = inner[40 : 40 + payload_len]
    assert len(payload) == payload_len, "truncated histogram payload"
    counts: dict[int, int] = {}
    index = pos = 0
    while pos < len(payload):
        value, pos = _zigzag_varint(payload, pos)
        if value < 0:  # a run of -value empty buckets
            index += -value
        else:
            if value:
                counts[index] = value
            index += 1
    return DecodedHistogram(sigfigs, lowest, highest, counts)


def cli(*args: str) -> subprocess.CompletedProcess:
    """Run the installed CLI (``python -m cannonade``) with this interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "cannonade", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",  # the installed package, not the source tree
    )
