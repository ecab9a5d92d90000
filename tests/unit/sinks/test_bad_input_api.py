"""No 5xx on bad input: body limit, strict JSON, ids and cursors with a size and a shape.

Every refusal is a 413 or 422 in the one error shape, without the values sent;
a request that still fails is a 500 in that shape whose log line holds no value.
Each test runs behind the fast path (as ``serve`` runs it) and on the routes alone.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import duckdb
import httpx
import pytest
from asgi_client import call as _send
from fastapi import FastAPI
from sink_factory import resolved, ticket_signal

from signalfold.policy import Decider, load_policy
from signalfold.schemas import CustomerState, IdentityCommand
from signalfold.settings import Settings
from signalfold.sinks.api import create_app
from signalfold.sinks.serve import FastFront
from signalfold.sinks.store import Store, encode_cursor, signal_row
from signalfold.sinks.view import ServingView

NOW = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
POLICY = load_policy()
SHAPE = {"type", "loc", "field", "expected", "found", "message"}
Q = "/v1/suppression/check"
MARKETING = {"channel": "email", "purpose": "marketing"}
JSON = {"content-type": "application/json"}
LIMIT = 4096
MODES = ("fast", "route")  # behind the fast path (as ``serve`` runs it), and the routes alone
SECRET = "jane.private@example.com"


def _app(decider: Any, sent: list[IdentityCommand], **settings: Any) -> FastAPI:
    view = ServingView()
    view.apply(
        states=[("c1", CustomerState(customer_id="c1", version=1).model_dump_json().encode())]
    )
    store = Store(duckdb.connect(":memory:"))
    store.setup()
    for n in range(3):
        store.signals.add(signal_row(resolved("c1", ticket_signal(f"e{n}", at=n))))
    store.flush()
    return create_app(
        view,
        store,
        Settings(**{"max_request_bytes": LIMIT, **settings}),
        clock=lambda: NOW,
        decide=decider,
        publish=sent.append,
    )


@pytest.fixture
def sent() -> list[IdentityCommand]:
    return []


@pytest.fixture(params=MODES)
def app(request, sent) -> Any:
    api = _app(Decider(POLICY), sent)
    return FastFront(api) if request.param == "fast" else api


def _problems(r: httpx.Response, status: int) -> list[dict[str, Any]]:
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert detail and all(set(d) == SHAPE for d in detail)
    return detail


def _batch(*checks: dict[str, Any]) -> bytes:
    return json.dumps({"checks": list(checks)}).encode()


# --- the body limit --------------------------------------------------------------------


def test_a_body_over_the_limit_is_413_before_it_is_read(app, sent) -> None:
    big = _batch(*[{"email": SECRET, **MARKETING}] * 100)
    assert len(big) > LIMIT
    for url in (Q, "/v1/identity/split", "/v1/identity/pins", "/v1/customers/c1"):
        r = _send(
            app, "POST" if url != "/v1/customers/c1" else "GET", url, content=big, headers=JSON
        )
        (detail,) = _problems(r, 413)
        assert detail["type"] == "body_too_large" and detail["loc"] == ["body"]
        assert detail["expected"] == f"a body of at most {LIMIT} bytes"
        assert detail["found"] == f"a body of {len(big)} bytes"
        assert "SIGNALFOLD_MAX_REQUEST_BYTES" in detail["message"]
        assert r.headers["connection"] == "close"
        assert SECRET not in r.text
    assert sent == []


def test_a_chunked_body_is_counted_as_it_is_read(app, sent) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        body = _batch(*[{"email": SECRET, **MARKETING}] * 100)
        for i in range(0, len(body), 1000):
            yield body[i : i + 1000]

    for url in (Q, "/v1/identity/split"):
        r = _send(app, "POST", url, content=chunks(), headers=JSON)
        (detail,) = _problems(r, 413)
        assert detail["found"] == "a longer body" and r.headers["connection"] == "close"
    assert sent == []


def test_a_body_under_the_limit_is_answered(app) -> None:
    for _ in range(2):  # the second time the fast path knows the route
        r = _send(app, "POST", Q, content=_batch({"email": SECRET, **MARKETING}), headers=JSON)
        assert r.status_code == 200 and r.json()["counts"] == {"allow": 1}


def test_413_is_documented_for_every_operation_with_a_body(app) -> None:
    paths = _send(app, "GET", "/openapi.json").json()["paths"]
    with_body = [(p, m) for p, ops in paths.items() for m, op in ops.items() if "requestBody" in op]
    assert ("/v1/suppression/check", "post") in with_body
    assert ("/v1/identity/split", "post") in with_body
    for path, method in with_body:
        assert "413" in paths[path][method]["responses"]


# --- strict JSON -----------------------------------------------------------------------

NOT_JSON = {
    "NaN": b"NaN",
    "Infinity": b"Infinity",
    "-Infinity": b"-Infinity",
    "lone surrogate": b'"\\ud800"',
    "lone low surrogate": b'"x\\udfff"',
}


def _with(value: bytes) -> dict[str, bytes]:
    """A body for each route with ``value`` where a string belongs, next to a secret."""
    return {
        Q: b'{"checks": [{"email": "%b", "phone": %b, "channel": "email", "purpose": "marketing"}]}'
        % (SECRET.encode(), value),
        "/v1/identity/split": b'{"customer_id": "c1", "records": ["crm:%b", %b]}'
        % (SECRET.encode(), value),
        "/v1/identity/pins": b'{"records": [%b, "crm:%b"], "pin": "never"}'
        % (value, SECRET.encode()),
    }


@pytest.mark.parametrize("kind", sorted(NOT_JSON))
def test_what_json_does_not_allow_is_422_without_the_values(app, sent, caplog, kind) -> None:
    caplog.set_level(logging.DEBUG)
    for url, body in _with(NOT_JSON[kind]).items():
        for _ in range(2):  # the fast path, once it knows the route, hands it to the route
            r = _send(app, "POST", url, content=body, headers=JSON)
            (detail,) = _problems(r, 422)
            assert detail["type"] == "json_invalid" and detail["loc"][0] == "body"
            assert "NaN" in detail["expected"] and "surrogates" in detail["expected"]
            assert detail["found"].startswith("invalid JSON (")
            assert SECRET not in r.text and "\\ud800" not in r.text
    assert sent == []
    assert SECRET not in caplog.text


def test_json_nested_past_the_parsers_depth_is_422(app) -> None:
    deep = b'{"checks": ' + b"[" * 2000 + b"]" * 2000 + b"}"
    detail = _problems(_send(app, "POST", Q, content=deep, headers=JSON), 422)[0]
    assert detail["type"] == "json_invalid"


# --- failures are 500s in the shape, logged without values -----------------------------


def test_a_failing_request_is_a_500_in_the_shape_and_its_log_line_holds_no_value(
    sent, caplog
) -> None:
    def broken(state: Any, **question: Any) -> Any:
        raise ValueError(f"cannot decide for {question}")  # a message that quotes the request

    caplog.set_level(logging.DEBUG)
    app = _app(broken, sent)
    for method, kwargs in (
        ("GET", {"params": {"email": SECRET, **MARKETING}}),
        ("POST", {"content": _batch({"email": SECRET, **MARKETING}), "headers": JSON}),
    ):
        r = _send(app, method, Q, **kwargs)
        (detail,) = _problems(r, 500)
        assert detail["type"] == "internal_error" and "retry" in detail["message"]
    assert SECRET not in caplog.text
    failures = [rec for rec in caplog.records if "failed:" in rec.getMessage()]
    assert len(failures) == 2 and all(rec.exc_info is None for rec in failures)
    line = failures[0].getMessage()
    assert line.startswith("GET /v1/suppression/check failed: ValueError at ")
    assert "test_bad_input_api.py" in line  # where it was raised, for whoever fixes it


# --- ids -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        ("/v1/identity/split", {"customer_id": "", "records": ["crm:1"]}, "customer_id"),
        ("/v1/identity/split", {"customer_id": "c1", "records": [""]}, "records.0"),
        ("/v1/identity/split", {"customer_id": "c 1", "records": ["crm:1"]}, "customer_id"),
        ("/v1/identity/split", {"customer_id": "c1", "records": ["no-source"]}, "records.0"),
        ("/v1/identity/pins", {"records": ["", "crm:1"], "pin": "never"}, "records.0"),
        ("/v1/identity/pins", {"records": ["crm:1", "crm:"], "pin": "always"}, "records.1"),
    ],
)
def test_split_and_pins_refuse_empty_or_shapeless_ids(app, sent, url, body, field) -> None:
    (detail,) = _problems(_send(app, "POST", url, json=body), 422)
    assert detail["field"] == field
    assert sent == []


def test_an_overlong_customer_id_never_reaches_the_producer(app, sent) -> None:
    body = {"customer_id": "c" * 65, "records": ["crm:1"]}
    (detail,) = _problems(_send(app, "POST", "/v1/identity/split", json=body), 422)
    assert detail["type"] == "string_too_long" and detail["expected"] == "at most 64 characters"
    assert detail["found"] == "a string of 65 characters"
    (detail,) = _problems(_send(app, "POST", "/v1/identity/split", json={
        "customer_id": "c1", "records": ["crm:" + "x" * 400]}), 422)  # fmt: skip
    assert detail["field"] == "records.0" and detail["expected"] == "at most 320 characters"
    assert sent == []
    ok = _send(app, "POST", "/v1/identity/split", json={"customer_id": "c1", "records": ["crm:1"]})
    assert ok.status_code == 202 and [c.records for c in sent] == [("crm:1",)]


def test_a_command_larger_than_a_kafka_record_is_422(sent) -> None:
    app = _app(Decider(POLICY), sent, max_request_bytes=8 * 1024 * 1024)
    records = [f"crm:{i:06d}" + "x" * 300 for i in range(10_000)]
    r = _send(app, "POST", "/v1/identity/split", json={"customer_id": "c1", "records": records})
    (detail,) = _problems(r, 422)
    assert detail["type"] == "command_too_large" and detail["field"] == "records"
    assert "several commands" in detail["message"] and "10000 records" in detail["found"]
    assert sent == []


def test_overlong_identifiers_are_422_on_both_paths(app) -> None:
    long_email = "a" * 400 + "@example.com"
    for _ in range(2):  # the second time the key is admitted: the fast path must hand it over
        r = _send(app, "GET", Q, params={"email": long_email, **MARKETING})
        (detail,) = _problems(r, 422)
        assert detail["field"] == "email" and detail["type"] == "string_too_long"
        r = _send(app, "POST", Q, content=_batch({"email": long_email, **MARKETING}), headers=JSON)
        (detail,) = _problems(r, 422)
        assert detail["field"] == "checks.0.email"
        assert long_email not in r.text
    r = _send(app, "GET", Q, params={"customer_id": "c" * 65, **MARKETING})
    assert _problems(r, 422)[0]["expected"] == "at most 64 characters"
    r = _send(app, "GET", "/v1/customers/lookup", params={"email": long_email})
    assert _problems(r, 422)[0]["field"] == "email"
    assert _send(app, "GET", "/v1/customers/" + "c" * 65).status_code == 422


# --- cursors ---------------------------------------------------------------------------


def _cursor(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        _cursor(b"[" * 5000 + b"]" * 5000),  # RecursionError once: now too long
        _cursor(b"[" * 90 + b"]" * 90),  # deep but short: not a cursor's shape
        _cursor(b'[99999999999999999999999, "sig_x"]'),  # past DuckDB's BIGINT
        _cursor(b'[1.5, "sig_x"]'),
        "not a cursor!",
        "",
    ],
)
def test_a_cursor_of_another_size_or_shape_is_422(app, cursor) -> None:
    r = _send(app, "GET", "/v1/customers/c1/timeline", params={"cursor": cursor})
    (detail,) = _problems(r, 422)
    assert detail["loc"] == ["query", "cursor"]
    assert cursor[:20] not in r.text or not cursor


def test_a_cursor_for_an_unknown_customer_is_404_like_the_customer(app) -> None:
    page = _send(app, "GET", "/v1/customers/c1/timeline", params={"limit": 2}).json()
    cursor = page["next_cursor"]
    assert cursor is not None and len(page["items"]) == 2
    r = _send(app, "GET", "/v1/customers/cus_nobody/timeline", params={"cursor": cursor})
    assert r.status_code == 404 and r.json()["detail"][0]["type"] == "customer_not_found"
    assert _send(app, "GET", "/v1/customers/cus_nobody").status_code == 404
    last = _send(app, "GET", "/v1/customers/c1/timeline", params={"cursor": cursor}).json()
    assert len(last["items"]) == 1 and last["next_cursor"] is None
    past = encode_cursor(0, "sig_0")  # a known customer with nothing older: an empty page
    r = _send(app, "GET", "/v1/customers/c1/timeline", params={"cursor": past})
    assert r.status_code == 200 and r.json()["items"] == []
