"""Plans: what to send, to whom, for how long. Frozen, validated, serialised to JSON."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Optional

from ._errors import PlanError
from ._version import ABI_VERSION

__all__ = ["MAX_PAYLOAD_BYTES", "Plan", "Tcp"]

#: Largest request payload the engine accepts (16 MiB).
MAX_PAYLOAD_BYTES = 16 * 1024 * 1024
_MAX_CONNECTIONS = 1_000_000
_MAX_THREADS = 1024
_MAX_U64 = 2**64 - 1
_MAX_RATE_PER_S = 100_000_000.0
_MIN_INTERVAL_MS = 10
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
    ``reply_bytes`` is the reply length; ``None`` means an echo server (the
    reply is as long as the payload).
    """

    payload: Optional[bytes] = None
    payload_bytes: int = 64
    reply_bytes: Optional[int] = None

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

    @property
    def data(self) -> bytes:
        """The exact bytes sent as each request."""
        if self.payload is not None:
            return self.payload
        repeats = self.payload_bytes // len(_PATTERN) + 1
        return (_PATTERN * repeats)[: self.payload_bytes]

    def to_dict(self) -> dict[str, Any]:
        """The ``protocol`` object of the plan JSON."""
        if self.reply_bytes is None:
            reply: dict[str, Any] = {"kind": "echo"}
        else:
            reply = {"kind": "fixed", "bytes": self.reply_bytes}
        return {"kind": "tcp", "payload_hex": self.data.hex(), "reply": reply}


@dataclass(frozen=True)
class Plan:
    """One load run against one target.

    The run stops at ``duration_s`` or after ``requests`` completed exchanges,
    whichever comes first; give at least one. Without ``rate_per_s`` each connection
    runs a closed loop; with it the run is an open loop at that total rate, the wrk2
    way (latency corrected for coordinated omission). A snapshot of the load is taken
    every ``interval_s`` (see :meth:`Run.poll`). ``threads`` defaults to
    ``min(cores, connections)`` in the engine. ``request_timeout_s=None`` waits
    for replies forever.
    """

    target: str
    protocol: Tcp = Tcp()
    connections: int = 10
    threads: Optional[int] = None
    duration_s: Optional[float] = None
    requests: Optional[int] = None
    connect_timeout_s: float = 2.0
    request_timeout_s: Optional[float] = 10.0
    reconnect: bool = True
    rate_per_s: Optional[float] = None
    interval_s: float = 1.0

    def __post_init__(self) -> None:
        _check_target(self.target)
        if not isinstance(self.protocol, Tcp):
            raise PlanError(f"protocol must be cannonade.Tcp(...), got {_describe(self.protocol)}")
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
        if _seconds_to_ms("interval_s", self.interval_s) < _MIN_INTERVAL_MS:
            raise PlanError(f"interval_s must be at least 0.01 (10 ms), got {self.interval_s}")

    def to_dict(self) -> dict[str, Any]:
        """The plan JSON object of the C ABI contract (seconds become integer ms)."""
        plan: dict[str, Any] = {
            "abi_version": ABI_VERSION,
            "target": self.target,
            "connections": self.connections,
        }
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
        plan["protocol"] = self.protocol.to_dict()
        return plan

    def to_json(self) -> str:
        """The plan as the JSON text ``cn_run_start`` takes."""
        return json.dumps(self.to_dict())
