"""The HTTP API over an in-memory view and store, with a fixed clock and a fake policy."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb
import pytest
from asgi_client import Client
from sink_factory import T0, change, resolved, state, ticket_signal

from signalfold.schemas import CustomerState, SuppressionDecision
from signalfold.settings import Settings
from signalfold.sinks.api import create_app
from signalfold.sinks.store import Store, change_row, signal_row
from signalfold.sinks.view import ServingView


def fake_decide(
    state: CustomerState | None, *, channel: str, purpose: str, now: datetime, **_: Any
) -> SuppressionDecision:
    """Deny whoever has a flag-free state with version 7; enough to see the plumbing."""
    denied = state is not None and state.version == 7
    return SuppressionDecision(
        outcome="deny" if denied else "allow",
        allowed=not denied,
        channel=channel,  # type: ignore[arg-type]
        purpose=purpose,  # type: ignore[arg-type]
        reasons=[],
        customer_id=state.customer_id if state else None,
        state_version=state.version if state else None,
        known=state is not None,
        evaluated_at=now,
    )


@pytest.fixture
def client() -> Client:
    view = ServingView()
    view.apply(
        states=[("c1", state("c1", version=7)), ("c9", state("c9", version=1))],
        index=[("email:jdoe@gmail.com", "c0"), ("phone:+442079460958", "c1")],
        aliases=[("c0", "c1")],
    )
    store = Store(duckdb.connect(":memory:"))
    store.setup()
    for m in range(5):
        store.signals.add(
            signal_row(resolved("c1" if m % 2 else "c0", ticket_signal(f"e{m}", at=m)))
        )
    store.identity_changes.add(change_row(change("ch0", "c0")))
    store.identity_changes.add(change_row(change("ch1", "c1", kind="merged", absorbed=("c0",))))
    store.flush()
    app = create_app(
        view, store, Settings(default_region="GB"), clock=lambda: T0, decide=fake_decide
    )
    return Client(app)


def test_check_normalises_the_email_like_identity_resolution(client: Client) -> None:
    r = client.get(
        "/v1/suppression/check",
        params={"channel": "email", "purpose": "marketing", "email": " J.Doe+x@GoogleMail.com "},
    )
    assert r.status_code == 200
    body = r.json()
    assert body["customer_id"] == "c1" and body["outcome"] == "deny"
    assert body["evaluated_at"].startswith("2024-05-01T10:00:00")


def test_check_by_phone_in_the_default_region_and_by_absorbed_id(client: Client) -> None:
    by_phone = {"channel": "sms", "purpose": "service", "phone": "020 7946 0958"}
    assert client.get("/v1/suppression/check", params=by_phone).json()["customer_id"] == "c1"
    by_id = {"channel": "sms", "purpose": "service", "customer_id": "c0"}
    assert client.get("/v1/suppression/check", params=by_id).json()["customer_id"] == "c1"


def test_unknown_identifier_is_answered_as_unknown(client: Client) -> None:
    q = {"channel": "email", "purpose": "transactional", "email": "nobody@example.com"}
    body = client.get("/v1/suppression/check", params=q).json()
    assert body["known"] is False and body["customer_id"] is None


def test_invalid_identifier_is_422_naming_field_expected_and_found(client: Client) -> None:
    q = {"channel": "email", "purpose": "marketing", "email": "not-an-email"}
    r = client.get("/v1/suppression/check", params=q)
    assert r.status_code == 422
    (detail,) = r.json()["detail"]
    assert detail["loc"] == ["query", "email"]
    assert detail["expected"] == "exactly one '@'"
    assert detail["found"].startswith("0")


def test_check_needs_exactly_one_identifier(client: Client) -> None:
    r = client.get("/v1/suppression/check", params={"channel": "email", "purpose": "marketing"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["expected"] == (
        "exactly one of email, phone, customer_id, or type and value"
    )


def test_batch_answers_in_order_with_errors_in_place(client: Client) -> None:
    checks = [
        {"email": "jdoe@gmail.com", "channel": "email", "purpose": "marketing"},
        {"phone": "12", "channel": "sms", "purpose": "marketing"},
        {"customer_id": "c9", "channel": "push", "purpose": "sales"},
    ]
    r = client.post("/v1/suppression/check", json={"checks": checks})
    assert r.status_code == 200
    results = r.json()["results"]
    assert [x["index"] for x in results] == [0, 1, 2]
    assert results[0]["decision"]["allowed"] is False
    assert results[1]["decision"] is None and results[1]["error"]["field"] == "phone"
    assert results[2]["decision"]["customer_id"] == "c9"


def test_batch_over_the_limit_is_refused(client: Client) -> None:
    check = {"customer_id": "c9", "channel": "push", "purpose": "sales"}
    r = client.post("/v1/suppression/check", json={"checks": [check] * 10_001})
    assert r.status_code == 422


def test_lookup_by_identifier_and_unknown_is_404(client: Client) -> None:
    r = client.get("/v1/customers/lookup", params={"email": "JDOE@gmail.com"})
    assert r.status_code == 200 and r.json()["customer_id"] == "c1"
    r = client.get("/v1/customers/lookup", params={"type": "phone", "value": "+44 20 7946 0958"})
    assert r.json()["customer_id"] == "c1"
    r = client.get("/v1/customers/lookup", params={"email": "nobody@example.com"})
    assert r.status_code == 404
    assert r.json()["detail"][0]["type"] == "customer_not_found"


def test_customer_and_redirect_for_a_merged_id(client: Client) -> None:
    assert client.get("/v1/customers/c1").json()["version"] == 7
    r = client.get("/v1/customers/c0")
    assert r.status_code == 308 and r.headers["location"] == "/v1/customers/c1"
    assert client.get("/v1/customers/nope").status_code == 404


def test_timeline_spans_absorbed_ids_and_pages(client: Client) -> None:
    r = client.get("/v1/customers/c1/timeline", params={"limit": 3})
    page = r.json()
    assert page["customer_ids"] == ["c1", "c0"]
    assert [i["signal"]["source_event_id"] for i in page["items"]] == ["e4", "e3", "e2"]
    rest = client.get(
        "/v1/customers/c1/timeline", params={"limit": 3, "cursor": page["next_cursor"]}
    ).json()
    assert [i["signal"]["source_event_id"] for i in rest["items"]] == ["e1", "e0"]
    assert rest["next_cursor"] is None
    bad = client.get("/v1/customers/c1/timeline", params={"cursor": "zzz"})
    assert bad.status_code == 422
    moved = client.get("/v1/customers/c0/timeline", params={"limit": 3})
    assert moved.headers["location"] == "/v1/customers/c1/timeline?limit=3"


def test_identity_explains_the_customer(client: Client) -> None:
    body = client.get("/v1/customers/c1/identity").json()
    assert [c["change_id"] for c in body["changes"]] == ["ch0", "ch1"]


def test_ops_endpoints_and_openapi(client: Client) -> None:
    assert client.get("/v1/health").status_code == 200
    assert client.get("/v1/ready").json()["caught_up"] is True
    spec = client.get("/openapi.json").json()
    assert "/v1/customers/{customer_id}/timeline" in spec["paths"]
    assert "SuppressionDecision" in spec["components"]["schemas"]
