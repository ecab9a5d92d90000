"""Mistakes in requests: one error shape, no permissions for typos, no values echoed back."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import duckdb
import httpx
import pytest
from asgi_client import call as _send
from fastapi import FastAPI

from signalfold.policy import Decider, load_policy
from signalfold.schemas import CustomerState
from signalfold.settings import Settings
from signalfold.sinks.api import create_app
from signalfold.sinks.serve import FastFront
from signalfold.sinks.store import Store
from signalfold.sinks.view import ServingView

NOW = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
POLICY = load_policy()
SHAPE = {"type", "loc", "field", "expected", "found", "message"}
Q = "/v1/suppression/check"
MARKETING = {"channel": "email", "purpose": "marketing"}


def _app(decider: Any) -> FastAPI:
    view = ServingView()
    view.apply(
        states=[("c1", CustomerState(customer_id="c1", version=1).model_dump_json().encode())],
        index=[("crm_contact_id:crm-1", "c1")],
    )
    store = Store(duckdb.connect(":memory:"))
    store.setup()
    return create_app(view, store, Settings(), clock=lambda: NOW, decide=decider)


# Behind the fast path (as ``serve`` runs it), and the routes alone.
MODES = ("fast", "route")


@pytest.fixture(params=MODES)
def app(request) -> Any:
    api = _app(Decider(POLICY))
    return FastFront(api) if request.param == "fast" else api


def _only_error(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 422, r.text
    (detail,) = r.json()["detail"]
    assert set(detail) == SHAPE
    return detail


def test_unknown_identifier_type_is_422_naming_the_accepted_types(app) -> None:
    for _ in range(2):  # the second time a key is known: the fast path must agree
        r = _send(app, "GET", Q, params={"type": "nonsense_id", "value": "v-123", **MARKETING})
        detail = _only_error(r)
        assert detail["loc"] == ["query", "type"] and detail["field"] == "type"
        accepted = detail["expected"].removeprefix("one of ").split(", ")
        assert {"email", "phone", "customer_id", "crm_contact_id", "support_user_id"} <= set(
            accepted
        )
        assert "not an identifier type of any source" in detail["message"]
        assert "nonsense_id" not in r.text and "v-123" not in r.text


def test_a_declared_type_or_an_indexed_one_still_answers(app) -> None:
    known = _send(app, "GET", Q, params={"type": "crm_contact_id", "value": "crm-1", **MARKETING})
    assert known.status_code == 200 and known.json()["customer_id"] == "c1"
    stranger = {"type": "crm_contact_id", "value": "crm-404", **MARKETING}
    r = _send(app, "GET", Q, params=stranger)
    assert r.status_code == 200 and r.json()["known"] is False


def test_malformed_customer_id_is_422_and_a_well_formed_unknown_one_is_unknown(app) -> None:
    detail = _only_error(_send(app, "GET", Q, params={"customer_id": "jane", **MARKETING}))
    assert detail["field"] == "customer_id" and "cus_" in detail["expected"]
    unknown = {"customer_id": "cus_" + "0" * 20, **MARKETING}
    r = _send(app, "GET", Q, params=unknown)
    assert r.status_code == 200 and r.json()["known"] is False
    r = _send(app, "GET", Q, params={"customer_id": "c1", **MARKETING})
    assert r.status_code == 200 and r.json()["customer_id"] == "c1"


def test_batch_gives_each_typo_its_own_error(app) -> None:
    checks = [
        {"type": "nonsense_id", "value": "x", **MARKETING},
        {"customer_id": "not a customer", **MARKETING},
        {"type": "crm_contact_id", "value": "crm-1", **MARKETING},
    ]
    r = _send(app, "POST", Q, json={"checks": checks})
    assert r.status_code == 200
    results = r.json()["results"]
    assert results[0]["decision"] is None and results[0]["error"]["field"] == "type"
    assert results[1]["decision"] is None and results[1]["error"]["field"] == "customer_id"
    assert results[2]["decision"]["customer_id"] == "c1"
    assert r.json()["counts"] == {"error": 2, "allow": 1}


def test_an_empty_email_says_it_is_empty(app) -> None:
    detail = _only_error(_send(app, "GET", Q, params={"email": "", **MARKETING}))
    assert detail["found"] == "an empty email"
    assert detail["message"].endswith("found an empty email")
    both = {"email": "a@b.com", "phone": "", **MARKETING}
    assert _only_error(_send(app, "GET", Q, params=both))["found"] == "email, an empty phone"


def test_fastapi_validation_errors_have_signalfold_shape_without_values(app) -> None:
    r = _send(app, "GET", Q, params={"email": "a@b.com", "channel": "fax", "purpose": "marketing"})
    detail = _only_error(r)
    assert detail["type"] == "literal_error" or detail["type"] == "enum"
    assert detail["loc"] == ["query", "channel"] and detail["field"] == "channel"
    assert detail["expected"].startswith("one of ") and "'email'" in detail["expected"]
    assert detail["found"] == "a string of 3 characters"
    assert detail["message"].startswith("channel: expected one of ")
    assert "fax" not in r.text and "a@b.com" not in r.text
    missing = _only_error(_send(app, "GET", Q, params={"email": "a@b.com", "channel": "email"}))
    assert (missing["field"], missing["expected"], missing["found"]) == (
        "purpose",
        "a value",
        "nothing",
    )
    assert missing["message"] == "purpose: expected a value, found nothing; add it"


def test_an_oversized_batch_is_refused_in_a_few_hundred_bytes(app) -> None:
    check = {"email": "someone.private@example.com", **MARKETING}
    r = _send(app, "POST", Q, json={"checks": [check] * 10_001})
    detail = _only_error(r)
    assert len(r.content) < 1_000
    assert "someone.private" not in r.text
    assert (detail["type"], detail["field"], detail["found"]) == (
        "too_long",
        "checks",
        "10001 items",
    )
    assert detail["expected"] == "at most 10000 items"
    assert "split it into requests of at most 10000" in detail["message"]


def test_many_bad_items_list_twenty_and_count_all(app) -> None:
    checks = [
        {"email": f"p{i}@example.com", "channel": "fax", "purpose": "marketing"} for i in range(50)
    ]
    r = _send(app, "POST", Q, json={"checks": checks})
    assert r.status_code == 422
    body = r.json()
    assert len(body["detail"]) == 20 and body["error_count"] == 50
    assert body["detail"][0]["field"] == "checks.0.channel"
    assert "@example.com" not in r.text


def test_invalid_json_names_the_parser_error(app) -> None:
    r = _send(app, "POST", Q, content=b'{"checks": [', headers={"content-type": "application/json"})
    detail = _only_error(r)
    assert detail["type"] == "json_invalid" and detail["field"] is None
    assert detail["found"].startswith("invalid JSON (")


def test_lookup_errors_have_the_same_shape(app) -> None:
    detail = _only_error(_send(app, "GET", "/v1/customers/lookup", params={"email": ""}))
    assert detail["found"] == "an empty email" and detail["type"] == "missing_identifier"
    r = _send(app, "GET", "/v1/customers/lookup", params={"type": "nonsense", "value": "x"})
    assert _only_error(r)["field"] == "type"


def test_bad_cursor_has_the_same_shape(app) -> None:
    r = _send(app, "GET", "/v1/customers/c1/timeline", params={"cursor": "not-a-cursor"})
    detail = _only_error(r)
    assert detail["field"] == "cursor" and "not-a-cursor" not in r.text


ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*["']([^"']+)["']""")


@pytest.mark.parametrize("page", ["/docs", "/redoc", "/docs/oauth2-redirect"])
def test_docs_pages_load_nothing_from_elsewhere(app, page: str) -> None:
    r = _send(app, "GET", page)
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    urls = [a or b for a, b in ASSET.findall(r.text)]
    assert urls or page == "/docs/oauth2-redirect"
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
        if page != "/docs/oauth2-redirect":
            asset = _send(app, "GET", url)
            assert asset.status_code == 200, url
    assert "http://" not in r.text and "https://" not in r.text


def test_docs_assets_and_openapi_are_served_here(app) -> None:
    assert _send(app, "GET", "/static/docs/swagger-ui-bundle.js").status_code == 200
    spec = _send(app, "GET", "/openapi.json").json()
    assert spec["openapi"].startswith("3.1")  # the bundled Swagger UI (5.x) renders 3.1
    assert "/docs" not in spec["paths"] and "/static/docs" not in json.dumps(spec["paths"])


def test_openapi_documents_the_422_shape_the_api_answers_with(app) -> None:
    schemas = _send(app, "GET", "/openapi.json").json()["components"]["schemas"]
    assert set(schemas["ValidationError"]["properties"]) == SHAPE
    assert set(schemas["HTTPValidationError"]["properties"]) == {"detail", "error_count"}


def test_not_found_does_not_echo_the_id(app) -> None:
    for path in ("/v1/customers/cus_0123456789abcdef0123", "/v1/customers/nobody/timeline"):
        r = _send(app, "GET", path)
        assert r.status_code == 404 and r.json()["detail"][0]["type"] == "customer_not_found"
        assert "0123456789" not in r.text and "nobody" not in r.text
        assert "/v1/customers/lookup" in r.json()["detail"][0]["message"]
