"""``SignalfoldClient`` over a swapped transport: retries, fail-closed, batches, errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from signalfold.sinks.client import CheckRejected, ServiceUnreachable, SignalfoldClient

NOW = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def decision(outcome: str = "allow", **extra: object) -> dict:
    return {
        "outcome": outcome,
        "allowed": outcome == "allow",
        "channel": "email",
        "purpose": "marketing",
        "reasons": [],
        "customer_id": "c1",
        "state_version": 3,
        "known": True,
        "evaluated_at": NOW.isoformat(),
        **extra,
    }


def client(handler, **kwargs) -> tuple[SignalfoldClient, list[float]]:
    slept: list[float] = []
    c = SignalfoldClient(
        "http://sf",
        api_key="sf_k",
        transport=httpx.MockTransport(handler),
        sleep=slept.append,
        clock=lambda: NOW,
        **kwargs,
    )
    return c, slept


def test_check_sends_key_and_identifier_and_parses_the_decision():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=decision("deny"))

    c, _ = client(handler)
    d = c.check(email="a@example.com", channel="email", purpose="marketing", product_id="P1")
    assert d.outcome == "deny" and d.state_version == 3
    [req] = seen
    assert req.headers["x-api-key"] == "sf_k"
    assert dict(req.url.params) == {
        "email": "a@example.com",
        "product_id": "P1",
        "channel": "email",
        "purpose": "marketing",
    }


def test_retries_then_answers():
    calls = iter(
        [httpx.ConnectError("down"), httpx.Response(503), httpx.Response(200, json=decision())]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        item = next(calls)
        if isinstance(item, Exception):
            raise item
        return item

    c, slept = client(handler, retries=2, backoff=0.1)
    assert c.check(email="a@example.com", channel="email", purpose="marketing").allowed
    assert slept == [0.1, 0.2]


def test_unreachable_fails_closed_for_marketing_and_raises_for_service():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("down")

    c, _ = client(handler, retries=1)
    d = c.check(email="a@example.com", channel="email", purpose="marketing")
    assert (d.outcome, d.known, d.unknown_rule) == ("deny", False, "client.unreachable.marketing")
    assert d.reasons[0].rule == "service_unreachable"
    with pytest.raises(ServiceUnreachable, match="did not answer GET /v1/suppression/check"):
        c.check(email="a@example.com", channel="email", purpose="service")
    lenient, _ = client(handler, retries=0, on_unreachable={"marketing": "allow"})
    assert lenient.check(email="a@example.com", channel="sms", purpose="marketing").allowed


def test_caller_mistakes_are_not_retried_and_raise():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(
            403, json={"detail": [{"type": "forbidden", "message": "lacks a scope"}]}
        )

    c, _ = client(handler, retries=3)
    with pytest.raises(CheckRejected) as info:
        c.check(email="a@example.com", channel="email", purpose="marketing")
    assert info.value.status == 403 and len(calls) == 1


def test_check_many_splits_into_calls_of_10000_in_order():
    sizes: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        checks = json.loads(request.content)["checks"]
        sizes.append(len(checks))
        results = [
            {"index": i, "decision": decision(customer_id=c["customer_id"])}
            for i, c in enumerate(checks)
        ]
        return httpx.Response(200, json={"results": results, "counts": {}})

    c, _ = client(handler)
    items = [
        {"customer_id": f"c{i}", "channel": "email", "purpose": "marketing"} for i in range(10_005)
    ]
    out = c.check_many(items)
    assert sizes == [10_000, 5]
    assert [d.customer_id for d in out[-2:]] == ["c10003", "c10004"]


def test_check_many_names_the_bad_item():
    def handler(request: httpx.Request) -> httpx.Response:
        error = {"field": "phone", "expected": "a phone", "found": "x", "message": "phone: bad"}
        return httpx.Response(200, json={"results": [{"index": 0, "error": error}], "counts": {}})

    c, _ = client(handler)
    with pytest.raises(CheckRejected, match="'index': 0"):
        c.check_many([{"phone": "x", "channel": "sms", "purpose": "marketing"}])
