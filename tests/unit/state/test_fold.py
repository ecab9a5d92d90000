"""Folding signals into a ``CustomerAggregate``: tickets, orders, consent, profile."""

from __future__ import annotations

from datetime import timedelta

import pytest
from state_factory import T0, signal

from signalfold.errors import ConfigError
from signalfold.policy import load_policy
from signalfold.schemas.state import IdentityRef
from signalfold.streams.state import CustomerAggregate

POLICY = load_policy()
NOW = T0 + timedelta(days=1)


def fold(*signals):
    agg = CustomerAggregate("cus_1")
    for s in signals:
        agg.apply(s)
    return agg


def test_ticket_opened_high_raises_flag_naming_ticket_and_event():
    opened = signal(
        "support.ticket.opened", {"ticket_id": "T-1", "priority": "high"}, event_id="z1"
    )
    state = fold(opened).to_state(POLICY, NOW)

    ticket = state.tickets["T-1"]
    assert (ticket.status, ticket.priority, ticket.opened_at) == ("open", "high", T0)
    assert ticket.opened_event_id == "z1"
    [flag] = state.flags
    assert flag.rule == "open_high_priority_ticket"
    assert flag.reason == "Open high-priority ticket T-1 since 2024-05-01 10:00 UTC"
    assert (flag.source, flag.source_event_id, flag.signal_id) == (
        "zendesk",
        "z1",
        opened.signal_id,
    )
    assert flag.since == T0 and flag.until is None


def test_ticket_closed_clears_flag():
    agg = fold(signal("support.ticket.opened", {"ticket_id": "T-1", "priority": "urgent"}))
    agg.apply(signal("support.ticket.closed", {"ticket_id": "T-1"}, at=30, event_id="e2"))
    state = agg.to_state(POLICY, NOW)

    assert state.tickets["T-1"].status == "closed"
    assert state.tickets["T-1"].closed_at == T0 + timedelta(minutes=30)
    assert state.flags == []


def test_closed_arriving_before_opened_leaves_ticket_closed():
    closed = signal("support.ticket.closed", {"ticket_id": "T-1"}, at=30, event_id="e2")
    opened = signal("support.ticket.opened", {"ticket_id": "T-1", "priority": "high"})
    state = fold(closed, opened).to_state(POLICY, NOW)

    ticket = state.tickets["T-1"]
    assert ticket.status == "closed" and not ticket.is_open
    assert ticket.opened_at == T0 and ticket.priority == "high"
    assert state.flags == []


def test_escalation_without_known_opening_cites_the_status_event():
    update = signal(
        "support.ticket.updated",
        {"ticket_id": "T-9", "priority": "urgent", "status": "open"},
        event_id="u1",
    )
    [flag] = fold(update).to_state(POLICY, NOW).flags
    assert (flag.source_event_id, flag.signal_id, flag.since) == ("u1", update.signal_id, T0)


def test_duplicate_signal_changes_nothing():
    opened = signal("support.ticket.opened", {"ticket_id": "T-1", "priority": "high"})
    agg = fold(opened)
    before = agg.to_transfer()

    assert agg.apply(opened) is False
    assert agg.to_transfer() == before
    assert agg.version == 1


def test_new_identity_on_known_signal_is_a_change():
    opened = signal("support.ticket.opened", {"ticket_id": "T-1"})
    agg = fold(opened)
    ref = IdentityRef(type="email", value="ada@example.com", source="zendesk", record_id="z:1")

    assert agg.apply(opened, [ref]) is True
    assert agg.apply(opened, [ref]) is False
    assert agg.to_state(POLICY, NOW).identities == [ref]
    assert agg.version == 2


def test_orders_consent_profile_touch_and_counters():
    agg = fold(
        signal(
            "sales.order.placed",
            {
                "order_id": "O-1",
                "amount": "19.90",
                "currency": "EUR",
                "items": [{"product_id": "P-1", "category": "camera"}],
            },
            event_id="s1",
            source="shopify",
            traits={"city": "Lyon"},
        ),
        signal(
            "sales.order.returned",
            {"order_id": "O-1", "reason": "defective", "product_id": "P-1"},
            at=60,
            event_id="s2",
            source="shopify",
            traits={"city": "Oslo"},
        ),
        signal(
            "marketing.form.submitted",
            {"form_id": "F", "consent_email": True, "consent_sms": False},
            at=5,
            source="hubspot",
        ),
        signal("marketing.email.unsubscribed", {}, at=10, event_id="h2", source="hubspot"),
    )
    state = agg.to_state(POLICY, NOW)

    order = state.orders["O-1"]
    assert (order.amount, order.product_ids, order.categories) == ("19.90", ["P-1"], ["camera"])
    assert (order.return_reason, order.returned_product_id) == ("defective", "P-1")
    assert {ch: c.granted for ch, c in state.consent.items()} == {"email": False, "sms": False}
    assert state.consent["email"].source_event_id == "h2"
    assert state.profile["city"].value == "Oslo" and state.profile["city"].source == "shopify"
    assert set(state.last_touch) == {"sales", "marketing"}
    assert state.last_touch["sales"].source_event_id == "s2"
    assert state.counters == {
        "marketing.email.unsubscribed": 1,
        "marketing.form.submitted": 1,
        "sales.order.placed": 1,
        "sales.order.returned": 1,
    }
    assert [e.summary for e in state.timeline] == [
        "Order O-1 P-1 returned (defective)",
        "Unsubscribed from email",
        "Form F submitted; consent email granted, sms withdrawn",
        "Order O-1 placed (19.90 EUR)",
    ]
    assert sorted(f.rule for f in state.flags) == [
        "defective_return",
        "unsubscribed",
        "unsubscribed",
    ]


def test_regrant_clears_unsubscribe():
    agg = fold(
        signal("marketing.email.unsubscribed", {}, source="hubspot"),
        signal(
            "marketing.form.submitted",
            {"form_id": "F", "consent_email": True},
            at=9,
            event_id="e2",
            source="hubspot",
        ),
    )
    state = agg.to_state(POLICY, NOW)
    assert state.consent["email"].granted and state.flags == []


def test_timeline_is_bounded_to_most_recent():
    agg = CustomerAggregate("cus_1", timeline_size=3)
    for minute in range(6):
        agg.apply(
            signal(
                "marketing.email.sent",
                {"campaign_id": f"C{minute}"},
                at=minute,
                event_id=f"e{minute}",
            )
        )
    timeline = agg.to_state(POLICY, NOW).timeline
    assert [e.summary for e in timeline] == [
        "Email sent (campaign C5)",
        "Email sent (campaign C4)",
        "Email sent (campaign C3)",
    ]
    assert agg.to_state(POLICY, NOW).counters == {"marketing.email.sent": 6}


def test_timeline_size_must_be_positive():
    with pytest.raises(ConfigError, match="timeline_size must be at least 1"):
        CustomerAggregate("cus_1", timeline_size=0)
