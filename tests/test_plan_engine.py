"""The engine is the one home of the plan's rules: Python builds the JSON and forwards it.

Each bad plan below is refused the same way twice: by ``cannonade.Plan(...)`` and by the
engine's own check of the JSON text (``cn_plan_validate`` / the PyO3 ``validate``), with
the same field named. A rule added to one side only would fail here.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from cannonade import MAX_PAYLOAD_BYTES, Http, Plan, PlanError, Tcp, Ws, _backend
from cannonade._version import ABI_VERSION

TCP = {"kind": "tcp", "payload_hex": "61", "reply": {"kind": "echo"}}


def http(url: str = "http://127.0.0.1:9/", **fields: Any) -> dict[str, Any]:
    return {"kind": "http", "url": url, **fields}


def plan_json(**fields: Any) -> str:
    plan: dict[str, Any] = {"abi_version": ABI_VERSION, "connections": 2, "requests": 1}
    plan.update(fields)
    plan.setdefault("protocol", TCP)
    if plan["protocol"]["kind"] == "tcp":
        plan.setdefault("target", "127.0.0.1:9")
    return json.dumps(plan)


# (Python keyword arguments, the same plan as JSON fields, the field the error names:
# one name, or the Python name and the JSON one)
CASES = [
    ({"connections": 0}, {"connections": 0}, "connections"),
    ({"connections": 2_000_000}, {"connections": 2_000_000}, "connections"),
    ({"threads": 0}, {"threads": 0}, "threads"),
    ({"connections": 2, "threads": 3}, {"threads": 3}, "threads"),
    ({"rate_per_s": 0.0}, {"rate_per_s": 0.0}, "rate_per_s"),
    ({"rate_per_s": 1e9}, {"rate_per_s": 1e9}, "rate_per_s"),
    ({"connection_rate_per_s": -1.0}, {"connection_rate_per_s": -1.0}, "connection_rate_per_s"),
    ({"interval_s": 0.005}, {"interval_ms": 5}, "interval"),
    ({"rate_per_s": 10, "think_time_s": 0.01}, {"rate_per_s": 10, "think_time_ms": 10}, "think"),
    ({"target": "127.0.0.1:0"}, {"target": "127.0.0.1:0"}, "target"),
    ({"target": "::1:80"}, {"target": "::1:80"}, "target"),
    ({"target": ":80"}, {"target": ":80"}, "target"),
    (
        {"target": "http://127.0.0.1:0/", "protocol": Http()},
        {"protocol": http("http://127.0.0.1:0/")},
        ("target", "protocol.url"),
    ),
    (
        {"target": "http://127.0.0.1/#x", "protocol": Http()},
        {"protocol": http("http://127.0.0.1/#x")},
        ("target", "protocol.url"),
    ),
    (
        {"target": "http://127.0.0.1:9/", "protocol": Http(), "rate_per_s": 5},
        {"protocol": http(pipeline=2), "rate_per_s": 5.0},
        "pipeline",
    ),
]


@pytest.mark.parametrize("kwargs, fields, name", CASES)
def test_python_and_engine_refuse_the_same_plans(kwargs: dict, fields: dict, name: Any) -> None:
    python_name, engine_name = (name, name) if isinstance(name, str) else name
    kwargs = dict(kwargs)
    target = kwargs.pop("target", "127.0.0.1:9")
    protocol = kwargs.pop("protocol", None)
    if "pipeline" in fields.get("protocol", {}):
        protocol = Http(pipeline=2)
    with pytest.raises(PlanError) as python_side:
        Plan(target, protocol, requests=1, **{"connections": 2, **kwargs})
    with pytest.raises(PlanError) as engine_side:
        _backend.validate(plan_json(**fields))
    assert python_name in str(python_side.value), python_side.value
    assert engine_name in str(engine_side.value), engine_side.value


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: Http(pipeline=0), "pipeline"),
        (lambda: Http(pipeline=2, close=True), "pipeline"),
        (lambda: Http(method="G T"), "method"),
        (lambda: Http(headers=(("Content-Length", "1"),)), "headers"),
        (lambda: Ws(message=b"\xff", binary=False), "message"),
        (lambda: Ws(frame_bytes=0), "frame_bytes"),
        (lambda: Ws(subprotocol="a b"), "subprotocol"),
        (lambda: Tcp(reply_bytes=0), "reply_bytes"),
        (lambda: Tcp(reply_delimiter=b""), "reply_delimiter"),
        (lambda: Tcp(reply_delimiter=b"x" * 65), "reply_delimiter"),
    ],
)
def test_protocol_rules_are_the_engines(make: Any, name: str) -> None:
    with pytest.raises(PlanError, match=name):
        make()


def test_the_payload_limit_agrees_with_the_engine() -> None:
    # Python keeps one copy of the limit (so as not to build a huge pattern first);
    # the engine must accept exactly that much and no more.
    at_limit = {"kind": "tcp", "payload_hex": "61" * MAX_PAYLOAD_BYTES, "reply": {"kind": "echo"}}
    _backend.validate(plan_json(protocol=at_limit))
    over = dict(at_limit, payload_hex="61" * (MAX_PAYLOAD_BYTES + 1))
    with pytest.raises(PlanError, match="16 MiB"):
        _backend.validate(plan_json(protocol=over))
