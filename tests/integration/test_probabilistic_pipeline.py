"""Splink in the stream: a record with no shared identifier joins by its traits."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from raw_events import RawFeed, sales
from topic_view import TopicView

from signalfold.local import LocalPipeline
from signalfold.settings import Settings
from signalfold.streams.topics import Topics

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)

PORTAL = """
name: trade_portal
version: 1
owner: trade-sales
record_key: {path: user.id, required: true}
event_id: id
occurred_at: {path: at, format: iso}
identifiers:
  - {type: portal_user_id, path: user.id, trust: strong}
traits:
  given_name: user.first
  family_name: user.last
  company: user.company
  city: user.city
  postcode: user.postcode
type:
  field: kind
  map: {login: portal.user.logged_in}
declares:
  portal.user.logged_in:
    fields: {channel: optional str}
payloads:
  portal.user.logged_in:
    channel: channel
"""


@pytest.fixture
def portal_settings(settings: Settings, tmp_path: Path) -> Settings:
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    (contracts / "trade_portal.yaml").write_text(PORTAL)
    return settings.model_copy(update={"contracts_dir": contracts})


@pytest.fixture
def pipeline(portal_settings: Settings) -> Iterator[LocalPipeline]:
    with LocalPipeline(portal_settings) as running:
        yield running
    assert not running.errors


def _portal_event(event_id: str, user: dict, at: datetime) -> dict:
    return {"id": event_id, "kind": "login", "at": at.isoformat(), "user": user}


def test_a_record_without_shared_identifiers_links_by_match_weight(
    portal_settings: Settings, pipeline: LocalPipeline
) -> None:
    t = Topics(portal_settings.topic_prefix)
    view = TopicView(portal_settings, t.identity_index, t.identity_changes)
    feed = RawFeed(portal_settings)
    contact = {
        "id": "003X",
        "first_name": "Margaret",
        "last_name": "Oyelaran-Whitfield",
        "account": {"name": "Hollybush Joinery Ltd"},
        "mailing_address": {"city": "Kendal", "postal_code": "LA9 4QP"},
    }
    feed.send("sales", "003X", sales("c1", "lead", "created", contact, T0, lead={"id": "L1"}))
    feed.flush()
    crm = view.wait_for(
        lambda v: (
            (raw := v.latest[t.identity_index].get(b"crm_contact_id:003X"))
            and json.loads(raw)["customer_id"]
        ),
        what="the CRM contact's customer",
    )
    same = {
        "id": "P-1",
        "first": "Maggie",  # a nickname: folded to margaret for comparison
        "last": "Oyelaran-Whitfield",
        "company": "Hollybush Joinery",
        "city": "Kendal",
        "postcode": "la94qp",
    }
    other = {"id": "P-2", "first": "Peter", "last": "Smith", "city": "Leeds", "postcode": "LS1 1AA"}
    feed.send("trade_portal", "P-1", _portal_event("p1", same, T0 + timedelta(days=1)))
    feed.send("trade_portal", "P-2", _portal_event("p2", other, T0 + timedelta(days=1)))
    feed.flush()

    def customer(key: bytes) -> str | None:
        raw = view.latest[t.identity_index].get(key)
        return json.loads(raw)["customer_id"] if raw else None

    view.wait_for(
        lambda v: customer(b"portal_user_id:P-1") and customer(b"portal_user_id:P-2"),
        what="both portal records resolved",
    )
    assert customer(b"portal_user_id:P-1") == crm, "linked by traits alone"
    assert customer(b"portal_user_id:P-2") != crm

    def splink_evidence(v: TopicView) -> list[dict[str, Any]]:
        links = [
            json.loads(m.value())
            for m in v.records[t.identity_changes]
            if json.loads(m.value())["record_id"] == "trade_portal:P-1"
        ]
        return [e for change in links for e in change["evidence"] if e["rule"] == "splink"]

    # identity.changes is read beside identity.index: the link may show in one first
    evidence = view.wait_for(splink_evidence, what="the link's Splink evidence")
    assert evidence[0]["match_weight"] > 0
    assert {"given_name", "family_name"} & set(evidence[0]["detail"]), evidence[0]["detail"]
    view.close()
