"""Flags across identity merges: the merged customer keeps every flag of both sides."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from state_factory import T0, customer_signals, signal

from signalfold.policy import decide, load_policy
from signalfold.streams.state import CustomerAggregate

POLICY = load_policy()
NOW = T0 + timedelta(hours=3)


def fold(customer_id: str, signals) -> CustomerAggregate:
    agg = CustomerAggregate(customer_id)
    for s in signals:
        agg.apply(s)
    return agg


def test_merge_keeps_the_strictest_answer_with_both_reasons():
    ticket = signal("support.ticket.opened", {"ticket_id": "T-1", "priority": "high"})
    unsub = signal("marketing.email.unsubscribed", {}, event_id="h1", source="hubspot")
    survivor, absorbed = fold("cus_a", [ticket]), fold("cus_b", [unsub])
    survivor.merge(absorbed)

    state = survivor.to_state(POLICY, NOW)
    decision = decide(state, channel="email", purpose="marketing", now=NOW, policy=POLICY)
    assert decision.outcome == "deny"
    assert {r.rule for r in decision.reasons} == {"open_high_priority_ticket", "unsubscribed"}
    assert decision.customer_id == "cus_a" and decision.state_version == survivor.version


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_merge_flags_equal_the_union_and_grow_for_monotone_rules(data):
    """A merged customer's flags are those of all its events together; rules that only
    grow with events (complaints, fatigue) never lose a flag through a merge. Consent and
    ticket status stay last-writer-wins in event time: a later re-subscribe is the
    customer's newer word, whichever record carried it."""
    pool = data.draw(customer_signals())
    cut = data.draw(st.integers(0, len(pool)))
    a, b = fold("cus_a", pool[:cut]), fold("cus_b", pool[cut:])
    merged = fold("cus_a", pool[:cut])
    merged.merge(b)
    flags = merged.flags(POLICY, NOW)
    assert flags == fold("cus_x", pool).flags(POLICY, NOW)
    monotone = {"recent_complaint_or_poor_csat", "contact_fatigue"}
    after = {f.rule for f in flags}
    for side in (a, b):
        assert {f.rule for f in side.flags(POLICY, NOW)} & monotone <= after
