"""pytest plugin: warm a server up, measure it, and assert on the results in a test.

Installed with cannonade (entry point ``pytest11``), so the fixture is there in
every pytest run of the environment::

    import cannonade

    def test_echo_server_is_fast(cannonade_benchmark):
        server = cannonade.Server(["pypy3", "server.py", "--port", "{port}"])
        plan = cannonade.Plan("127.0.0.1:9000", cannonade.Tcp(payload_bytes=64),
                              connections=32, duration_s=1)
        result = cannonade_benchmark(plan, server, measure_s=20)
        assert result.classification in ("flat", "warmup")
        assert result.steady["requests_per_s"].low > 20_000

Each result's report is printed in pytest's terminal summary. ``--cannonade-save
DIR`` also writes every result as JSON and as an HdrHistogram interval log.
Servers and load still running when a test ends (by a failure, say) are stopped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

import pytest

if TYPE_CHECKING:
    from ._benchmark import BenchmarkResult

_REPORTS = pytest.StashKey[list[tuple[str, str]]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cannonade", "cannonade load benchmarks")
    group.addoption(
        "--cannonade-save",
        metavar="DIR",
        default=None,
        help="write each benchmark result to DIR as JSON and as an HdrHistogram interval log",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_REPORTS] = []


@pytest.fixture
def cannonade_benchmark(request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """Run ``cannonade.Benchmark(plan, server, **settings).run()`` and return its result.

    Takes the same arguments as :class:`cannonade.Benchmark`. Call it more than once
    to compare (``cannonade.compare(a, b)``).
    """
    from ._benchmark import Benchmark

    started: list[Benchmark] = []
    save: Optional[str] = request.config.getoption("--cannonade-save")

    def benchmark(plan: Any, server: Any = None, **settings: Any) -> BenchmarkResult:
        bench = Benchmark(plan, server, **settings)
        started.append(bench)
        result = bench.run()
        name = f"{request.node.nodeid} (benchmark {len(started)})"
        request.config.stash[_REPORTS].append((name, result.format()))
        if save:
            stem = re.sub(r"[^A-Za-z0-9_-]+", "_", request.node.nodeid).strip("_")
            out = Path(save)
            out.mkdir(parents=True, exist_ok=True)
            base = f"{stem}-{len(started)}"
            (out / f"{base}.json").write_text(result.to_json() + "\n", encoding="utf-8")
            result.write_hlog(out / f"{base}.hlog")
        return result

    yield benchmark
    for bench in started:
        bench.close()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    reports = config.stash.get(_REPORTS, [])
    if not reports:
        return
    terminalreporter.section("cannonade benchmarks")
    for name, text in reports:
        terminalreporter.write_line(name)
        for line in text.splitlines():
            terminalreporter.write_line("  " + line)
        terminalreporter.write_line("")
