"""Plan validation in Python: every error names the field and says what to do."""

from __future__ import annotations

import json

import pytest

import cannonade
from cannonade import MAX_PAYLOAD_BYTES, Plan, PlanError, Tcp

TARGET = "127.0.0.1:9"


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"connections": 0, "requests": 1}, ["connections", "between 1 and", "got 0"]),
        ({"connections": "32", "requests": 1}, ["connections", "integer", "'32'"]),
        ({"connections": True, "requests": 1}, ["connections", "integer"]),
        ({"duration_s": -1}, ["duration_s", "positive", "-1"]),
        ({"duration_s": 0}, ["duration_s", "positive"]),
        ({"duration_s": float("nan")}, ["duration_s", "positive"]),
        ({"duration_s": "5"}, ["duration_s", "seconds"]),
        ({"requests": 0}, ["requests", "positive"]),
        ({}, ["give duration_s or requests (or both)"]),
        (
            {"connections": 4, "threads": 8, "requests": 1},
            ["threads", "8 threads for 4 connections"],
        ),
        ({"threads": 0, "requests": 1}, ["threads", "between 1 and 1024"]),
        ({"connect_timeout_s": 0, "requests": 1}, ["connect_timeout_s", "positive"]),
        ({"request_timeout_s": -2.5, "requests": 1}, ["request_timeout_s", "positive"]),
        ({"reconnect": "yes", "requests": 1}, ["reconnect", "True or False"]),
        ({"protocol": "tcp", "requests": 1}, ["protocol", "cannonade.Tcp"]),
    ],
)
def test_plan_errors_name_the_field(kwargs: dict, words: list) -> None:
    with pytest.raises(PlanError) as info:
        Plan(TARGET, **kwargs)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize(
    "target", ["localhost", "127.0.0.1:", ":80", "h:0", "h:65536", "::1:80", 80]
)
def test_bad_targets(target: object) -> None:
    with pytest.raises(PlanError, match="target"):
        Plan(target, requests=1)  # type: ignore[arg-type]


def test_huge_payload_is_refused() -> None:
    with pytest.raises(PlanError) as info:
        Tcp(payload_bytes=MAX_PAYLOAD_BYTES + 1)
    assert str(info.value) == "payload is 16777217 bytes; the maximum is 16 MiB"
    with pytest.raises(PlanError, match="16777217 bytes"):
        Tcp(payload=bytes(MAX_PAYLOAD_BYTES + 1))
    assert len(Tcp(payload_bytes=MAX_PAYLOAD_BYTES).data) == MAX_PAYLOAD_BYTES


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"payload": b""}, "payload"),
        ({"payload": "text"}, "payload"),
        ({"payload_bytes": 0}, "payload"),
        ({"reply_bytes": 0}, "reply_bytes"),
        ({"reply_bytes": 1.5}, "reply_bytes"),
    ],
)
def test_tcp_errors(kwargs: dict, field: str) -> None:
    with pytest.raises(PlanError, match=field):
        Tcp(**kwargs)


def test_plan_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        Plan(TARGET, connections=0, requests=1)


def test_plan_json_follows_the_contract() -> None:
    plan = Plan(
        "[::1]:8080",
        Tcp(payload=b"hello", reply_bytes=612),
        connections=32,
        threads=2,
        duration_s=5,
        requests=100000,
        connect_timeout_s=0.25,
        request_timeout_s=None,
        reconnect=False,
        rate_per_s=1500,
        interval_s=0.5,
    )
    assert json.loads(plan.to_json()) == {
        "abi_version": 2,
        "target": "[::1]:8080",
        "connections": 32,
        "threads": 2,
        "duration_ms": 5000,
        "requests": 100000,
        "connect_timeout_ms": 250,
        "request_timeout_ms": None,
        "reconnect": False,
        "rate_per_s": 1500.0,
        "interval_ms": 500,
        "protocol": {
            "kind": "tcp",
            "payload_hex": "68656c6c6f",
            "reply": {"kind": "fixed", "bytes": 612},
        },
    }


def test_plan_json_defaults() -> None:
    data = json.loads(Plan(TARGET, duration_s=0.5).to_json())
    assert data["abi_version"] == cannonade.ABI_VERSION
    assert "threads" not in data and "requests" not in data
    assert data["duration_ms"] == 500
    assert data["connections"] == 10
    assert data["connect_timeout_ms"] == 2000 and data["request_timeout_ms"] == 10000
    assert data["reconnect"] is True
    assert data["protocol"]["reply"] == {"kind": "echo"}
    assert len(bytes.fromhex(data["protocol"]["payload_hex"])) == 64


def test_default_payload_is_deterministic() -> None:
    assert Tcp(payload_bytes=100).data == Tcp(payload_bytes=100).data
    assert len(Tcp(payload_bytes=100).data) == 100
    assert Tcp(payload=bytearray(b"ab")).payload == b"ab"  # type: ignore[arg-type]


def test_plans_are_frozen_and_hashable() -> None:
    plan = Plan(TARGET, requests=1)
    with pytest.raises(AttributeError):
        plan.connections = 5  # type: ignore[misc]
    assert hash(plan) == hash(Plan(TARGET, requests=1))
