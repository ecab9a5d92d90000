"""``GET /v1/customers/{id}/export``: everything a replica holds about one person, admin only."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from privacy_helpers import Client, fake_decide
from sink_factory import T0, resolved, state, ticket_signal

from signalfold.schemas import IdentityChange, SuppressionDecision
from signalfold.schemas.subject_access import SubjectAccessExport
from signalfold.settings import Settings
from signalfold.sinks.api import create_app
from signalfold.sinks.auth import hash_key
from signalfold.sinks.decision_log import DecisionLog
from signalfold.sinks.decision_models import DecisionQuery
from signalfold.sinks.pii import IdentifierHasher
from signalfold.sinks.store import Store, change_row, signal_row
from signalfold.sinks.view import ServingView

ADMIN, SUPPORT, BOT = "sf_admin_key", "sf_support_key", "sf_bot_key"
JANE = "email:jane@example.com"


def _created(change_id: str, customer_id: str, record: str, *keys: str) -> IdentityChange:
    return IdentityChange(
        change_id=change_id,
        kind="created",
        customer_id=customer_id,
        record_id=record,
        identifiers=keys,
        signal_id=f"sig_{change_id}",
        at=T0,
    )


def _unknown() -> SuppressionDecision:
    return fake_decide(None, channel="email", purpose="marketing", now=T0)


@pytest.fixture
def app(tmp_path: Path) -> tuple[Client, DecisionLog]:
    view = ServingView()
    identities = [
        {
            "type": "email",
            "value": "jane@example.com",
            "source": "zendesk",
            "record_id": "zendesk:u1",
        }
    ]
    profile = {
        "name": {"value": "Jane Doe", "source": "zendesk", "observed_at": T0, "signal_id": "s"}
    }
    view.apply(
        states=[("c1", state("c1", version=3, identities=identities, profile=profile))],
        index=[(JANE, "c0"), ("email:other@example.com", "c9")],
        aliases=[("c0", "c1")],
    )
    store = Store(duckdb.connect(":memory:"))
    store.setup()
    for m in range(3):
        store.signals.add(signal_row(resolved("c1" if m else "c0", ticket_signal(f"e{m}", at=m))))
    store.signals.add(signal_row(resolved("c9", ticket_signal("other", at=9))))
    for change in (
        _created("ch0", "c0", "zendesk:u1", JANE),
        _created("ch1", "c1", "shop:u2"),
        _created("ch9", "c9", "shop:u9", "email:other@example.com"),
    ):
        store.identity_changes.add(change_row(change.model_dump(mode="json")))
    store.identity_changes.add(
        change_row(
            {**_created("ch2", "c1", "shop:u2").model_dump(mode="json"), "kind": "merged",
             "absorbed_ids": ["c0"], "change_id": "ch2"}
        )
    )  # fmt: skip
    store.flush()
    log = DecisionLog(duckdb.connect(":memory:"), hasher=IdentifierHasher(b"k" * 32))
    ask = {"channel": "email", "purpose": "marketing"}
    # before Jane was a customer: asked by her email, answered for nobody
    log.record("bot", [(DecisionQuery(email="Jane@Example.com", **ask), _unknown())], T0)
    log.record("bot", [(DecisionQuery(email="other@example.com", **ask), _unknown())], T0)
    keys = tmp_path / "keys.yaml"
    keys.write_text(
        "keys:\n"
        f"  - {{name: dpo, role: admin, hash: {hash_key(ADMIN)}}}\n"
        f"  - {{name: desk, role: support_tool, hash: {hash_key(SUPPORT)}}}\n"
        f"  - {{name: bot, role: marketing_bot, hash: {hash_key(BOT)}}}\n"
    )
    settings = Settings(default_region="GB", api_keys_file=keys)
    api = create_app(view, store, settings, clock=lambda: T0, decide=fake_decide, decision_log=log)
    client = Client(api)
    later = {"X-API-Key": BOT}
    r = client.get("/v1/suppression/check", params={"customer_id": "c1", **ask}, headers=later)
    assert r.status_code == 200
    return client, log


def test_an_admin_gets_state_history_identity_and_decisions_as_one_document(app) -> None:
    client, _log = app
    r = client.get("/v1/customers/c1/export", headers={"X-API-Key": ADMIN})
    assert r.status_code == 200, r.text
    doc = SubjectAccessExport.model_validate_json(r.content)
    assert (doc.customer_id, doc.customer_ids, doc.exported_at) == ("c1", ["c1", "c0"], T0)
    assert doc.state is not None and doc.state.profile["name"].value == "Jane Doe"
    assert [h.signal.source_event_id for h in doc.history] == ["e0", "e1", "e2"]  # oldest first
    assert [h.customer_id for h in doc.history] == ["c0", "c1", "c1"]
    assert doc.identity is not None and sorted(doc.identity.records) == ["shop:u2", "zendesk:u1"]
    assert doc.identifiers == [JANE]
    # the check by customer id, and the question by her email before she was known
    assert sorted(d.customer_id or "-" for d in doc.decisions) == ["-", "c1"]
    assert "other@example.com" not in r.text and "shop:u9" not in r.text  # nobody else's
    covered = {c.store: c.covered for c in doc.coverage}
    assert covered["signals.dlq"] == "no" and covered["customer.state"] == "yes"
    assert covered["signals.raw.<source>"] == "no"


def test_only_the_export_scope_may_export(app) -> None:
    client, _log = app
    for key, status in ((SUPPORT, 403), (BOT, 403), (None, 401)):
        headers = {"X-API-Key": key} if key else {}
        r = client.get("/v1/customers/c1/export", headers=headers)
        assert r.status_code == status, r.text
        assert "Jane" not in r.text
    assert (
        "privacy:export"
        in client.get("/v1/customers/c1/export", headers={"X-API-Key": SUPPORT}).json()["detail"][
            0
        ]["message"]
    )


def test_a_merged_id_redirects_and_an_unknown_id_is_a_404(app) -> None:
    client, _log = app
    r = client.get("/v1/customers/c0/export", headers={"X-API-Key": ADMIN}, follow_redirects=False)
    assert r.status_code == 308 and r.headers["location"] == "/v1/customers/c1/export"
    r = client.get("/v1/customers/nobody/export", headers={"X-API-Key": ADMIN})
    assert r.status_code == 404
    assert r.json()["detail"][0]["type"] == "customer_not_found"
    assert "GET /v1/decisions/log" in r.json()["detail"][0]["message"]


def test_the_export_is_in_openapi_with_its_scope(app) -> None:
    client, _log = app
    spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/v1/customers/{customer_id}/export"]["get"]
    assert operation["x-required-scope"] == "privacy:export"
    assert "SubjectAccessExport" in spec["components"]["schemas"]
