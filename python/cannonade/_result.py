"""Results: the engine's result JSON as frozen dataclasses, plus a wrk-like summary."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Optional, Union

from ._errors import InternalError
from ._report import format_result

__all__ = ["Errors", "IdleConnections", "Interval", "Latency", "Phase", "Result"]

#: The result format the engine writes; results of schema 1 (no phases) still load.
SCHEMA_VERSION = 2
_READABLE_SCHEMAS = (1, 2)


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
    def from_dict(cls, data: Mapping[str, Any], where: str = "latency_ns") -> Latency:
        """Build from a latency object; ``where`` names it in error messages."""

        def get(key: str) -> Any:
            return _require(data, key, f"{where}.")

        return cls(
            count=int(get("count")),
            min_ns=int(get("min")),
            mean_ns=float(get("mean")),
            stdev_ns=float(get("stdev")),
            max_ns=int(get("max")),
            percentiles=tuple((float(q), int(v)) for q, v in get("percentiles")),
        )


#: The connect latency of a result written before it was recorded.
_NO_LATENCY = Latency(count=0, min_ns=0, mean_ns=0.0, stdev_ns=0.0, max_ns=0, percentiles=())


def _status_codes(data: object) -> tuple[tuple[int, int], ...]:
    if not isinstance(data, Mapping):
        raise InternalError(
            f"result JSON status_codes is not an object: {data!r}; reinstall cannonade"
        )
    return tuple(sorted((int(code), int(count)) for code, count in data.items()))


@dataclass(frozen=True)
class IdleConnections:
    """The connections a plan asked to hold open, silent, beside the load."""

    requested: int = 0
    opened: int = 0
    held: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"requested": self.requested, "opened": self.opened, "held": self.held}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IdleConnections:
        return cls(**{k: int(_require(data, k, "idle_connections.")) for k in cls().to_dict()})


def _span(data: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The fields an interval and a phase share (the engine's ``Span``), as keywords."""

    def get(key: str) -> Any:
        return _require(data, key, where)

    return {
        "start_ns": int(get("start_ns")),
        "end_ns": int(get("end_ns")),
        "requests": int(get("requests")),
        "requests_per_s": float(get("requests_per_s")),
        "bytes_sent": int(get("bytes_sent")),
        "bytes_received": int(get("bytes_received")),
        "connections_opened": int(get("connections_opened")),
        "errors": Errors.from_dict(get("errors")),
        "latency": Latency.from_dict(get("latency_ns"), f"{where}latency_ns"),
        "uncorrected_latency": Latency.from_dict(
            get("uncorrected_latency_ns"), f"{where}uncorrected_latency_ns"
        ),
        "histogram": base64.b64decode(get("histogram_v2_base64")),
    }


@dataclass(frozen=True)
class Phase:
    """A phase of a run (e.g. ``"warmup"``, ``"measure"``): whole intervals, merged.

    Phases are marked with :meth:`Run.mark_phase` and begin at interval boundaries;
    ``histogram`` holds the phase's latency histogram (HdrHistogram V2 deflate bytes).
    """

    name: str
    first_interval: int
    intervals: int
    start_ns: int
    end_ns: int
    requests: int
    requests_per_s: float
    bytes_sent: int
    bytes_received: int
    connections_opened: int
    errors: Errors
    latency: Latency
    uncorrected_latency: Latency
    send_lag: Optional[Latency] = None
    status_codes: tuple[tuple[int, int], ...] = ()
    non_2xx_3xx: int = 0
    histogram: bytes = field(default=b"", repr=False)
    #: Closed loop only: the generator's turnaround from a reply to the next request.
    send_gap: Optional[Latency] = None

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "first_interval": self.first_interval,
            "intervals": self.intervals,
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "requests": self.requests,
            "requests_per_s": self.requests_per_s,
            "bytes_sent": self.bytes_sent,
            "bytes_received": self.bytes_received,
            "connections_opened": self.connections_opened,
            "errors": self.errors.to_dict(),
            "latency_ns": self.latency.to_dict(),
            "uncorrected_latency_ns": self.uncorrected_latency.to_dict(),
            "send_lag_ns": self.send_lag.to_dict() if self.send_lag else None,
            "send_gap_ns": self.send_gap.to_dict() if self.send_gap else None,
            "status_codes": {str(code): n for code, n in self.status_codes},
            "non_2xx_3xx": self.non_2xx_3xx,
            "histogram_v2_base64": base64.b64encode(self.histogram).decode("ascii"),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Phase:
        def get(key: str) -> Any:
            return _require(data, key, "phases[].")

        return cls(
            name=str(get("name")),
            first_interval=int(get("first_interval")),
            intervals=int(get("intervals")),
            send_lag=(
                Latency.from_dict(data["send_lag_ns"], "phases[].send_lag_ns")
                if data.get("send_lag_ns")
                else None
            ),
            send_gap=(
                Latency.from_dict(data["send_gap_ns"], "phases[].send_gap_ns")
                if data.get("send_gap_ns")
                else None
            ),
            status_codes=_status_codes(data.get("status_codes") or {}),
            non_2xx_3xx=int(data.get("non_2xx_3xx") or 0),
            **_span(data, "phases[]."),
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
    #: The open-loop rate asked for (requests/s), or None for a closed loop.
    rate_per_s: Optional[float] = None
    #: Latency from the actual send. In open loop ``latency`` is counted from the
    #: intended send time (corrected for coordinated omission) and this is not; in
    #: closed loop the two are the same.
    uncorrected_latency: Optional[Latency] = None
    #: Open loop only: how late the generator itself sent requests it could have sent
    #: on time (a late reply from the server does not count here).
    send_lag: Optional[Latency] = None
    #: Closed loop only: the generator's own turnaround, from a reply's last byte to
    #: the next request's write on that connection (think time excluded).
    send_gap: Optional[Latency] = None
    #: Interval snapshots taken during the run (the last one may be short).
    intervals: int = 0
    #: HTTP only: ``(status, responses)`` pairs, sorted by status; empty otherwise.
    status_codes: tuple[tuple[int, int], ...] = ()
    #: HTTP responses with a status outside 200-399. They are completed, timed
    #: requests, not errors.
    non_2xx_3xx: int = 0
    #: Time to open each connection (TCP connect); count == ``connections_opened``.
    connect: Latency = _NO_LATENCY
    #: WebSocket only: time of each opening handshake, after the TCP connect.
    handshake: Optional[Latency] = None
    #: Idle connections asked for, opened, and still held when the run stopped.
    idle_connections: IdleConnections = IdleConnections()
    #: The run's phases in order; a run nobody marked has one, ``"main"``.
    phases: tuple[Phase, ...] = ()
    histogram: bytes = field(default=b"", repr=False)

    @property
    def duration_s(self) -> float:
        return self.duration_ns / 1e9

    def phase(self, name: str) -> Phase:
        """The last phase called ``name``; KeyError naming the phases there are if none."""
        for phase in reversed(self.phases):
            if phase.name == name:
                return phase
        raise KeyError(f"no phase {name!r} in this result; it has {[p.name for p in self.phases]}")

    @property
    def status_code_counts(self) -> dict[int, int]:
        """``status_codes`` as a dict, e.g. ``{200: 9998, 404: 2}``."""
        return dict(self.status_codes)

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
            "rate_per_s": self.rate_per_s,
            "uncorrected_latency_ns": (self.uncorrected_latency or self.latency).to_dict(),
            "send_lag_ns": self.send_lag.to_dict() if self.send_lag else None,
            "send_gap_ns": self.send_gap.to_dict() if self.send_gap else None,
            "intervals": self.intervals,
            "status_codes": {str(code): n for code, n in self.status_codes},
            "non_2xx_3xx": self.non_2xx_3xx,
            "connect_ns": self.connect.to_dict(),
            "handshake_ns": self.handshake.to_dict() if self.handshake else None,
            "idle_connections": self.idle_connections.to_dict(),
            "phases": [phase.to_dict() for phase in self.phases],
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
        if version not in _READABLE_SCHEMAS:
            raise InternalError(
                f"result schema_version {version} is not one of {_READABLE_SCHEMAS}; "
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
            rate_per_s=None if data.get("rate_per_s") is None else float(data["rate_per_s"]),
            uncorrected_latency=Latency.from_dict(
                get("uncorrected_latency_ns"), "uncorrected_latency_ns"
            ),
            send_lag=(
                Latency.from_dict(data["send_lag_ns"], "send_lag_ns")
                if data.get("send_lag_ns")
                else None
            ),
            send_gap=(
                Latency.from_dict(data["send_gap_ns"], "send_gap_ns")
                if data.get("send_gap_ns")
                else None
            ),
            intervals=int(get("intervals")),
            # Absent from results written before HTTP and WebSocket: read as empty.
            status_codes=_status_codes(data.get("status_codes") or {}),
            non_2xx_3xx=int(data.get("non_2xx_3xx") or 0),
            connect=(
                Latency.from_dict(data["connect_ns"], "connect_ns")
                if data.get("connect_ns")
                else _NO_LATENCY
            ),
            handshake=(
                Latency.from_dict(data["handshake_ns"], "handshake_ns")
                if data.get("handshake_ns")
                else None
            ),
            idle_connections=IdleConnections.from_dict(
                data.get("idle_connections") or IdleConnections().to_dict()
            ),
            phases=tuple(Phase.from_dict(p) for p in data.get("phases") or ()),
            histogram=histogram,
        )

    @classmethod
    def from_json(cls, text: Union[str, bytes], histogram: Optional[bytes] = None) -> Result:
        return cls.from_dict(json.loads(text), histogram)

    def format(self) -> str:
        """A wrk-like text summary."""
        return format_result(self)


@dataclass(frozen=True)
class Interval:
    """One interval of a running load, merged over the worker threads.

    Times are from the start of the run. ``histogram`` holds this interval's latency
    histogram (HdrHistogram V2 deflate bytes), for interval logs and analysis.
    """

    index: int
    start_ns: int
    end_ns: int
    requests: int
    requests_per_s: float
    bytes_sent: int
    bytes_received: int
    connections_opened: int
    errors: Errors
    latency: Latency
    uncorrected_latency: Latency
    #: The phase the interval belongs to (``"main"`` unless one was marked).
    phase: str = "main"
    histogram: bytes = field(default=b"", repr=False)

    @property
    def start_s(self) -> float:
        return self.start_ns / 1e9

    @property
    def end_s(self) -> float:
        return self.end_ns / 1e9

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Interval:
        return cls(
            index=int(_require(data, "index", "interval.")),
            phase=str(data.get("phase", "main")),
            **_span(data, "interval."),
        )
