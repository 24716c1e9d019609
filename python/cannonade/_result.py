"""Results: the engine's result JSON as frozen dataclasses, plus a wrk-like summary."""

from __future__ import annotations

import base64
import binascii
import functools
import json
import os
import struct
import threading
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Optional, TypeVar, Union

from ._errors import ResultError
from ._report import format_result

__all__ = [
    "ErrorMessage",
    "Errors",
    "IdleConnections",
    "Interval",
    "Latency",
    "Phase",
    "Rank",
    "Result",
    "TlsHandshakes",
]

#: The result format the engine writes; results of schema 1 (no phases) still load.
SCHEMA_VERSION = 2
_READABLE_SCHEMAS = (1, 2)


# --- reading results back -----------------------------------------------------------
# Saved results come back from disk, where they may be empty, cut short or edited. Every
# way a result can fail to load raises ResultError: the readers below track the field
# being read, so that a value of the wrong type is named by its path in the JSON.

_reading = threading.local()


def _path_of(prefix: str, key: object) -> str:
    return f"{prefix}[{key}]" if isinstance(key, int) else f"{prefix}.{key}" if prefix else str(key)


def _tracked(value: Any, path: str) -> Any:
    if isinstance(value, dict) and not isinstance(value, _Tracked):
        return _Tracked(value, path)
    if isinstance(value, list) and not isinstance(value, _TrackedList):
        return _TrackedList(value, path)
    return value


class _Tracked(dict):  # type: ignore[type-arg]
    """A JSON object that records the path of the field read last, for error messages.

    A dict, so that whatever a loader keeps of it still behaves as one (and dumps as JSON).
    """

    # Defaults, so that copies (dataclasses.asdict, copy, pickle) can rebuild one.
    def __init__(self, data: Any = (), path: str = "") -> None:
        super().__init__(data)
        self._path = path

    def __getitem__(self, key: str) -> Any:
        where = _path_of(self._path, key)
        _reading.field = where
        return _tracked(super().__getitem__(key), where)

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default


class _TrackedList(list):  # type: ignore[type-arg]
    """A JSON array whose items, when iterated or indexed, record their path."""

    def __init__(self, items: Any = (), path: str = "") -> None:
        super().__init__(items)
        self._path = path

    def __getitem__(self, index: Any) -> Any:
        value = super().__getitem__(index)
        if isinstance(index, int):
            where = _path_of(self._path, index)
            _reading.field = where
            return _tracked(value, where)
        return value

    def __iter__(self) -> Iterator[Any]:
        for index, value in enumerate(super().__iter__()):
            where = _path_of(self._path, index)
            _reading.field = where
            yield _tracked(value, where)


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


_LoaderT = TypeVar("_LoaderT", bound=Callable[..., Any])
_ReadT = TypeVar("_ReadT")

# What the conversions in a loader raise on a value of the wrong type or size.
_BAD_VALUE = (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError)


def _loader(method: _LoaderT) -> _LoaderT:
    """Make a ``from_dict`` classmethod raise ResultError, naming the field, on bad input."""

    @functools.wraps(method)
    def load(cls: type, data: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(data, _Tracked):
            return method(cls, data, *args, **kwargs)  # nested: the outer call reports
        depth = getattr(_reading, "depth", 0)
        where = getattr(_reading, "field", None) if depth else None
        if not isinstance(data, Mapping):
            at = f" {where}" if where else ""
            raise ResultError(f"{cls.__name__} JSON{at} must be an object, got {_json_type(data)}")
        if not depth:
            _reading.field = None
        _reading.depth = depth + 1
        try:
            return method(cls, _Tracked(data, where or ""), *args, **kwargs)
        except ResultError:
            raise
        except _BAD_VALUE as error:
            field = getattr(_reading, "field", None)
            at = f"{field}: " if field else ""
            if isinstance(error, KeyError):
                detail = f"missing {error}"
            else:
                detail = str(error) or type(error).__name__
                for name, kind in (("_TrackedList", "list"), ("_Tracked", "dict")):
                    detail = detail.replace(f"'{name}'", f"'{kind}'")
            raise ResultError(f"{cls.__name__} JSON: {at}{detail}") from None
        finally:
            _reading.depth = depth

    return load  # type: ignore[return-value]


def _require(data: Mapping[str, Any], key: str, where: str) -> Any:
    try:
        return data[key]
    except (KeyError, TypeError):
        raise ResultError(
            f"result JSON has no {where}{key!r}; it was not written by this version of "
            f"cannonade, or was edited or cut short"
        ) from None


_V2_COOKIE = 0x1C849303
_V2_COMPRESSED_COOKIE = 0x1C849304
_V2_HEADER = struct.Struct(">IIIIqqd")


def _check_histogram(blob: object, where: str) -> bytes:
    """``blob`` if it is an HdrHistogram V2 deflate histogram (or empty); else ResultError."""
    if not isinstance(blob, (bytes, bytearray, memoryview)):
        raise ResultError(f"{where} must be bytes, got {type(blob).__name__}")
    blob = bytes(blob)
    if not blob:
        return blob
    bad = f"{where} is not an HdrHistogram V2 deflate histogram"
    if len(blob) < 8:
        raise ResultError(f"{bad}: {len(blob)} bytes, shorter than its 8-byte header")
    cookie, length = struct.unpack_from(">II", blob, 0)
    if cookie & ~0xF0 != _V2_COMPRESSED_COOKIE:
        raise ResultError(f"{bad}: cookie {cookie:#010x}")
    if length != len(blob) - 8:
        raise ResultError(f"{bad}: header says {length} compressed bytes, found {len(blob) - 8}")
    try:
        inner = zlib.decompress(blob[8:])
    except zlib.error as error:
        raise ResultError(f"{bad}: its compressed data is corrupt ({error})") from None
    if len(inner) < _V2_HEADER.size:
        raise ResultError(f"{bad}: {len(inner)} bytes once inflated, shorter than its header")
    cookie, payload, offset, digits, lowest, highest, _ = _V2_HEADER.unpack_from(inner, 0)
    if cookie & ~0xF0 != _V2_COOKIE:
        raise ResultError(f"{bad}: inner cookie {cookie:#010x}")
    if payload != len(inner) - _V2_HEADER.size:
        raise ResultError(
            f"{bad}: header says {payload} payload bytes, found {len(inner) - _V2_HEADER.size}"
        )
    if not 0 <= digits <= 5 or lowest < 1 or highest < 2 * lowest:
        raise ResultError(
            f"{bad}: {digits} significant digits, range {lowest}..{highest} is impossible"
        )
    return blob


def _histogram_base64(text: object, where: str) -> bytes:
    if not isinstance(text, str):
        raise ResultError(f"{where} must be a base64 string, got {type(text).__name__}")
    try:
        blob = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ResultError(f"{where} is not valid base64 ({error})") from None
    return _check_histogram(blob, where)


def _describe_json_error(text: Union[str, bytes], error: ValueError) -> str:
    if not text.strip():
        return "it is empty"
    if isinstance(error, json.JSONDecodeError):
        if error.pos >= len(error.doc.rstrip()):
            return f"it ends too early (cut short?): {error.msg}"
        return f"it is not valid JSON: {error}"
    return f"it is not UTF-8 JSON text ({error})"


def _read_file(path: Union[str, os.PathLike[str]], read: Callable[[bytes], _ReadT]) -> _ReadT:
    """``read`` applied to the bytes of the file at ``path``; a ResultError it raises
    names the file. OSError if the file cannot be opened."""
    data = Path(path).read_bytes()
    try:
        return read(data)
    except ResultError as error:
        raise ResultError(f"{os.fspath(path)}: {error}") from None


def _parse_json(text: Union[str, bytes], what: str) -> Any:
    """The JSON value of ``text``; ResultError saying why it cannot be read."""
    if not isinstance(text, (str, bytes, bytearray)):
        raise ResultError(f"{what} JSON must be str or bytes, got {type(text).__name__}")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as error:  # JSONDecodeError, UnicodeDecodeError
        reason = "it nests too deeply" if isinstance(error, RecursionError) else None
        raise ResultError(
            f"{what} JSON cannot be read: {reason or _describe_json_error(text, error)}"
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
    #: A socket could not be created: "too many open files" (raise ``ulimit -n``).
    fd_limit: int = 0
    #: TLS: the server's certificate was rejected (unknown issuer, wrong name, expired).
    tls_certificate: int = 0
    #: TLS: the handshake failed otherwise (no common version, not a TLS server, ...).
    tls_handshake: int = 0
    #: TLS: the server sent an alert.
    tls_alert: int = 0

    @property
    def total(self) -> int:
        """All errors of every kind."""
        return sum(getattr(self, f.name) for f in fields(self))

    def to_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    @_loader
    def from_dict(cls, data: Mapping[str, Any]) -> Errors:
        # Kinds added after the first results were written read as 0 when absent.
        return cls(
            **{
                f.name: int(
                    data.get(f.name, 0)
                    if f.name in _LATER_ERROR_KINDS
                    else _require(data, f.name, "errors.")
                )
                for f in fields(cls)
            }
        )


_LATER_ERROR_KINDS = frozenset({"fd_limit", "tls_certificate", "tls_handshake", "tls_alert"})


@dataclass(frozen=True)
class ErrorMessage:
    """How many failures of one kind there were, and the words of the first one seen.

    ``kind`` is the name of its counter in :class:`Errors`, e.g. ``"protocol"``.
    """

    kind: str
    count: int
    first: str

    @classmethod
    @_loader
    def from_dict(cls, data: Mapping[str, Any], kind: str = "") -> ErrorMessage:
        return cls(
            kind=kind,
            count=int(_require(data, "count", f"error_messages.{kind}.")),
            first=str(_require(data, "first", f"error_messages.{kind}.")),
        )


def _error_messages(data: Any) -> tuple[ErrorMessage, ...]:
    """``error_messages`` of a result or phase (absent in older results: none)."""
    if not data:
        return ()
    if not isinstance(data, Mapping):
        raise ResultError(f"error_messages must be an object, got {_json_type(data)}")
    return tuple(ErrorMessage.from_dict(v, str(k)) for k, v in data.items())


def _error_messages_dict(messages: tuple[ErrorMessage, ...]) -> dict[str, Any]:
    return {m.kind: {"count": m.count, "first": m.first} for m in messages}


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
    @_loader
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
        raise ResultError(f"result JSON status_codes is not an object: {data!r}")
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
    @_loader
    def from_dict(cls, data: Mapping[str, Any]) -> IdleConnections:
        return cls(**{k: int(_require(data, k, "idle_connections.")) for k in cls().to_dict()})


@dataclass(frozen=True)
class TlsHandshakes:
    """The TLS handshakes of a run: how many, how many resumed a session, their times.

    ``handshake`` times each TLS handshake alone, after the TCP connect (``connect``)
    and before a WebSocket's upgrade (``Result.handshake``).
    """

    handshakes: int
    resumed: int
    resumed_fraction: float
    handshakes_per_s: float
    handshake: Latency

    def to_dict(self) -> dict[str, Any]:
        return {
            "handshakes": self.handshakes,
            "resumed": self.resumed,
            "resumed_fraction": self.resumed_fraction,
            "handshakes_per_s": self.handshakes_per_s,
            "handshake_ns": self.handshake.to_dict(),
        }

    @classmethod
    @_loader
    def from_dict(cls, data: Mapping[str, Any]) -> TlsHandshakes:
        def get(key: str) -> Any:
            return _require(data, key, "tls.")

        return cls(
            handshakes=int(get("handshakes")),
            resumed=int(get("resumed")),
            resumed_fraction=float(get("resumed_fraction")),
            handshakes_per_s=float(get("handshakes_per_s")),
            handshake=Latency.from_dict(get("handshake_ns"), "tls.handshake_ns"),
        )


def _span_dict(span: Union[Phase, Interval]) -> dict[str, Any]:
    """The JSON fields a phase and an interval share: times, counts, errors, latencies,
    the histogram and the TLS handshakes."""
    return {
        "start_ns": span.start_ns,
        "end_ns": span.end_ns,
        "requests": span.requests,
        "requests_per_s": span.requests_per_s,
        "bytes_sent": span.bytes_sent,
        "bytes_received": span.bytes_received,
        "connections_opened": span.connections_opened,
        "errors": span.errors.to_dict(),
        "latency_ns": span.latency.to_dict(),
        "uncorrected_latency_ns": span.uncorrected_latency.to_dict(),
        "histogram_v2_base64": base64.b64encode(span.histogram).decode("ascii"),
        **_tls_dict(span.tls),
    }


def _tls_dict(tls: Optional[TlsHandshakes]) -> dict[str, Any]:
    """An interval's or a phase's ``tls`` entry: absent without TLS, as the engine writes."""
    return {"tls": tls.to_dict()} if tls is not None else {}


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
        "histogram": _histogram_base64(get("histogram_v2_base64"), f"{where}histogram_v2_base64"),
        # TLS only; absent otherwise.
        "tls": TlsHandshakes.from_dict(data["tls"]) if data.get("tls") else None,
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
    #: The first message of each kind of failure in this phase, with its count.
    error_messages: tuple[ErrorMessage, ...] = ()
    #: TLS only: this phase's TLS handshakes.
    tls: Optional[TlsHandshakes] = None

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "first_interval": self.first_interval,
            "intervals": self.intervals,
            **_span_dict(self),
            "send_lag_ns": self.send_lag.to_dict() if self.send_lag else None,
            "send_gap_ns": self.send_gap.to_dict() if self.send_gap else None,
            "status_codes": {str(code): n for code, n in self.status_codes},
            "non_2xx_3xx": self.non_2xx_3xx,
            "error_messages": _error_messages_dict(self.error_messages),
        }

    @classmethod
    @_loader
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
            error_messages=_error_messages(data.get("error_messages")),
            **_span(data, "phases[]."),
        )


@dataclass(frozen=True)
class Rank:
    """One generator of a run spread over MPI ranks (``cannonade ... --mpi``).

    Its own share of the plan and its own counts, beside the merged totals. ``status``
    is ``"ok"``, ``"behind"`` (its reports came late or it sent late against its
    schedule: its data is kept), ``"lost"`` (it stopped reporting: its intervals so far
    are counted here but not in the merged totals) or ``"failed"`` (its run raised).
    ``clock_offset_ns`` is its monotonic clock minus rank 0's, measured by ping-pong
    (within half of ``clock_rtt_ns``); ``start_skew_ns`` is how late it started against
    the agreed instant, on its own clock.
    """

    rank: int
    host: str
    status: str
    connections: int
    rate_per_s: Optional[float]
    requests: int
    errors: int
    intervals: int
    clock_offset_ns: int
    clock_rtt_ns: int
    start_skew_ns: int
    latency_p50_ns: Optional[int] = None
    latency_p99_ns: Optional[int] = None
    problem: str = ""

    @property
    def name(self) -> str:
        """``rank N on HOST``: how reports name it."""
        return f"rank {self.rank} on {self.host}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "host": self.host,
            "status": self.status,
            "connections": self.connections,
            "rate_per_s": self.rate_per_s,
            "requests": self.requests,
            "errors": self.errors,
            "intervals": self.intervals,
            "clock_offset_ns": self.clock_offset_ns,
            "clock_rtt_ns": self.clock_rtt_ns,
            "start_skew_ns": self.start_skew_ns,
            "latency_p50_ns": self.latency_p50_ns,
            "latency_p99_ns": self.latency_p99_ns,
            "problem": self.problem,
        }

    @classmethod
    @_loader
    def from_dict(cls, data: Mapping[str, Any]) -> Rank:
        def get(key: str) -> Any:
            return _require(data, key, "ranks.")

        def optional_int(key: str) -> Optional[int]:
            value = data.get(key)
            return None if value is None else int(value)

        rate = data.get("rate_per_s")
        return cls(
            rank=int(get("rank")),
            host=str(get("host")),
            status=str(get("status")),
            connections=int(get("connections")),
            rate_per_s=None if rate is None else float(rate),
            requests=int(get("requests")),
            errors=int(get("errors")),
            intervals=int(get("intervals")),
            clock_offset_ns=int(get("clock_offset_ns")),
            clock_rtt_ns=int(get("clock_rtt_ns")),
            start_skew_ns=int(get("start_skew_ns")),
            latency_p50_ns=optional_int("latency_p50_ns"),
            latency_p99_ns=optional_int("latency_p99_ns"),
            problem=str(data.get("problem") or ""),
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
    #: For each kind of failure that has words (a protocol error's, the OS's), its
    #: count and the first message seen, in the order of :class:`Errors`' fields.
    error_messages: tuple[ErrorMessage, ...] = ()
    #: TLS only: the TLS handshakes, full and resumed, and their times.
    tls: Optional[TlsHandshakes] = None
    #: The intervals the run delivered, in order, when they were kept (the CLI's
    #: ``--json`` keeps them, so that runs can be merged interval by interval).
    interval_series: tuple[Interval, ...] = ()
    #: A run over MPI ranks (``--mpi``): one entry per rank, beside the merged totals.
    ranks: tuple[Rank, ...] = ()

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
            "error_messages": _error_messages_dict(self.error_messages),
            "tls": self.tls.to_dict() if self.tls else None,
        }
        if self.histogram:
            data["histogram_base64"] = base64.b64encode(self.histogram).decode("ascii")
        if self.interval_series:
            data["interval_series"] = [i.to_dict() for i in self.interval_series]
        if self.ranks:
            data["ranks"] = [r.to_dict() for r in self.ranks]
        return data

    def to_json(self, indent: Optional[int] = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    @_loader
    def from_dict(cls, data: Mapping[str, Any], histogram: Optional[bytes] = None) -> Result:
        """Build from a result JSON object; ``histogram`` overrides ``histogram_base64``."""

        def get(key: str) -> Any:
            return _require(data, key, "")

        version = get("schema_version")
        if isinstance(version, int) and version > SCHEMA_VERSION:
            raise ResultError(
                f"result schema_version {version} is newer than this cannonade reads "
                f"({', '.join(map(str, _READABLE_SCHEMAS))}); upgrade cannonade to read it"
            )
        if not isinstance(version, int) or version not in _READABLE_SCHEMAS:
            raise ResultError(
                f"result schema_version {version!r} is not one of {_READABLE_SCHEMAS}; "
                f"this is not a cannonade result, or it was edited"
            )
        if histogram is None:
            histogram = _histogram_base64(data.get("histogram_base64", ""), "histogram_base64")
        else:
            histogram = _check_histogram(histogram, "the histogram")
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
            error_messages=_error_messages(data.get("error_messages")),
            tls=TlsHandshakes.from_dict(data["tls"]) if data.get("tls") else None,
            interval_series=tuple(Interval.from_dict(i) for i in data.get("interval_series") or ()),
            ranks=tuple(Rank.from_dict(r) for r in data.get("ranks") or ()),
        )

    @classmethod
    def from_json(cls, text: Union[str, bytes], histogram: Optional[bytes] = None) -> Result:
        """Read result JSON (e.g. a ``--json`` file's text); raises ResultError if it is bad."""
        return cls.from_dict(_parse_json(text, "result"), histogram)

    @classmethod
    def from_file(cls, path: Union[str, os.PathLike[str]]) -> Result:
        """Read a result saved with ``to_json()`` (or the CLI's ``--json``).

        Raises ResultError naming the file and what is wrong in it, or OSError if it
        cannot be opened.
        """
        return _read_file(path, cls.from_json)

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
    #: TLS only: this interval's TLS handshakes (their rate under churn, over time).
    tls: Optional[TlsHandshakes] = None

    @property
    def start_s(self) -> float:
        return self.start_ns / 1e9

    @property
    def end_s(self) -> float:
        return self.end_ns / 1e9

    def to_dict(self) -> dict[str, Any]:
        """The interval JSON shape (as in ``interval_series`` and a benchmark's intervals)."""
        return {
            "index": self.index,
            "phase": self.phase,
            **_span_dict(self),
        }

    @classmethod
    @_loader
    def from_dict(cls, data: Mapping[str, Any]) -> Interval:
        return cls(
            index=int(_require(data, "index", "interval.")),
            phase=str(data.get("phase", "main")),
            **_span(data, "interval."),
        )
