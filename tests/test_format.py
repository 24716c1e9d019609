"""The saved formats: JSON Schemas, loaders, round trips, older versions and corruption.

Every kind of file the project writes (a run's and a benchmark's --json, interrupted
ones, one stopped by a server error, a merged run) is produced for real by the CLI
against the native testee and validated with ``jsonschema`` against the schema the
package ships; a broken file must fail the same validation.
"""

from __future__ import annotations

import copy
import json
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema  # installed into both test venvs by .ci/bootstrap
import pytest
import referencing  # jsonschema's own dependency, for the schemas' cross-reference

import cannonade
from cannonade import BenchmarkResult, Result, ResultError

from support import RUST_TESTEE, Server, cli

SCHEMAS = Path(cannonade.__file__).resolve().parent / "schemas"
# Bounds against hangs only: nothing here is timed.
START_TIMEOUT_S = 90.0
EXIT_TIMEOUT_S = 60.0


def _schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))


def _validator(kind: str) -> Any:
    run, bench = _schema("run"), _schema("benchmark")
    registry = referencing.Registry().with_resources(
        [(s["$id"], referencing.Resource.from_contents(s)) for s in (run, bench)]
    )
    return jsonschema.Draft202012Validator(bench if kind == "benchmark" else run, registry=registry)


def _errors(data: Any) -> list[str]:
    kind = "benchmark" if isinstance(data, dict) and data.get("kind") == "benchmark" else "run"
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:160]}"
        for e in _validator(kind).iter_errors(data)
    ]


def _assert_valid(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    problems = _errors(data)
    assert not problems, (path.name, problems[:10])
    return data


# --- the schemas themselves --------------------------------------------------------


def test_the_package_ships_both_schemas_as_valid_draft_2020_12() -> None:
    for name in ("run", "benchmark"):
        schema = _schema(name)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        jsonschema.Draft202012Validator.check_schema(schema)
    assert _schema("run")["properties"]["schema_version"] == {"const": 3}
    assert _schema("benchmark")["properties"]["schema_version"] == {
        "const": cannonade._benchmark.BENCHMARK_SCHEMA_VERSION
    }


# --- files written for real ----------------------------------------------------------


class _Cli:
    """The CLI in a subprocess whose stdout is read line by line (to signal it mid-way)."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cannonade", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd="/",
        )

    def wait_for(self, text: str, count: int) -> None:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        seen = 0
        for line in self.proc.stdout:  # the CLI flushes every line
            seen += text in line
            if seen >= count or time.monotonic() > deadline:
                break
        assert seen >= count, (text, self.proc.stderr.read() if self.proc.stderr else "")

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.communicate(timeout=EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            pytest.fail("the CLI did not stop after SIGINT")
        return self.proc.returncode


def _bench_args(server: str, out: Path, *extra: str) -> list[str]:
    return [
        "tcp", "127.0.0.1:9", "--server", server, "-c", "4", "-R", "400", "--interval", "250ms",
        "--window", "1.5", "--measure", "3", "--json", str(out), *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def written(
    rust_echo: Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Path]]:
    """Every kind of file the project writes, by the CLI, against the native testee."""
    tmp = tmp_path_factory.mktemp("written")
    files = {name: tmp / f"{name}.json" for name in (
        "run", "run_b", "interrupted_run", "benchmark", "interrupted_benchmark",
        "server_error_benchmark", "merged",
    )}  # fmt: skip
    server = f"{RUST_TESTEE} echo --port {{port}}"
    run = ["tcp", rust_echo.address, "-c", "2", "-d", "2"]
    # Two runs side by side, as two processes would: these are the parts of the merge.
    side = subprocess.Popen(
        [sys.executable, "-m", "cannonade", *run, "--json", str(files["run_b"])],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd="/",
    )
    proc = cli(*run, "--json", str(files["run"]))
    assert proc.returncode == 0, proc.stderr
    assert side.wait(EXIT_TIMEOUT_S) == 0
    proc = cli("merge", str(files["run"]), str(files["run_b"]), "-o", str(files["merged"]))
    assert proc.returncode == 0, proc.stderr

    live = _Cli(
        "tcp", rust_echo.address, "-c", "2", "-d", "60", "--json", str(files["interrupted_run"])
    )
    live.wait_for(" req/s", 1)
    assert live.interrupt() == 130

    proc = cli(*_bench_args(server, files["benchmark"], "--warmup-min", "1.5", "--warmup-max", "6"))
    assert proc.returncode == 0, proc.stderr

    live = _Cli(*_bench_args(server, files["interrupted_benchmark"], "--warmup-min", "60"))
    live.wait_for("  warmup ", 3)
    assert live.interrupt() == 130

    # A server that exits by itself two seconds in, during the warm-up.
    dying = f"timeout 2 {shlex.quote(str(RUST_TESTEE))} echo --port {{port}}"
    proc = cli(*_bench_args(dying, files["server_error_benchmark"], "--warmup-min", "60"))
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    yield files


@pytest.mark.once
@pytest.mark.parametrize(
    "name",
    ["run", "interrupted_run", "merged", "benchmark", "interrupted_benchmark",
     "server_error_benchmark"],
)  # fmt: skip
def test_every_written_file_validates_and_loads_back(written: dict[str, Path], name: str) -> None:
    data = _assert_valid(written[name])
    loaded = cannonade.load(written[name])
    if name.endswith("benchmark"):
        assert isinstance(loaded, BenchmarkResult)
        stopped = {"benchmark": None, "interrupted_benchmark": "interrupted"}
        assert data["stopped_by"] == stopped.get(name, "error")
        assert loaded.stopped_by == data["stopped_by"]
        env = data["environment"]
        assert env["cannonade"]["version"] == cannonade.__version__
        assert env["machine"]["cores"] >= 1 and env["generator"]["implementation"]
        assert env["server"]["command"][0] == str(RUST_TESTEE) or name == "server_error_benchmark"
        assert data["plan"]["interval_ms"] == 250
    else:
        assert isinstance(loaded, Result)
        assert data["stopped_by"] == {"interrupted_run": "interrupted"}.get(
            name, data["stopped_by"]
        )
        assert loaded.interval_series, "a run's --json keeps its intervals"
    # Written -> loaded -> written gives the same file.
    assert json.loads(loaded.to_json()) == data


@pytest.mark.once
def test_a_broken_file_fails_the_validation(written: dict[str, Path]) -> None:
    for name in ("run", "benchmark"):
        good = json.loads(written[name].read_text())
        assert not _errors(good)
        breakages = []
        for edit in (
            lambda d: d.update(requests="many"),
            lambda d: d.pop("schema_version"),
            lambda d: d.update(stopped_by="tired"),
            lambda d: d.update(unexpected_field=1),
        ):
            broken = copy.deepcopy(good)
            target = broken if name == "run" else broken["executions"][0]["result"]
            edit(target)
            breakages.append(broken)
        if name == "benchmark":
            broken = copy.deepcopy(good)
            broken["executions"][0]["intervals"][0]["latency_ns"]["percentiles"] = [[50.0]]
            breakages.append(broken)
            broken = copy.deepcopy(good)
            broken["classification"] = "probably fine"
            breakages.append(broken)
            broken = copy.deepcopy(good)
            broken["executions"][0]["intervals"][-1]["phase"] = "after"
            breakages.append(broken)
            broken = copy.deepcopy(good)
            broken["executions"][0]["intervals"][0]["server"] = {"cpu_s": 1}
            breakages.append(broken)
        for broken in breakages:
            assert _errors(broken), broken


# --- loaders: round trips, kinds, versions, corruption -------------------------------


@pytest.fixture(scope="module")
def saved_benchmark(written: dict[str, Path]) -> bytes:
    return written["benchmark"].read_bytes()


@pytest.mark.once
def test_a_benchmark_round_trips_to_equal_objects(saved_benchmark: bytes) -> None:
    first = BenchmarkResult.from_json(saved_benchmark)
    again = BenchmarkResult.from_json(first.to_json())
    assert again.to_json() == first.to_json()
    for a, b in zip(first.executions, again.executions):
        assert a.intervals == b.intervals and a.warmup == b.warmup and a.measured == b.measured
        assert a.analyses == b.analyses and a.attempts == b.attempts and a.result == b.result
        assert a.reasons == b.reasons and a.decisions == b.decisions
    assert again.steady == first.steady and again.warmup == first.warmup
    assert again.plan == first.plan and again.environment == first.environment
    # What a reader does with it works on the loaded object.
    assert "classification: " in again.format()
    assert again.executions[0].measure.requests > 0


def _as_version_2(data: dict[str, Any]) -> dict[str, Any]:
    """The shape the schema-2 writer gave (git history of _benchmark.py): no plan,
    environment, stopped_by or warmup_intervals; intervals with an error total."""
    old = copy.deepcopy(data)
    old["schema_version"] = 2
    for key in ("plan", "environment", "stopped_by", "error"):
        old.pop(key)
    for e in old["executions"]:
        e.pop("warmup_intervals")
        for row in e["intervals"]:
            row["errors"] = sum(row["errors"].values())
            for key in ("bytes_sent", "bytes_received", "connections_opened"):
                row.pop(key)
            row.pop("uncorrected_latency_ns")
    return old


def _as_version_1(data: dict[str, Any]) -> dict[str, Any]:
    old = _as_version_2(data)
    old["schema_version"] = 1
    for e in old["executions"]:
        for key in ("reasons", "measure_phase", "attempts", "decisions", "generator_noise"):
            e.pop(key)
    return old


@pytest.mark.once
@pytest.mark.parametrize("older", [_as_version_2, _as_version_1])
def test_older_benchmark_versions_still_load(
    saved_benchmark: bytes, older: Any, tmp_path: Path
) -> None:
    current = BenchmarkResult.from_json(saved_benchmark)
    path = tmp_path / "old.json"
    path.write_text(json.dumps(older(json.loads(saved_benchmark))))
    loaded = cannonade.load(path)
    assert isinstance(loaded, BenchmarkResult)
    assert loaded.schema_version in (1, 2) and loaded.plan is None
    mine, theirs = current.executions[0], loaded.executions[0]
    assert [i.requests for i in theirs.intervals] == [i.requests for i in mine.intervals]
    assert [i.histogram for i in theirs.intervals] == [i.histogram for i in mine.intervals]
    assert len(theirs.measured) == len(mine.measured)
    assert theirs.classification == mine.classification and loaded.steady == current.steady
    # Re-written, it is the current version, and valid.
    assert not _errors(json.loads(loaded.to_json()))


def test_bad_benchmark_files_raise_one_error_naming_the_file(tmp_path: Path) -> None:
    good = {"schema_version": 3, "kind": "benchmark", "executions": []}
    cases = {
        "empty": b"",
        "truncated": b'{"schema_version": 3, "kind": "benchmark", "executions": [',
        "not-json": b"schema_version = 3",
        "not-utf8": b'{"kind": "benchmark", "\xff": 1}',
        "array": b"[1, 2]",
        "newer": json.dumps(dict(good, schema_version=99)).encode(),
        "unknown-version": json.dumps(dict(good, schema_version="three")).encode(),
        "no-executions": json.dumps(good).encode(),
        "wrong-field": json.dumps(
            dict(good, executions=[{"index": "first", "intervals": []}])
        ).encode(),
    }
    for name, content in cases.items():
        path = tmp_path / f"{name}.json"
        path.write_bytes(content)
        with pytest.raises(ResultError) as caught:
            cannonade.load(path)
        message = str(caught.value)
        assert message.startswith(str(path)) and "\n" not in message, message
        if name == "newer":
            assert "newer" in message and "upgrade" in message
    with pytest.raises(ResultError, match="newer"):
        BenchmarkResult.from_json(cases["newer"])


@pytest.mark.once
def test_truncations_and_bit_flips_of_a_real_benchmark_are_refused_or_load(
    saved_benchmark: bytes,
) -> None:
    step = max(1, len(saved_benchmark) // 150)
    for cut in range(0, len(saved_benchmark) - 1, step):
        with pytest.raises(ResultError):
            BenchmarkResult.from_json(saved_benchmark[:cut])
    for position in range(0, len(saved_benchmark), max(1, len(saved_benchmark) // 150)):
        flipped = bytearray(saved_benchmark)
        flipped[position] ^= 0x04
        try:
            BenchmarkResult.from_json(bytes(flipped))
        except ResultError:
            pass  # refused with our error; anything else fails the test


@pytest.mark.once
def test_load_tells_runs_from_benchmarks(written: dict[str, Path]) -> None:
    assert isinstance(cannonade.load(written["run"]), Result)
    assert isinstance(cannonade.load(written["benchmark"]), BenchmarkResult)
    assert isinstance(Result.from_file(written["run"]), Result)
    assert isinstance(BenchmarkResult.from_file(written["benchmark"]), BenchmarkResult)
    with pytest.raises(ResultError):
        Result.from_file(written["benchmark"])


@pytest.mark.once
def test_merge_refuses_a_benchmark_file(written: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "merged.json"
    proc = cli("merge", str(written["run"]), str(written["benchmark"]), "-o", str(out))
    assert proc.returncode == 2 and not out.exists()
    (line,) = proc.stderr.strip().splitlines()
    assert f"cannot merge {written['benchmark']}: it is a benchmark" in line
