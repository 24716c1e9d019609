"""Plans: what to send, to whom, for how long. Frozen, validated, serialised to JSON."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Optional, Union

from ._errors import PlanError
from ._version import ABI_VERSION

__all__ = ["MAX_PAYLOAD_BYTES", "Http", "Plan", "Tcp", "Ws"]

#: Largest request payload the engine accepts (16 MiB).
MAX_PAYLOAD_BYTES = 16 * 1024 * 1024
_MAX_CONNECTIONS = 1_000_000
_MAX_THREADS = 1024
_MAX_U64 = 2**64 - 1
_MAX_RATE_PER_S = 100_000_000.0
_MAX_DELIMITER_BYTES = 64
_MIN_INTERVAL_MS = 10
_MAX_PIPELINE = 1024
# Printable so a payload is recognisable in a packet capture.
_PATTERN = b"abcdefghijklmnopqrstuvwxyz0123456789"


def _describe(value: object) -> str:
    return f"{type(value).__name__} {value!r}"


def _check_int(name: str, value: object, low: int, high: int) -> int:
    # bool is an int subclass; True connections is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise PlanError(f"{name} must be an integer, got {_describe(value)}")
    if value < low:
        raise PlanError(f"{name} must be at least {low}, got {value}")
    if value > high:
        raise PlanError(f"{name} must be at most {high}, got {value}")
    return value


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


def _check_payload_size(size: int) -> None:
    if size == 0:
        raise PlanError("payload is empty; give at least 1 byte")
    if size > MAX_PAYLOAD_BYTES:
        raise PlanError(f"payload is {size} bytes; the maximum is 16 MiB")


def _check_target(target: object) -> None:
    if not isinstance(target, str):
        raise PlanError(f"target must be a string HOST:PORT, got {_describe(target)}")
    host, sep, port = target.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise PlanError(
            f"target must be HOST:PORT with a port 1-65535 (e.g. 127.0.0.1:8080), got {target!r}"
        )
    if ":" in host and not (host.startswith("[") and host.endswith("]")):
        raise PlanError(
            f"target: write an IPv6 address in brackets, e.g. [::1]:8080, got {target!r}"
        )


@dataclass(frozen=True)
class Tcp:
    """Plain TCP request/reply: send a payload, read a reply of known length.

    ``payload`` is sent verbatim when given; otherwise ``payload_bytes`` bytes of
    a fixed printable pattern are sent (``payload_bytes`` is then ignored).
    ``reply_bytes`` is the reply length; ``reply_delimiter`` instead ends each reply
    at those bytes (e.g. ``b"\\n"`` for a line protocol); with neither, the server is an
    echo server (the reply is as long as the payload).
    """

    payload: Optional[bytes] = None
    payload_bytes: int = 64
    reply_bytes: Optional[int] = None
    reply_delimiter: Optional[bytes] = None

    def __post_init__(self) -> None:
        if self.payload is not None:
            if not isinstance(self.payload, (bytes, bytearray, memoryview)):
                raise PlanError(f"payload must be bytes, got {_describe(self.payload)}")
            # Frozen: normalise bytes-likes to immutable bytes so the plan stays hashable.
            object.__setattr__(self, "payload", bytes(self.payload))
            _check_payload_size(len(self.payload))
        else:
            _check_int("payload_bytes", self.payload_bytes, 1, _MAX_U64)
            _check_payload_size(self.payload_bytes)
        if self.reply_bytes is not None:
            _check_int("reply_bytes", self.reply_bytes, 1, MAX_PAYLOAD_BYTES)
        if self.reply_delimiter is not None:
            delimiter = self.reply_delimiter
            if not isinstance(delimiter, (bytes, bytearray, memoryview)):
                raise PlanError(f"reply_delimiter must be bytes, got {_describe(delimiter)}")
            object.__setattr__(self, "reply_delimiter", bytes(delimiter))
            if not 1 <= len(delimiter) <= _MAX_DELIMITER_BYTES:
                raise PlanError(
                    f"reply_delimiter must be 1 to {_MAX_DELIMITER_BYTES} bytes, "
                    f"got {len(delimiter)}"
                )
            if self.reply_bytes is not None:
                raise PlanError("give reply_bytes or reply_delimiter, not both")

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
        return {"kind": "tcp", "payload_hex": self.data.hex(), "reply": reply}


# RFC 7230 tchar: what methods, header names and subprotocols are made of.
_TCHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_TOKEN_HINT = "letters, digits or !#$%&'*+-.^_`|~ only"
# The engine frames the body itself; a second framing header would let the server
# misread where the request ends.
_FRAMING_HEADERS = ("content-length", "transfer-encoding")


def _is_token(text: str) -> bool:
    return bool(text) and all(c in _TCHARS for c in text)


def _check_bytes(name: str, value: object) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise PlanError(
            f"{name} must be bytes, got {_describe(value)}; encode text first, e.g. 'hi'.encode()"
        )
    data = bytes(value)
    if len(data) > MAX_PAYLOAD_BYTES:
        raise PlanError(f"{name} is {len(data)} bytes; the maximum is 16 MiB")
    return data


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
        if not _is_token(name):
            raise PlanError(
                f"headers: header name {name!r} is not an HTTP token; use {_TOKEN_HINT}"
            )
        if any(c in value for c in "\r\n\0"):
            raise PlanError(
                f"headers: the value of header {name!r} holds CR, LF or NUL; remove them "
                f"(a header value is one line)"
            )
        if name.lower() in _FRAMING_HEADERS:
            raise PlanError(
                f"headers: {name!r} is set by cannonade from the body; remove it from the headers"
            )
        pairs.append((name, value))
    return tuple(pairs)


@dataclass(frozen=True)
class Http:
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

    def __post_init__(self) -> None:
        if not isinstance(self.method, str) or not _is_token(self.method):
            raise PlanError(
                f"method must be an HTTP token such as GET or POST ({_TOKEN_HINT}), "
                f"got {_describe(self.method)}"
            )
        # Frozen: normalise to tuples and bytes so the plan stays hashable.
        object.__setattr__(self, "headers", _header_pairs(self.headers))
        object.__setattr__(self, "body", _check_bytes("body", self.body))
        if not isinstance(self.close, bool):
            raise PlanError(f"close must be True or False, got {_describe(self.close)}")
        _check_int("pipeline", self.pipeline, 1, _MAX_PIPELINE)
        if self.close and self.pipeline > 1:
            raise PlanError(
                f"pipeline must be 1 with close=True (each connection carries one request), "
                f"got {self.pipeline}"
            )

    def to_dict(self) -> dict[str, Any]:
        """The ``protocol`` object of the plan JSON, without ``url`` (Plan adds it)."""
        return {
            "kind": "http",
            "method": self.method,
            "headers": [[name, value] for name, value in self.headers],
            "body_hex": self.body.hex(),
            "close": self.close,
            "pipeline": self.pipeline,
        }


@dataclass(frozen=True)
class Ws:
    """WebSocket (RFC 6455) messages to an echo server; the target is a ``ws://`` URL.

    Each connection does the opening handshake (asking for ``subprotocol`` if given),
    then sends a message and waits for its echo before sending the next. ``message``
    is sent verbatim when given; otherwise ``message_bytes`` bytes (0 is allowed) of
    a fixed printable pattern. Text messages (``binary=False``) must be UTF-8.
    ``frame_bytes`` splits each message into frames of at most that many bytes.
    """

    message: Optional[bytes] = None
    message_bytes: int = 64
    binary: bool = False
    frame_bytes: Optional[int] = None
    subprotocol: Optional[str] = None

    def __post_init__(self) -> None:
        if self.message is not None:
            object.__setattr__(self, "message", _check_bytes("message", self.message))
        else:
            _check_int("message_bytes", self.message_bytes, 0, MAX_PAYLOAD_BYTES)
        if not isinstance(self.binary, bool):
            raise PlanError(f"binary must be True or False, got {_describe(self.binary)}")
        if not self.binary and self.message is not None:
            try:
                self.message.decode("utf-8")
            except UnicodeDecodeError as error:
                raise PlanError(
                    f"message is not UTF-8 ({error.reason} at byte {error.start}); a text "
                    f"message must be UTF-8, so use binary=True for other bytes"
                ) from None
        if self.frame_bytes is not None:
            _check_int("frame_bytes", self.frame_bytes, 1, _MAX_U64)
        if self.subprotocol is not None and (
            not isinstance(self.subprotocol, str) or not _is_token(self.subprotocol)
        ):
            raise PlanError(
                f"subprotocol must be a non-empty HTTP token ({_TOKEN_HINT}; no spaces or "
                f"commas), got {_describe(self.subprotocol)}"
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
        }


_SCHEMES = {"http": Http, "ws": Ws}
_TLS_SCHEMES = {"https": "http", "wss": "ws"}


def _scheme(target: object) -> Optional[str]:
    """The lower-cased scheme of a URL target, or None for HOST:PORT."""
    if isinstance(target, str) and "://" in target:
        return target.split("://", 1)[0].lower()
    return None


def _check_url(target: object, scheme: str) -> None:
    """Check an http:// or ws:// target as far as the engine needs it."""
    kind = _SCHEMES[scheme].__name__
    example = f"{scheme}://127.0.0.1:8080/"
    a = "an" if scheme == "http" else "a"
    if not isinstance(target, str):
        raise PlanError(
            f"target must be {a} {scheme}:// URL for cannonade.{kind}, got {_describe(target)}"
        )
    got = _scheme(target)
    if got in _TLS_SCHEMES:
        raise PlanError(
            f"target: TLS is not supported yet ({got}://); use a plain "
            f"{_TLS_SCHEMES[got]}:// URL, got {target!r}"
        )
    if got != scheme:
        raise PlanError(
            f"target must be {a} {scheme}://HOST[:PORT]/PATH URL for cannonade.{kind} "
            f"(e.g. {example}), got {target!r}"
        )
    if any(c <= " " or c >= "\x7f" for c in target):
        raise PlanError(
            f"target holds a space, a control character or a non-ASCII character; "
            f"percent-encode it, got {target!r}"
        )
    rest = target.split("://", 1)[1]
    if "#" in rest:
        raise PlanError(f"target: remove the #fragment, it is never sent; got {target!r}")
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    authority = rest[:cut]
    if "@" in authority:
        raise PlanError(
            f"target: user:password@ in the URL is not supported; send an Authorization "
            f"header instead, got {target!r}"
        )
    if authority.startswith("["):
        end = authority.find("]")
        host, port_part = authority[: end + 1], authority[end + 1 :]
        if end < 0 or (port_part and not port_part.startswith(":")):
            raise PlanError(f"target: bad IPv6 address in brackets, got {target!r}")
    else:
        host, sep, port = authority.partition(":")
        port_part = sep + port
        if ":" in port:
            raise PlanError(
                f"target: write an IPv6 address in brackets, e.g. {scheme}://[::1]:8080/, "
                f"got {target!r}"
            )
    if host in ("", "[]"):
        raise PlanError(f"target has no host (e.g. {example}), got {target!r}")
    if port_part:
        port = port_part[1:]
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise PlanError(f"target: the port must be 1-65535 (e.g. {example}), got {target!r}")


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

    def __post_init__(self) -> None:
        scheme = _scheme(self.target)
        if self.protocol is None:
            if scheme is None:
                default: type[Union[Tcp, Http, Ws]] = Tcp
            elif scheme in _SCHEMES or scheme in _TLS_SCHEMES:
                default = _SCHEMES[_TLS_SCHEMES.get(scheme, scheme)]
            else:
                raise PlanError(
                    f"target: {scheme}:// is not supported; give an http:// or ws:// URL, "
                    f"or HOST:PORT for TCP, got {self.target!r}"
                )
            object.__setattr__(self, "protocol", default())
        protocol = self.protocol
        if isinstance(protocol, Tcp):
            if scheme is not None:
                raise PlanError(
                    f"target must be HOST:PORT for cannonade.Tcp, got the URL {self.target!r}; "
                    f"for a URL use protocol=cannonade.Http() or cannonade.Ws() (or leave "
                    f"protocol out)"
                )
            _check_target(self.target)
        elif isinstance(protocol, (Http, Ws)):
            _check_url(self.target, "http" if isinstance(protocol, Http) else "ws")
        else:
            raise PlanError(
                f"protocol must be cannonade.Tcp(...), cannonade.Http(...) or "
                f"cannonade.Ws(...), got {_describe(protocol)}"
            )
        _check_int("connections", self.connections, 1, _MAX_CONNECTIONS)
        if self.threads is not None:
            _check_int("threads", self.threads, 1, _MAX_THREADS)
            if self.threads > self.connections:
                raise PlanError(
                    f"threads ({self.threads}) must not exceed connections ({self.connections}); "
                    f"lower threads or raise connections"
                )
        if self.duration_s is None and self.requests is None:
            raise PlanError("give duration_s or requests (or both)")
        if self.duration_s is not None:
            _seconds_to_ms("duration_s", self.duration_s)
        if self.requests is not None:
            _check_int("requests", self.requests, 1, _MAX_U64)
        _seconds_to_ms("connect_timeout_s", self.connect_timeout_s)
        if self.request_timeout_s is not None:
            _seconds_to_ms("request_timeout_s", self.request_timeout_s)
        if not isinstance(self.reconnect, bool):
            raise PlanError(f"reconnect must be True or False, got {_describe(self.reconnect)}")
        if self.rate_per_s is not None:
            rate = self.rate_per_s
            if isinstance(rate, bool) or not isinstance(rate, (int, float)):
                raise PlanError(f"rate_per_s must be a number of requests/s, got {_describe(rate)}")
            if not math.isfinite(rate) or not 0 < rate <= _MAX_RATE_PER_S:
                raise PlanError(
                    f"rate_per_s must be positive and at most {_MAX_RATE_PER_S:g}, got {rate}; "
                    f"use rate_per_s=None for a closed loop"
                )
        if self.requests_per_connection is not None:
            _check_int("requests_per_connection", self.requests_per_connection, 1, _MAX_U64)
        if self.connection_rate_per_s is not None:
            rate = self.connection_rate_per_s
            if isinstance(rate, bool) or not isinstance(rate, (int, float)):
                raise PlanError(
                    "connection_rate_per_s must be a number of connections/s, "
                    f"got {_describe(rate)}"
                )
            if not math.isfinite(rate) or not 0 < rate <= _MAX_RATE_PER_S:
                raise PlanError(
                    f"connection_rate_per_s must be positive and at most {_MAX_RATE_PER_S:g}, "
                    f"got {rate}"
                )
        _check_int("idle_connections", self.idle_connections, 0, _MAX_CONNECTIONS)
        if self.think_time_s is not None:
            _seconds_to_ms("think_time_s", self.think_time_s)
            if self.rate_per_s is not None:
                raise PlanError(
                    "think_time_s paces a closed loop; with rate_per_s the schedule paces the "
                    "requests, so leave one of them out"
                )
        if _seconds_to_ms("interval_s", self.interval_s) < _MIN_INTERVAL_MS:
            raise PlanError(f"interval_s must be at least 0.01 (10 ms), got {self.interval_s}")
        if isinstance(protocol, Http) and protocol.pipeline > 1 and self.rate_per_s is not None:
            raise PlanError(
                f"pipeline must be 1 with rate_per_s (a constant rate sends each request at "
                f"its own time), got pipeline={protocol.pipeline}; set pipeline=1 or "
                f"rate_per_s=None"
            )

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
        spec = protocol.to_dict()
        if not isinstance(protocol, Tcp):
            # The URL says where to connect and what Host and path to send.
            spec = {"kind": spec.pop("kind"), "url": self.target, **spec}
        plan["protocol"] = spec
        return plan

    def to_json(self) -> str:
        """The plan as the JSON text ``cn_run_start`` takes."""
        return json.dumps(self.to_dict())
