"""cannonade: heavy networking artillery for benchmarking servers that run on a JIT.

A Rust engine generates socket load and times every request; this package
describes runs as frozen :class:`Plan` objects and returns frozen
:class:`Result` objects::

    import cannonade

    plan = cannonade.Plan("127.0.0.1:9000", cannonade.Tcp(payload_bytes=64),
                          connections=32, duration_s=5)
    print(cannonade.run(plan).format())

    # HTTP/1.1 and WebSocket: the protocol follows from the URL (Http() / Ws()).
    cannonade.run(cannonade.Plan("http://127.0.0.1:8080/", requests=10_000))
    cannonade.run(cannonade.Plan("ws://127.0.0.1:8081/", cannonade.Ws(message_bytes=512),
                                 duration_s=5))

Importing the package loads the native library and fails with
:class:`AbiMismatchError` if it does not match this package; the rest of the package is
imported when a name is first used.
"""

import importlib as _importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from . import _backend
from ._backend import library_version
from ._errors import (
    AbiMismatchError,
    AnalysisError,
    CannonadeError,
    ConnectError,
    InternalError,
    PlanError,
    ResultError,
    RunError,
    ServerError,
)
from ._version import ABI_VERSION, __version__

# The native library is loaded now, so that a package and library that do not match
# fail at import (AbiMismatchError), as they always have; the rest of the package is
# imported on first use of a name (PEP 562), so that `import cannonade` and the command
# line start quickly under PyPy (most of a short run's time is import otherwise).
_backend.current()

#: Public name -> the module that defines it, imported when the name is first used.
_LAZY: dict[str, str] = {
    "METRICS": "._benchmark",
    "Attempt": "._benchmark",
    "Benchmark": "._benchmark",
    "BenchmarkResult": "._benchmark",
    "Comparison": "._benchmark",
    "Execution": "._benchmark",
    "GeneratorNoise": "._benchmark",
    "MetricComparison": "._benchmark",
    "Replay": "._benchmark",
    "ServerInterval": "._benchmark",
    "Warmup": "._benchmark",
    "compare": "._benchmark",
    "HotSpotCompile": "._hotspotlog",
    "HotSpotIntervalEvents": "._hotspotlog",
    "HotSpotLogReader": "._hotspotlog",
    "write_compare_html": "._html",
    "write_html": "._html",
    "load": "._load",
    "merge": "._merge",
    "run_mpi": "._mpi",
    "split_plan": "._mpi",
    "MAX_LABELS": "._plan",
    "MAX_PAYLOAD_BYTES": "._plan",
    "Entry": "._plan",
    "Http": "._plan",
    "Plan": "._plan",
    "Tcp": "._plan",
    "Ws": "._plan",
    "EventStats": "._pypylog",
    "IntervalEvents": "._pypylog",
    "PypyLogEvent": "._pypylog",
    "PypyLogReader": "._pypylog",
    "format_ns": "._report",
    "ErrorMessage": "._result",
    "Errors": "._result",
    "IdleConnections": "._result",
    "Interval": "._result",
    "Labels": "._result",
    "LabelStats": "._result",
    "Latency": "._result",
    "MixInfo": "._result",
    "Phase": "._result",
    "Rank": "._result",
    "Result": "._result",
    "TlsHandshakes": "._result",
    "Run": "._run",
    "run": "._run",
    "start": "._run",
    "start_json": "._run",
    "ProcessSample": "._server",
    "Server": "._server",
    "Estimate": "._stats",
    "Ratio": "._stats",
    "Segment": "._steady",
    "SeriesAnalysis": "._steady",
}

if _TYPE_CHECKING:  # what type checkers and editors see
    from ._benchmark import (
        METRICS,
        Attempt,
        Benchmark,
        BenchmarkResult,
        Comparison,
        Execution,
        GeneratorNoise,
        MetricComparison,
        Replay,
        ServerInterval,
        Warmup,
        compare,
    )
    from ._hotspotlog import HotSpotCompile, HotSpotIntervalEvents, HotSpotLogReader
    from ._html import write_compare_html, write_html
    from ._load import load
    from ._merge import merge
    from ._mpi import run_mpi, split_plan
    from ._plan import (
        MAX_LABELS,
        MAX_PAYLOAD_BYTES,
        Entry,
        Http,
        Plan,
        Tcp,
        Ws,
    )
    from ._pypylog import (
        EventStats,
        IntervalEvents,
        PypyLogEvent,
        PypyLogReader,
    )
    from ._report import format_ns
    from ._result import (
        ErrorMessage,
        Errors,
        IdleConnections,
        Interval,
        Labels,
        LabelStats,
        Latency,
        MixInfo,
        Phase,
        Rank,
        Result,
        TlsHandshakes,
    )
    from ._run import (
        Run,
        run,
        start,
        start_json,
    )
    from ._server import ProcessSample, Server
    from ._stats import Estimate, Ratio
    from ._steady import Segment, SeriesAnalysis


def __getattr__(name: str) -> _Any:
    module = _LAZY.get(name)
    if module is None:
        if name.startswith("_") and not name.startswith("__"):
            # A submodule (cannonade._plan ...): an attribute once imported, as before.
            try:
                return _importlib.import_module(f".{name}", __name__)
            except ModuleNotFoundError as error:
                if error.name != f"{__name__}.{name}":
                    raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(module, __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "ABI_VERSION",
    "MAX_LABELS",
    "MAX_PAYLOAD_BYTES",
    "METRICS",
    "AbiMismatchError",
    "AnalysisError",
    "Attempt",
    "Benchmark",
    "BenchmarkResult",
    "CannonadeError",
    "Comparison",
    "ConnectError",
    "Entry",
    "ErrorMessage",
    "Errors",
    "Estimate",
    "EventStats",
    "Execution",
    "GeneratorNoise",
    "HotSpotCompile",
    "HotSpotIntervalEvents",
    "HotSpotLogReader",
    "Http",
    "IdleConnections",
    "InternalError",
    "Interval",
    "IntervalEvents",
    "LabelStats",
    "Labels",
    "Latency",
    "MetricComparison",
    "MixInfo",
    "Phase",
    "Plan",
    "PlanError",
    "ProcessSample",
    "PypyLogEvent",
    "PypyLogReader",
    "Ratio",
    "Replay",
    "Rank",
    "Result",
    "ResultError",
    "Run",
    "RunError",
    "Segment",
    "SeriesAnalysis",
    "Server",
    "ServerError",
    "ServerInterval",
    "Tcp",
    "TlsHandshakes",
    "Warmup",
    "Ws",
    "__version__",
    "compare",
    "format_ns",
    "library_version",
    "load",
    "merge",
    "run",
    "run_mpi",
    "split_plan",
    "start",
    "start_json",
    "write_compare_html",
    "write_html",
]
