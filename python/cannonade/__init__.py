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
:class:`AbiMismatchError` if it does not match this package.
"""

from ._backend import library_version
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
from ._hotspotlog import HotSpotCompile, HotSpotIntervalEvents, HotSpotLogReader
from ._html import write_compare_html, write_html
from ._load import load
from ._merge import merge
from ._mpi import run_mpi, split_plan
from ._plan import MAX_PAYLOAD_BYTES, Http, Plan, Tcp, Ws
from ._pypylog import EventStats, IntervalEvents, PypyLogEvent, PypyLogReader
from ._report import format_ns
from ._result import (
    ErrorMessage,
    Errors,
    IdleConnections,
    Interval,
    Latency,
    Phase,
    Rank,
    Result,
    TlsHandshakes,
)
from ._run import Run, run, start, start_json
from ._server import ProcessSample, Server
from ._stats import Estimate, Ratio
from ._steady import Segment, SeriesAnalysis
from ._version import ABI_VERSION, __version__

__all__ = [
    "ABI_VERSION",
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
    "Latency",
    "MetricComparison",
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
