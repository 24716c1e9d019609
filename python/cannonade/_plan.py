"""Plans: what to send, to whom, for how long. Frozen, validated, serialised to JSON."""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Optional, Union

from ._backend import validate as _engine_validate
from ._errors import PlanError
from ._version import ABI_VERSION

__all__ = ["MAX_LABELS", "MAX_PAYLOAD_BYTES", "Entry", "Http", "Plan", "Tcp", "Ws"]

#: Largest request payload the engine accepts (16 MiB). The engine is the judge; this
#: copy only keeps ``Tcp(payload_bytes=N)`` from building a huge pattern first, and a
#: test checks that the two agree.
MAX_PAYLOAD_BYTES = 16 * 1024 * 1024
_MAX_U64 = 2**64 - 1
#: Most entries a request mix may have (the engine's limit, each label keeping its own
#: histograms; the engine is the judge).
MAX_LABELS = 64
# Printable so a payload is recognisable in a packet capture.
_PATTERN = b"abcdefghijklmnopqrstuvwxyz0123456789"


def _describe(value: object) -> str:
    return f"{type(value).__name__} {value!r}"


def _check_int(name: str, value: object, low: int = 0) -> int:
    """An integer for the plan JSON: the type, and the bound the JSON's unsigned field has.

    The engine checks every other limit (see :func:`_engine_check`).
    """
    # bool is an int subclass; True connections is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise PlanError(f"{name} must be an integer, got {_describe(value)}")
    if value < low:
        raise PlanError(f"{name} must be at least {low}, got {value}")
    if value > _MAX_U64:
        raise PlanError(f"{name} is too large, got {value}")
    return value


def _check_rate(name: str, value: object, unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PlanError(f"{name} must be a number of {unit}/s, got {_describe(value)}")
    if not math.isfinite(value):
        raise PlanError(f"{name} must be a finite number of {unit}/s, got {value}")
    return float(value)


def _check_bool(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise PlanError(f"{name} must be True or False, got {_describe(value)}")


# The plan JSON's fields as the Python API names them, for the engine's messages.
_PYTHON_NAMES = {
    "duration_ms": "duration_s",
    "connect_timeout_ms": "connect_timeout_s",
    "request_timeout_ms": "request_timeout_s",
    "interval_ms": "interval_s",
    "think_time_ms": "think_time_s",
    "protocol.url": "target",
    "protocol.payload_hex": "payload",
    "protocol.reply.bytes": "reply_bytes",
    "protocol.reply.delimiter_hex": "reply_delimiter",
    "protocol.body_hex": "body",
    "protocol.message_hex": "message",
}
_ENGINE_FIELD = re.compile(r"^plan field `([^`]*)`: ")
_ENTRY_FIELD = re.compile(r"^protocol\.(requests\[\d+\])\.?(.*)$")
_ENTRY_NAMES = {"body_hex": "body", "message_hex": "message", "payload_hex": "payload"}


def _engine_check(plan: dict[str, Any]) -> None:
    """Have the engine check a plan JSON object, the one home of the plan's rules.

    The engine's message names the JSON field; it is given here under the Python name
    (``interval_s`` for ``interval_ms``, ``target`` for ``protocol.url``, ...).
    """
    try:
        _engine_validate(json.dumps(plan))
    except PlanError as error:
        message = str(error)
        match = _ENGINE_FIELD.match(message)
        if match is None:
            raise
        field = match.group(1)
        name = _PYTHON_NAMES.get(field, field.rpartition(".")[2] or field)
        entry = _ENTRY_FIELD.match(field)
        if entry is not None:
            # An entry of a mix: named by its place in the list, e.g. requests[2].body.
            inner = entry.group(2)
            head, _, rest = inner.partition(".")
            inner = ".".join(filter(None, [_ENTRY_NAMES.get(head, head), rest]))
            name = ".".join(filter(None, [entry.group(1), inner]))
        if field.endswith("_ms"):
            name = f"{name} ({field} in the plan JSON)"
        raise PlanError(f"{name}: {message[match.end() :]}") from None


def _check_protocol(protocol: dict[str, Any]) -> None:
    """Check a protocol's JSON object alone, inside the smallest plan that can carry it."""
    plan: dict[str, Any] = {"abi_version": ABI_VERSION, "connections": 1, "requests": 1}
    if protocol["kind"] == "tcp":
        plan["target"] = "127.0.0.1:9"
        if protocol.get("tls"):
            # The protocol alone: no certificate store is needed to check it.
            plan["insecure"] = True
    else:
        protocol = {"url": f"{protocol['kind']}://127.0.0.1:9/", **protocol}
    plan["protocol"] = protocol
    _engine_check(plan)


def _seconds_to_ms(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PlanError(f"{name} must be a number of seconds, got {_describe(value)}")
    if not math.isfinite(value) or value <= 0:
        raise PlanError(f"{name} must be positive, got {value}")
    ms = round(value * 1000)
    if ms < 1:
        raise PlanError(f"{name} must be at least 0.001 (1 ms), got {value}")
    if ms > _MAX_U64:
        raise PlanError(f"{name} is too large, got {value}")
    return ms


def _check_payload_size(size: int, name: str = "payload", empty_ok: bool = False) -> None:
    if size == 0 and not empty_ok:
        raise PlanError(f"{name} is empty; give at least 1 byte")
    if size > MAX_PAYLOAD_BYTES:
        raise PlanError(f"{name} is {size} bytes; the maximum is 16 MiB")


_ENTRY_FIELDS = (
    "label",
    "weight",
    "path",
    "method",
    "headers",
    "body",
    "message",
    "size",
    "binary",
    "payload",
    "reply_bytes",
    "reply_delimiter",
)


def _text_or_bytes(name: str, value: object) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    return _check_bytes(name, value)


@dataclass(frozen=True)
class Entry:
    """One entry of a request mix: a label, a weight and what to send.

    Give a protocol a list of entries (``Http(requests=[...])``) to send them instead
    of its one request. The fields that apply depend on the protocol:

    - HTTP: ``path`` (path and query, required), ``method`` (default ``GET``),
      ``headers`` (sent after the protocol's own) and ``body`` (bytes or str);
    - WebSocket: ``message`` (bytes or str) or ``size`` (that many bytes of a printable
      pattern), ``binary`` (default: the protocol's);
    - TCP: ``payload`` (bytes or str), and ``reply_bytes`` or ``reply_delimiter``
      (default: the protocol's reply framing).

    ``weight`` is the entry's relative frequency in a ``random`` mix, or how many times
    in a row it is sent in a ``round_robin`` or ``session`` mix (a whole number there).
    The default ``label`` is the path (``"POST /login"`` for other methods), the size
    (``"4096 B"``), or the entry's position. A dict with these keys (the JSON Lines
    shape of ``--requests-file``) is accepted wherever an Entry is.
    """

    label: Optional[str] = None
    weight: float = 1
    path: Optional[str] = None
    method: Optional[str] = None
    headers: tuple[tuple[str, str], ...] = ()
    body: Optional[bytes] = None
    message: Optional[bytes] = None
    size: Optional[int] = None
    binary: Optional[bool] = None
    payload: Optional[bytes] = None
    reply_bytes: Optional[int] = None
    reply_delimiter: Optional[bytes] = None

    def __post_init__(self) -> None:
        if self.label is not None and not isinstance(self.label, str):
            raise PlanError(f"label must be a str, got {_describe(self.label)}")
        if isinstance(self.weight, bool) or not isinstance(self.weight, (int, float)):
            raise PlanError(f"weight must be a number, got {_describe(self.weight)}")
        for name in ("path", "method"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise PlanError(f"{name} must be a str, got {_describe(value)}")
        object.__setattr__(self, "headers", _header_pairs(self.headers))
        for name in ("body", "message", "payload", "reply_delimiter"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _text_or_bytes(name, value))
        for name in ("size", "reply_bytes"):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name))
        if self.binary is not None:
            _check_bool("binary", self.binary)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Entry:
        """An entry from a dict of its fields (``headers`` as ``[[name, value], ...]``)."""
        if not isinstance(data, Mapping):
            raise PlanError(f"an entry must be an object of fields, got {_describe(data)}")
        unknown = sorted(set(data) - set(_ENTRY_FIELDS))
        if unknown:
            raise PlanError(
                f"unknown field {unknown[0]!r}; an entry has: {', '.join(_ENTRY_FIELDS)}"
            )
        return cls(**{str(k): v for k, v in data.items()})

    def to_dict(self, kind: str) -> dict[str, Any]:
        """The entry's object in the plan JSON of a ``kind`` protocol (``"http"``, ...)."""
        given = {name for name in _ENTRY_FIELDS if getattr(self, name) not in (None, ())}
        given.discard("weight")
        allowed = {
            "http": {"label", "path", "method", "headers", "body"},
            "ws": {"label", "message", "size", "binary"},
            "tcp": {"label", "payload", "reply_bytes", "reply_delimiter"},
        }[kind]
        extra = sorted(given - allowed)
        if extra:
            raise PlanError(
                f"{extra[0]} does not apply to a {kind} entry; it takes "
                f"{', '.join(sorted(allowed | {'weight'}))}"
            )
        out: dict[str, Any] = {"weight": self.weight}
        if self.label is not None:
            out["label"] = self.label
        if kind == "http":
            if self.path is not None:
                out["path"] = self.path
            if self.method is not None:
                out["method"] = self.method
            if self.headers:
                out["headers"] = [[n, v] for n, v in self.headers]
            if self.body is not None:
                out["body_hex"] = self.body.hex()
        elif kind == "ws":
            if self.message is not None:
                out["message_hex"] = self.message.hex()
            if self.size is not None:
                out["size"] = self.size
            if self.binary is not None:
                out["binary"] = self.binary
        else:
            if self.payload is not None:
                out["payload_hex"] = self.payload.hex()
            if self.reply_delimiter is not None:
                out["reply"] = {"kind": "delimiter", "delimiter_hex": self.reply_delimiter.hex()}
            elif self.reply_bytes is not None:
                out["reply"] = {"kind": "fixed", "bytes": self.reply_bytes}
        return out


def _entries(requests: object) -> tuple[Entry, ...]:
    """A protocol's ``requests``: Entries or dicts, as a tuple of Entries."""
    if isinstance(requests, (str, bytes, Mapping)) or not isinstance(requests, Iterable):
        raise PlanError(
            f"requests must be a list of cannonade.Entry (or dicts), got {_describe(requests)}"
        )
    entries = []
    for i, item in enumerate(requests):
        try:
            entries.append(item if isinstance(item, Entry) else Entry.from_dict(item))
        except PlanError as error:
            raise PlanError(f"requests[{i}]: {error}") from None
    return tuple(entries)


class _Mixed:
    """What Tcp, Http and Ws share for a mix: ``requests``, ``mix`` and ``seed``."""

    requests: Optional[tuple[Entry, ...]]
    mix: str
    seed: Optional[int]

    def _check_mix(self) -> None:
        if self.requests is not None:
            # An empty list stays a list, for the engine to refuse.
            object.__setattr__(self, "requests", _entries(self.requests))
        if not isinstance(self.mix, str):
            raise PlanError(f"mix must be a str such as 'random', got {_describe(self.mix)}")
        if self.seed is not None:
            _check_int("seed", self.seed)

    def _mix_dict(self, kind: str) -> dict[str, Any]:
        if self.requests is None:
            if self.seed is not None or self.mix != "random":
                # The engine's words for a mix field without a mix.
                return {"mix": self.mix, **({"seed": self.seed} if self.seed is not None else {})}
            return {}
        entries = []
        for i, entry in enumerate(self.requests):
            try:
                entries.append(entry.to_dict(kind))
            except PlanError as error:
                raise PlanError(f"requests[{i}]: {error}") from None
        out: dict[str, Any] = {"requests": entries, "mix": self.mix}
        if self.seed is not None:
            out["seed"] = self.seed
        return out


@dataclass(frozen=True)
class Tcp(_Mixed):
    """Plain TCP request/reply: send a payload, read a reply of known length.

    ``payload`` is sent verbatim when given; otherwise ``payload_bytes`` bytes of
    a fixed printable pattern are sent (``payload_bytes`` is then ignored).
    ``reply_bytes`` is the reply length; ``reply_delimiter`` instead ends each reply
    at those bytes (e.g. ``b"\\n"`` for a line protocol); with neither, the server is an
    echo server (the reply is as long as the payload). ``tls=True`` runs TLS over each
    connection (see :class:`Plan` for the certificate options).
    """

    payload: Optional[bytes] = None
    payload_bytes: int = 64
    reply_bytes: Optional[int] = None
    reply_delimiter: Optional[bytes] = None
    tls: bool = False
    #: A mix: entries sent instead of ``payload`` (see :class:`Entry`).
    requests: Optional[tuple[Entry, ...]] = None
    #: How a mix picks entries: ``"random"``, ``"round_robin"`` or ``"session"``.
    mix: str = "random"
    #: The mix's seed (random order); None draws one, reported in ``Result.mix``.
    seed: Optional[int] = None

    def __post_init__(self) -> None:
        self._check_mix()
        if self.payload is not None:
            if not isinstance(self.payload, (bytes, bytearray, memoryview)):
                raise PlanError(f"payload must be bytes, got {_describe(self.payload)}")
            # Frozen: normalise bytes-likes to immutable bytes so the plan stays hashable.
            object.__setattr__(self, "payload", bytes(self.payload))
            _check_payload_size(len(self.payload))
        else:
            _check_int("payload_bytes", self.payload_bytes)
            _check_payload_size(self.payload_bytes)
        if self.reply_bytes is not None:
            _check_int("reply_bytes", self.reply_bytes)
        if self.reply_delimiter is not None:
            delimiter = self.reply_delimiter
            if not isinstance(delimiter, (bytes, bytearray, memoryview)):
                raise PlanError(f"reply_delimiter must be bytes, got {_describe(delimiter)}")
            object.__setattr__(self, "reply_delimiter", bytes(delimiter))
            if self.reply_bytes is not None:
                raise PlanError("give reply_bytes or reply_delimiter, not both")
        _check_bool("tls", self.tls)
        _check_protocol(self.to_dict())

    @property
    def data(self) -> bytes:
        """The exact bytes sent as each request."""
        if self.payload is not None:
            return self.payload
        repeats = self.payload_bytes // len(_PATTERN) + 1
        return (_PATTERN * repeats)[: self.payload_bytes]

    def to_dict(self) -> dict[str, Any]:
        """The ``protocol`` object of the plan JSON."""
        if self.reply_delimiter is not None:
            reply: dict[str, Any] = {
                "kind": "delimiter",
                "delimiter_hex": self.reply_delimiter.hex(),
            }
        elif self.reply_bytes is not None:
            reply = {"kind": "fixed", "bytes": self.reply_bytes}
        else:
            reply = {"kind": "echo"}
        spec: dict[str, Any] = {"kind": "tcp", "payload_hex": self.data.hex(), "reply": reply}
        if self.tls:
            spec["tls"] = True
        spec.update(self._mix_dict("tcp"))
        return spec


def _check_bytes(name: str, value: object) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise PlanError(
            f"{name} must be bytes, got {_describe(value)}; encode text first, e.g. 'hi'.encode()"
        )
    return bytes(value)


def _header_pairs(headers: object) -> tuple[tuple[str, str], ...]:
    if isinstance(headers, Mapping):
        items: Iterable[object] = headers.items()
    elif isinstance(headers, (str, bytes)) or not isinstance(headers, Iterable):
        raise PlanError(
            f"headers must be (name, value) pairs, e.g. (('Accept', '*/*'),), "
            f"got {_describe(headers)}"
        )
    else:
        items = headers
    pairs: list[tuple[str, str]] = []
    for item in items:
        if (
            not isinstance(item, (tuple, list))
            or len(item) != 2
            or not all(isinstance(part, str) for part in item)
        ):
            raise PlanError(
                f"headers must be (name, value) pairs of str, e.g. ('Accept', '*/*'), got {item!r}"
            )
        name, value = item
        pairs.append((name, value))
    return tuple(pairs)


@dataclass(frozen=True)
class Http(_Mixed):
    """HTTP/1.1 requests over keep-alive connections; the target is an ``http://`` URL.

    Every request is ``method`` on the URL's path and query, with ``headers`` after
    ``Host`` (a ``Host`` header given here replaces the URL's) and ``body`` framed by a
    ``Content-Length`` the engine adds. ``close=True`` sends ``Connection: close`` so
    every request opens a new connection. ``pipeline`` requests are kept in flight
    on each connection (closed loop only). Any status is a completed request; those
    outside 200-399 are counted in ``Result.non_2xx_3xx``.
    """

    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    close: bool = False
    pipeline: int = 1
    #: A mix: entries sent instead of the one request (see :class:`Entry`); the URL
    #: then gives the host, each entry its path.
    requests: Optional[tuple[Entry, ...]] = None
    #: How a mix picks entries: ``"random"``, ``"round_robin"`` or ``"session"``.
    mix: str = "random"
    #: The mix's seed (random order); None draws one, reported in ``Result.mix``.
    seed: Optional[int] = None

    def __post_init__(self) -> None:
        self._check_mix()
        if not isinstance(self.method, str):
            raise PlanError(f"method must be a str such as 'GET', got {_describe(self.method)}")
        # Frozen: normalise to tuples and bytes so the plan stays hashable.
        object.__setattr__(self, "headers", _header_pairs(self.headers))
        object.__setattr__(self, "body", _check_bytes("body", self.body))
        _check_bool("close", self.close)
        _check_int("pipeline", self.pipeline)
        _check_protocol(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        """The ``protocol`` object of the plan JSON, without ``url`` (Plan adds it)."""
        return {
            "kind": "http",
            "method": self.method,
            "headers": [[name, value] for name, value in self.headers],
            "body_hex": self.body.hex(),
            "close": self.close,
            "pipeline": self.pipeline,
            **self._mix_dict("http"),
        }


@dataclass(frozen=True)
class Ws(_Mixed):
    """WebSocket (RFC 6455) messages to an echo server; the target is a ``ws://`` URL.

    Each connection does the opening handshake (asking for ``subprotocol`` if given),
    then sends a message and waits for its echo before sending the next. ``message``
    is sent verbatim when given; otherwise ``message_bytes`` bytes (0 is allowed) of
    a fixed printable pattern. Text messages (``binary=False``) must be UTF-8.
    ``frame_bytes`` splits each message into frames of at most that many bytes;
    ``chunk_bytes`` writes the encoded message to the socket in pieces of at most that
    many bytes, one write each (a message's time runs from its first piece).
    """

    message: Optional[bytes] = None
    message_bytes: int = 64
    binary: bool = False
    frame_bytes: Optional[int] = None
    chunk_bytes: Optional[int] = None
    subprotocol: Optional[str] = None
    #: Messages in flight per connection (closed loop only): wsperf's one at a time
    #: hides a server's throughput; the echoes come back in order.
    pipeline: int = 1
    #: A mix: entries sent instead of the one message (see :class:`Entry`), e.g.
    #: weighted sizes ``[Entry(size=64, weight=9), Entry(size=65536)]``.
    requests: Optional[tuple[Entry, ...]] = None
    #: How a mix picks entries: ``"random"``, ``"round_robin"`` or ``"session"``.
    mix: str = "random"
    #: The mix's seed (random order); None draws one, reported in ``Result.mix``.
    seed: Optional[int] = None

    def __post_init__(self) -> None:
        self._check_mix()
        if self.message is not None:
            object.__setattr__(self, "message", _check_bytes("message", self.message))
        else:
            _check_int("message_bytes", self.message_bytes)
            _check_payload_size(self.message_bytes, "message_bytes", empty_ok=True)
        _check_bool("binary", self.binary)
        if self.frame_bytes is not None:
            _check_int("frame_bytes", self.frame_bytes)
        if self.chunk_bytes is not None:
            _check_int("chunk_bytes", self.chunk_bytes)
        if self.subprotocol is not None and not isinstance(self.subprotocol, str):
            raise PlanError(f"subprotocol must be a str, got {_describe(self.subprotocol)}")
        _check_int("pipeline", self.pipeline)
        _check_protocol(self.to_dict())

    @classmethod
    def autobahn(cls, case: str, **options: Any) -> Ws:
        """The message shape of one of AutobahnTestSuite's performance cases (9.x), so
        that a user of that suite gets the same case with cannonade's timing.

        ``9.1.N`` / ``9.2.N``: one text / binary message of 64 KiB, 256 KiB, 1, 4, 8 or
        16 MiB (N = 1..6). ``9.3.N`` / ``9.4.N``: a 4 MiB text / binary message in frames
        of 64 B, 256 B, 1, 4, 16, 64, 256 KiB, 1 or 4 MiB (N = 1..9). ``9.7.N`` /
        ``9.8.N``: text / binary round trips of 0, 16, 64, 256, 1024 or 4096 bytes
        (N = 1..6; the suite does 1000: give the plan ``requests=1000``). ``9.5.N`` /
        ``9.6.N``: a 1 MiB text / binary message written to the socket in chops of 64,
        128, 256, 512, 1024 or 2048 bytes (N = 1..6), one write each. Autobahn sends
        each of 9.1-9.6 once; the plan's ``requests`` or duration says how often here.
        ``options`` are other :class:`Ws` fields (``subprotocol``).
        """
        found = _AUTOBAHN.get(case)
        if found is None:
            raise PlanError(
                f"Autobahn case {case!r} is not one of 9.1.1-9.1.6, 9.2.1-9.2.6, "
                f"9.3.1-9.3.9, 9.4.1-9.4.9, 9.5.1-9.5.6, 9.6.1-9.6.6, 9.7.1-9.7.6, "
                f"9.8.1-9.8.6 (AutobahnTestSuite's performance cases)"
            )
        size, binary, frame_bytes, chunk_bytes = found
        return cls(
            message_bytes=size,
            binary=binary,
            frame_bytes=frame_bytes,
            chunk_bytes=chunk_bytes,
            **options,
        )

    @property
    def data(self) -> bytes:
        """The exact payload of each message."""
        if self.message is not None:
            return self.message
        repeats = self.message_bytes // len(_PATTERN) + 1
        return (_PATTERN * repeats)[: self.message_bytes]

    def to_dict(self) -> dict[str, Any]:
        """The ``protocol`` object of the plan JSON, without ``url`` (Plan adds it)."""
        return {
            "kind": "ws",
            "message_hex": self.data.hex(),
            "binary": self.binary,
            "frame_bytes": self.frame_bytes,
            "subprotocol": self.subprotocol,
            # Only when asked for: a plan of one message at a time, written at once,
            # reads as before.
            **({"chunk_bytes": self.chunk_bytes} if self.chunk_bytes is not None else {}),
            **({"pipeline": self.pipeline} if self.pipeline != 1 else {}),
            **self._mix_dict("ws"),
        }


_KIB, _MIB = 1024, 1024 * 1024
#: AutobahnTestSuite's performance cases:
#: case -> (message bytes, binary, frame bytes, write chunk bytes).
_AUTOBAHN: dict[str, tuple[int, bool, Optional[int], Optional[int]]] = {}
for _n, _size in enumerate((64 * _KIB, 256 * _KIB, _MIB, 4 * _MIB, 8 * _MIB, 16 * _MIB), 1):
    _AUTOBAHN[f"9.1.{_n}"] = (_size, False, None, None)
    _AUTOBAHN[f"9.2.{_n}"] = (_size, True, None, None)
_FRAMES = (64, 256, _KIB, 4 * _KIB, 16 * _KIB, 64 * _KIB, 256 * _KIB, _MIB, 4 * _MIB)
for _n, _frame in enumerate(_FRAMES, 1):
    _AUTOBAHN[f"9.3.{_n}"] = (4 * _MIB, False, _frame, None)
    _AUTOBAHN[f"9.4.{_n}"] = (4 * _MIB, True, _frame, None)
for _n, _chunk in enumerate((64, 128, 256, 512, 1024, 2048), 1):
    _AUTOBAHN[f"9.5.{_n}"] = (_MIB, False, None, _chunk)
    _AUTOBAHN[f"9.6.{_n}"] = (_MIB, True, None, _chunk)
for _n, _size in enumerate((0, 16, 64, 256, 1024, 4096), 1):
    _AUTOBAHN[f"9.7.{_n}"] = (_size, False, None, None)
    _AUTOBAHN[f"9.8.{_n}"] = (_size, True, None, None)
del _n, _size, _frame, _chunk

_SCHEMES = {"http": Http, "ws": Ws}
_TLS_SCHEMES = {"https": "http", "wss": "ws"}


def _scheme(target: object) -> Optional[str]:
    """The lower-cased scheme of a URL target, or None for HOST:PORT."""
    if isinstance(target, str) and "://" in target:
        return target.split("://", 1)[0].lower()
    return None


def _check_url(target: object, scheme: str) -> None:
    """Check that a target is a URL of the protocol's scheme; the engine checks the rest."""
    kind = _SCHEMES[scheme].__name__
    example = f"{scheme}://127.0.0.1:8080/"
    a = "an" if scheme == "http" else "a"
    if not isinstance(target, str):
        raise PlanError(
            f"target must be {a} {scheme}:// URL for cannonade.{kind}, got {_describe(target)}"
        )
    got = _scheme(target)
    if got != scheme and _TLS_SCHEMES.get(got or "") != scheme:
        tls = {"http": "https", "ws": "wss"}[scheme]
        raise PlanError(
            f"target must be {a} {scheme}://HOST[:PORT]/PATH URL (or {tls}://) for "
            f"cannonade.{kind} (e.g. {example}), got {target!r}"
        )


def _check_tls(plan: Plan) -> None:
    """The types of a plan's TLS fields; the engine checks what they say."""
    if plan.cacert is not None:
        if not isinstance(plan.cacert, (str, os.PathLike)):
            raise PlanError(f"cacert must be a file path, got {_describe(plan.cacert)}")
        object.__setattr__(plan, "cacert", os.fspath(plan.cacert))
    _check_bool("insecure", plan.insecure)
    if plan.sni is not None and not isinstance(plan.sni, str):
        raise PlanError(f"sni must be a str (a host name), got {_describe(plan.sni)}")
    if plan.tls_resume is not None:
        _check_bool("tls_resume", plan.tls_resume)
    if plan.tls_version is not None and not isinstance(plan.tls_version, str):
        raise PlanError(f"tls_version must be '1.2' or '1.3', got {_describe(plan.tls_version)}")


def _tls_dict(plan: Plan) -> dict[str, Any]:
    """The plan JSON's TLS fields, those that are set."""
    fields: dict[str, Any] = {}
    if plan.cacert is not None:
        fields["cacert"] = plan.cacert
    if plan.insecure:
        fields["insecure"] = True
    if plan.sni is not None:
        fields["sni"] = plan.sni
    if plan.tls_resume is not None:
        fields["tls_resume"] = plan.tls_resume
    if plan.tls_version is not None:
        fields["tls_version"] = plan.tls_version
    return fields


def _default_protocol(target: object) -> Union[Tcp, Http, Ws]:
    """The protocol a target implies: ``Http()`` for http://, ``Ws()`` for ws://, else ``Tcp()``."""
    scheme = _scheme(target)
    if scheme is None:
        return Tcp()
    if scheme in _SCHEMES or scheme in _TLS_SCHEMES:
        return _SCHEMES[_TLS_SCHEMES.get(scheme, scheme)]()
    raise PlanError(
        f"target: {scheme}:// is not supported; give an http:// or ws:// URL, "
        f"or HOST:PORT for TCP, got {target!r}"
    )


def _check_target(target: object, protocol: object) -> None:
    """Check that the target is of the protocol's kind: HOST:PORT for Tcp, else a URL."""
    if isinstance(protocol, Tcp):
        if _scheme(target) is not None:
            raise PlanError(
                f"target must be HOST:PORT for cannonade.Tcp, got the URL {target!r}; "
                f"for a URL use protocol=cannonade.Http() or cannonade.Ws() (or leave "
                f"protocol out)"
            )
        if not isinstance(target, str):
            raise PlanError(f"target must be a string HOST:PORT, got {_describe(target)}")
    elif isinstance(protocol, (Http, Ws)):
        _check_url(target, "http" if isinstance(protocol, Http) else "ws")
    else:
        raise PlanError(
            f"protocol must be cannonade.Tcp(...), cannonade.Http(...) or "
            f"cannonade.Ws(...), got {_describe(protocol)}"
        )


@dataclass(frozen=True)
class Plan:
    """One load run against one target.

    ``target`` is ``HOST:PORT`` for :class:`Tcp`, an ``http://HOST[:PORT]/PATH`` URL for
    :class:`Http` and a ``ws://`` URL for :class:`Ws`. Without ``protocol`` the target
    chooses: ``Http()`` for http://, ``Ws()`` for ws://, ``Tcp()`` otherwise.

    The run stops at ``duration_s`` or after ``requests`` completed exchanges,
    whichever comes first; give at least one. Without ``rate_per_s`` each connection
    runs a closed loop; with it the run is an open loop at that total rate, the wrk2
    way (latency corrected for coordinated omission). A snapshot of the load is taken
    every ``interval_s`` (see :meth:`Run.poll`). ``requests_per_connection`` and
    ``connection_rate_per_s`` churn connections (close after K requests; open at most C
    per second); ``idle_connections`` holds that many more connections open, silent,
    beside the load. ``think_time_s`` pauses each connection between a reply and its
    next request (closed loop only). ``threads`` defaults to
    ``min(cores, connections)`` in the engine. ``request_timeout_s=None`` waits
    for replies forever.

    TLS (``https://``, ``wss://``, or ``Tcp(tls=True)``): the server's certificate is
    checked against the system's trust store, or against the CA certificates of the PEM
    file ``cacert``; ``insecure=True`` accepts any certificate (a self-signed server on
    loopback). The name checked, and sent as SNI, is the URL's host unless ``sni`` gives
    another. ``tls_resume=True`` resumes sessions on new connections; by default every
    connection makes a full handshake. ``tls_version`` ``"1.2"`` or ``"1.3"`` allows that
    version alone.
    """

    target: str
    protocol: Optional[Union[Tcp, Http, Ws]] = None
    connections: int = 10
    threads: Optional[int] = None
    duration_s: Optional[float] = None
    requests: Optional[int] = None
    connect_timeout_s: float = 2.0
    request_timeout_s: Optional[float] = 10.0
    reconnect: bool = True
    rate_per_s: Optional[float] = None
    interval_s: float = 1.0
    requests_per_connection: Optional[int] = None
    connection_rate_per_s: Optional[float] = None
    idle_connections: int = 0
    think_time_s: Optional[float] = None
    cacert: Optional[Union[str, os.PathLike[str]]] = None
    insecure: bool = False
    sni: Optional[str] = None
    tls_resume: Optional[bool] = None
    tls_version: Optional[str] = None

    def __post_init__(self) -> None:
        if self.protocol is None:
            object.__setattr__(self, "protocol", _default_protocol(self.target))
        _check_target(self.target, self.protocol)
        self._check_types()
        if self.duration_s is None and self.requests is None:
            raise PlanError("give duration_s or requests (or both)")
        _engine_check(self.to_dict())

    def _check_types(self) -> None:
        """Types here, for the JSON; every rule (limits, combinations, the target's
        syntax) is the engine's, checked once on the JSON a run would get."""
        _check_int("connections", self.connections)
        for name in ("threads", "requests", "requests_per_connection"):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name))
        _check_int("idle_connections", self.idle_connections)
        _check_bool("reconnect", self.reconnect)
        if self.rate_per_s is not None:
            _check_rate("rate_per_s", self.rate_per_s, "requests")
        if self.connection_rate_per_s is not None:
            _check_rate("connection_rate_per_s", self.connection_rate_per_s, "connections")
        _check_tls(self)

    def to_dict(self) -> dict[str, Any]:
        """The plan JSON object of the C ABI contract (seconds become integer ms)."""
        protocol = self.protocol
        assert protocol is not None  # set by __post_init__
        plan: dict[str, Any] = {"abi_version": ABI_VERSION}
        if isinstance(protocol, Tcp):
            plan["target"] = self.target
        plan["connections"] = self.connections
        if self.threads is not None:
            plan["threads"] = self.threads
        if self.duration_s is not None:
            plan["duration_ms"] = _seconds_to_ms("duration_s", self.duration_s)
        if self.requests is not None:
            plan["requests"] = self.requests
        plan["connect_timeout_ms"] = _seconds_to_ms("connect_timeout_s", self.connect_timeout_s)
        plan["request_timeout_ms"] = (
            None
            if self.request_timeout_s is None
            else _seconds_to_ms("request_timeout_s", self.request_timeout_s)
        )
        plan["reconnect"] = self.reconnect
        if self.rate_per_s is not None:
            plan["rate_per_s"] = float(self.rate_per_s)
        plan["interval_ms"] = _seconds_to_ms("interval_s", self.interval_s)
        if self.requests_per_connection is not None:
            plan["requests_per_connection"] = self.requests_per_connection
        if self.connection_rate_per_s is not None:
            plan["connection_rate_per_s"] = float(self.connection_rate_per_s)
        if self.idle_connections:
            plan["idle_connections"] = self.idle_connections
        if self.think_time_s is not None:
            plan["think_time_ms"] = _seconds_to_ms("think_time_s", self.think_time_s)
        plan.update(_tls_dict(self))
        spec = protocol.to_dict()
        if not isinstance(protocol, Tcp):
            # The URL says where to connect and what Host and path to send.
            spec = {"kind": spec.pop("kind"), "url": self.target, **spec}
        plan["protocol"] = spec
        return plan

    def to_json(self) -> str:
        """The plan as the JSON text ``cn_run_start`` takes."""
        return json.dumps(self.to_dict())
