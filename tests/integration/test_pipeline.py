"""The stages against the real embedded broker: identity, state, suppression, DLQ."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from raw_events import RawFeed, marketing, sales, support
from topic_view import TopicView

from signalfold.bootstrap import serve_handle
from signalfold.local import LocalPipeline
from signalfold.policy import decide
from signalfold.schemas import CustomerState
from signalfold.settings import Settings
from signalfold.streams.topics import Topics

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def pipeline(settings: Settings) -> Iterator[LocalPipeline]:
    with LocalPipeline(settings) as running:
        yield running
    assert not running.errors


@pytest.fixture
def view(settings: Settings, pipeline: LocalPipeline) -> Iterator[TopicView]:
    t = Topics(settings.topic_prefix)
    reader = TopicView(
        settings,
        t.canonical,
        t.dlq,
        t.resolved,
        t.customer_state,
        t.identity_index,
        t.identity_changes,
        t.suppression_changes,
    )
    yield reader
    reader.close()


def _state(view: TopicView, settings: Settings, customer_id: str) -> CustomerState | None:
    raw = view.latest[Topics(settings.topic_prefix).customer_state].get(customer_id.encode())
    return CustomerState.model_validate_json(raw) if raw else None


def _index(view: TopicView, settings: Settings, key: str) -> str | None:
    raw = view.latest[Topics(settings.topic_prefix).identity_index].get(key.encode())
    return json.loads(raw)["customer_id"] if raw else None


def test_one_person_across_three_sources_becomes_one_customer(
    settings: Settings, view: TopicView
) -> None:
    feed = RawFeed(settings)
    # Marketing knows only the email (odd case and spacing), first seen earliest.
    feed.send("marketing", "jane", marketing("m1", "email_sent", " Jane.Doe@Example.COM ", T0))
    feed.flush()
    first = view.wait_for(lambda v: _index(v, settings, "email:jane.doe@example.com"), what="email")
    # Support knows only a local-format phone.
    feed.send(
        "support",
        "501",
        support(
            "s1",
            "ticket_created",
            {"id": 501, "phone": "07911 123456", "name": "Jane Doe"},
            {"id": 9001, "priority": "Low", "status": "open"},
            T0 + timedelta(days=1),
        ),
    )
    feed.flush()
    view.wait_for(lambda v: _index(v, settings, "phone:+447911123456"), what="phone")
    assert _index(view, settings, "phone:+447911123456") != first
    # Sales carries both, in international format: the two customers merge.
    contact = {"id": "003A", "email": "jane.doe@example.com", "phone": "+44 7911 123456"}
    feed.send(
        "sales",
        "003A",
        sales("c1", "lead", "created", contact, T0 + timedelta(days=2), lead={"id": "L1"}),
    )
    feed.flush()
    keys = [
        "email:jane.doe@example.com",
        "phone:+447911123456",
        "crm_contact_id:003A",
        "support_user_id:501",
    ]

    def merged(v: TopicView) -> bool:
        return len({_index(v, settings, k) for k in keys}) == 1

    view.wait_for(merged, what="one customer for every identifier")
    assert _index(view, settings, keys[0]) == first, "the merge keeps the older id"
    state = view.wait_for(
        lambda v: (s := _state(v, settings, first)) and sum(s.counters.values()) == 3 and s,
        what="state of the merged customer with all three signals",
    )
    assert {i.type for i in state.identities} >= {"email", "phone", "crm_contact_id"}
    absorbed = [
        k
        for k in view.latest[Topics(settings.topic_prefix).identity_index]
        if k.startswith(b"customer:")
    ]
    assert absorbed, "the absorbed id is published as an alias"
    assert all(_index(view, settings, k.decode()) == first for k in absorbed)

    # Over HTTP: every identifier answers with the same customer; the absorbed id redirects.
    serve_settings = settings.model_copy(update={"api_port": 0})
    with serve_handle(serve_settings) as serve, httpx.Client(base_url=serve.url, timeout=5) as http:
        queries = [
            {"email": "JANE.DOE@example.com "},
            {"phone": "07911 123456"},
            {"phone": "+44 7911 123456"},
            {"type": "crm_contact_id", "value": "003A"},
            {"type": "support_user_id", "value": "501"},
        ]

        def answers(_v: TopicView) -> bool:
            ids = set()
            for params in queries:
                r = http.get("/v1/customers/lookup", params=params)
                if r.status_code != 200:
                    return False
                ids.add(r.json()["customer_id"])
            return ids == {first}

        view.wait_for(answers, what="HTTP lookups by every identifier")
        old_id = absorbed[0].decode().removeprefix("customer:")
        redirect = http.get(f"/v1/customers/{old_id}")
        assert redirect.status_code == 308
        assert redirect.headers["location"].endswith(f"/v1/customers/{first}")


def _ticket_events(at: datetime) -> list[tuple[str, dict]]:
    requester = {"id": 777, "email": "ann@example.org", "name": "Ann Lee"}
    opened = support(
        "t-open", "ticket_created", requester, {"id": 42, "priority": "High", "status": "open"}, at
    )
    closed = support(
        "t-close",
        "ticket_solved",
        requester,
        {"id": 42, "status": "solved"},
        at + timedelta(hours=3),
    )
    return [("open", opened), ("close", closed)]


def _marketing_email_decision(view: TopicView, settings: Settings) -> tuple[str, list[str]]:
    cid = _index(view, settings, "email:ann@example.org")
    state = _state(view, settings, cid) if cid else None
    decision = decide(state, channel="email", purpose="marketing", now=datetime.now(UTC))
    return decision.outcome, [r.text for r in decision.reasons]


def test_high_priority_ticket_denies_marketing_until_closed(
    settings: Settings, view: TopicView
) -> None:
    feed = RawFeed(settings)
    (_, opened), (_, closed) = _ticket_events(T0)
    feed.send("support", "777", opened)
    feed.flush()
    _outcome, reasons = view.wait_for(
        lambda v: (d := _marketing_email_decision(v, settings))[0] == "deny" and d,
        what="deny after the ticket opened",
    )
    assert any("42" in text for text in reasons), reasons
    t = Topics(settings.topic_prefix)
    view.wait_for(lambda v: v.count(t.suppression_changes) == 1, what="suppression change")
    feed.send("support", "777", closed)
    feed.flush()
    view.wait_for(
        lambda v: _marketing_email_decision(v, settings)[0] == "allow", what="allow after close"
    )
    view.wait_for(lambda v: v.count(t.suppression_changes) == 2, what="second suppression change")


def test_ticket_closed_before_opened_ends_closed(settings: Settings, view: TopicView) -> None:
    feed = RawFeed(settings)
    (_, opened), (_, closed) = _ticket_events(T0)
    feed.send("support", "777", closed)
    feed.send("support", "777", opened)
    feed.flush()

    def both_folded(v: TopicView) -> CustomerState | None:
        cid = _index(v, settings, "email:ann@example.org")
        state = _state(v, settings, cid) if cid else None
        return state if state and sum(state.counters.values()) == 2 else None

    state = view.wait_for(both_folded, what="both ticket events folded")
    assert state.tickets["42"].status in ("solved", "closed")
    assert _marketing_email_decision(view, settings)[0] == "allow"


def test_same_event_twice_changes_nothing(settings: Settings, view: TopicView) -> None:
    feed = RawFeed(settings)
    event = marketing("dup-1", "email_open", "dup@example.com", T0)
    feed.send("marketing", "dup", event)
    feed.flush()
    cid = view.wait_for(lambda v: _index(v, settings, "email:dup@example.com"), what="index")
    first = view.wait_for(lambda v: _state(v, settings, cid), what="state")
    t = Topics(settings.topic_prefix)
    feed.send("marketing", "dup", event)
    feed.send("marketing", "dup", marketing("dup-2", "email_click", "dup@example.com", T0))
    feed.flush()
    # The sentinel (a different event) proves the duplicate was processed before it.
    last = view.wait_for(
        lambda v: (
            (s := _state(v, settings, cid)) and s.counters.get("marketing.email.clicked") and s
        ),
        what="sentinel folded",
    )
    assert last.counters["marketing.email.opened"] == first.counters["marketing.email.opened"] == 1
    assert last.version == first.version + 1
    assert len([m for m in view.records[t.canonical]]) == 3
    assert sum(last.counters.values()) == 2


def test_bad_events_reach_the_dlq_with_reasons_and_counts_add_up(
    settings: Settings, view: TopicView
) -> None:
    feed = RawFeed(settings)
    good = [marketing(f"g{i}", "email_sent", f"p{i}@example.com", T0) for i in range(20)]
    for i, event in enumerate(good):
        feed.send("marketing", str(i), event)
    bad: list[tuple[str, bytes | dict, str]] = [
        ("marketing", b"{not json", "invalid_json"),
        (
            "marketing",
            {"id": "b1", "event": "email_sent", "ts": "2026-11-01T00:00:00Z"},
            "missing_field",
        ),
        ("marketing", marketing("b2", "teleported", "x@example.com", T0), "unknown_type"),
        (
            "support",
            support(
                "b3", "csat_submitted", {"id": 9}, {"id": 1}, T0, satisfaction={"score": "great"}
            ),
            "wrong_type",
        ),
        (
            "marketing",
            marketing(
                "b4",
                "email_sent",
                "y@example.com",
                T0,
                padding="x" * (settings.max_event_bytes + 1),
            ),
            "oversized",
        ),
    ]
    for source, event, _ in bad:
        feed.send(source, "bad", event)
    feed.flush()
    t = Topics(settings.topic_prefix)
    view.wait_for(
        lambda v: v.count(t.canonical) + v.count(t.dlq) == feed.sent, what="every event accounted"
    )
    assert view.count(t.canonical) == len(good)
    letters = [json.loads(m.value()) for m in view.records[t.dlq]]
    assert sorted(x["error_kind"] for x in letters) == sorted(kind for *_, kind in bad)
    for letter in letters:
        assert letter["reason"].startswith("source `"), letter["reason"]
        assert letter["expected"] and letter["found"]
        assert letter["topic"].endswith("signals.raw." + letter["source"])
        assert letter["original"]
    missing = next(x for x in letters if x["error_kind"] == "missing_field")
    assert missing["field"] == "email"


def test_a_source_without_a_contract_is_dead_lettered(settings: Settings, view: TopicView) -> None:
    from signalfold.streams.topics import ensure_topics

    t = Topics(settings.topic_prefix)
    ensure_topics(settings.kafka_client_config(), [t.raw("legacy_erp")], settings.partitions)
    feed = RawFeed(settings)
    feed.send("legacy_erp", "inv-1", {"id": "inv-1", "amount": 10})
    feed.flush()
    view.wait_for(lambda v: v.count(t.dlq) == 1, timeout=60, what="dead letter")
    letter = json.loads(view.records[t.dlq][0].value())
    assert letter["error_kind"] == "unknown_source"
    assert "legacy_erp" in letter["reason"]
