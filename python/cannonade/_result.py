"""Results: the engine's result JSON as frozen dataclasses, plus a wrk-like summary."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Optional, Union

from ._errors import InternalError
from ._report import format_result

__all__ = ["Errors", "Latency", "Result"]

SCHEMA_VERSION = 1


def _require(data: Mapping[str, Any], key: str, where: str) -> Any:
    try:
        return data[key]
    except (KeyError, TypeError):
        raise InternalError(
            f"result JSON has no {where}{key!r}; the package and its native library disagree "
            f"on the result format (reinstall cannonade)"
        ) from None


@dataclass(frozen=True)
class Errors:
    """Failed exchanges and connection attempts, counted by kind."""

    connect_refused: int = 0
    connect_timeout: int = 0
    connect_other: int = 0
    reset: int = 0
    closed: int = 0
    timeout: int = 0
    protocol: int = 0
    io_other: int = 0

    @property
    def total(self) -> int:
        """All errors of every kind."""
        return sum(getattr(self, f.name) for f in fields(self))

    def to_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Errors:
        return cls(**{f.name: int(_require(data, f.name, "errors.")) for f in fields(cls)})


@dataclass(frozen=True)
class Latency:
    """Latency of completed exchanges in nanoseconds, from the merged histogram.

    ``percentiles`` holds ``(percentile, value_ns)`` pairs, e.g. ``(99.0, 120000)``.
    """

    count: int
    min_ns: int
    mean_ns: float
    stdev_ns: float
    max_ns: int
    percentiles: tuple[tuple[float, int], ...]

    def percentile(self, p: float) -> int:
        """The value of an exported percentile; raises KeyError if ``p`` was not exported."""
        for q, value_ns in self.percentiles:
            if q == p:
                return value_ns
        raise KeyError(f"percentile {p} not in the result; have {[q for q, _ in self.percentiles]}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "min": self.min_ns,
            "mean": self.mean_ns,
            "stdev": self.stdev_ns,
            "max": self.max_ns,
            "percentiles": [[q, v] for q, v in self.percentiles],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Latency:
        def get(key: str) -> Any:
            return _require(data, key, "latency_ns.")

        return cls(
            count=int(get("count")),
            min_ns=int(get("min")),
            mean_ns=float(get("mean")),
            stdev_ns=float(get("stdev")),
            max_ns=int(get("max")),
            percentiles=tuple((float(q), int(v)) for q, v in get("percentiles")),
        )


@dataclass(frozen=True)
class Result:
    """The outcome of one run.

    ``histogram`` is the merged latency histogram, HdrHistogram V2 deflate bytes
    (readable by other HdrHistogram libraries); empty if unavailable.
    """

    schema_version: int
    target: str
    protocol: str
    connections: int
    threads: int
    stopped_by: str
    duration_ns: int
    requests: int
    requests_per_s: float
    bytes_sent: int
    bytes_received: int
    connections_opened: int
    errors: Errors
    latency: Latency
    histogram: bytes = field(default=b"", repr=False)

    @property
    def duration_s(self) -> float:
        return self.duration_ns / 1e9

    def to_dict(self) -> dict[str, Any]:
        """The result JSON shape, plus ``histogram_base64`` when a histogram is present."""
        data: dict[str, Any] = {
            "schema_version": self.schema_version,
            "target": self.target,
            "protocol": self.protocol,
            "connections": self.connections,
            "threads": self.threads,
            "stopped_by": self.stopped_by,
            "duration_ns": self.duration_ns,
            "requests": self.requests,
            "requests_per_s": self.requests_per_s,
            "bytes_sent": self.bytes_sent,
            "bytes_received": self.bytes_received,
            "connections_opened": self.connections_opened,
            "errors": self.errors.to_dict(),
            "latency_ns": self.latency.to_dict(),
        }
        if self.histogram:
            data["histogram_base64"] = base64.b64encode(self.histogram).decode("ascii")
        return data

    def to_json(self, indent: Optional[int] = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], histogram: Optional[bytes] = None) -> Result:
        """Build from a result JSON object; ``histogram`` overrides ``histogram_base64``."""

        def get(key: str) -> Any:
            return _require(data, key, "")

        version = get("schema_version")
        if version != SCHEMA_VERSION:
            raise InternalError(
                f"result schema_version {version} is not {SCHEMA_VERSION}; "
                f"reinstall cannonade so the package and its native library match"
            )
        if histogram is None:
            histogram = base64.b64decode(data.get("histogram_base64", ""))
        return cls(
            schema_version=version,
            target=str(get("target")),
            protocol=str(get("protocol")),
            connections=int(get("connections")),
            threads=int(get("threads")),
            stopped_by=str(get("stopped_by")),
            duration_ns=int(get("duration_ns")),
            requests=int(get("requests")),
            requests_per_s=float(get("requests_per_s")),
            bytes_sent=int(get("bytes_sent")),
            bytes_received=int(get("bytes_received")),
            connections_opened=int(get("connections_opened")),
            errors=Errors.from_dict(get("errors")),
            latency=Latency.from_dict(get("latency_ns")),
            histogram=histogram,
        )

    @classmethod
    def from_json(cls, text: Union[str, bytes], histogram: Optional[bytes] = None) -> Result:
        return cls.from_dict(json.loads(text), histogram)

    def format(self) -> str:
        """A wrk-like text summary."""
        return format_result(self)
