"""Every shipped default rule, one test each, through fold → flags → ``decide``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from policy_factory import DEFAULTS, T0, declared, signal, state_of

from signalfold.policy import decide

NOW = T0 + timedelta(hours=2)
CONTRACT_TYPES = (
    "support.complaint.received",
    "support.complaint.resolved",
    "legal.do_not_contact.requested",
    "legal.do_not_contact.lifted",
    "billing.payment.disputed",
    "billing.payment.dispute_resolved",
    "ai.conversation.escalated",
    "marketing.sms.sent",
)


@pytest.fixture(autouse=True)
def _contract_types() -> Iterator[None]:
    with declared(*CONTRACT_TYPES):
        yield


def ask(state, channel="email", purpose="marketing", now=NOW, **extra):
    return decide(state, channel=channel, purpose=purpose, now=now, policy=DEFAULTS, **extra)


def test_open_high_priority_ticket_blocks_marketing_and_sales_until_closed():
    opened = signal("support.ticket.opened", {"ticket_id": "T-1", "priority": "urgent"})
    closed = signal("support.ticket.closed", {"ticket_id": "T-1"}, at=NOW, event_id="e2")
    state = state_of(opened, now=NOW)
    for channel in ("email", "sms", "push", "phone", "ads", "ai_agent"):
        assert ask(state, channel, "sales").outcome == "deny"
    assert ask(state, "sms", "service").allowed
    assert ask(state_of(opened, closed, now=NOW)).allowed


def test_poor_csat_denies_for_14_days_naming_the_survey():
    csat = signal("support.csat.submitted", {"score": 2, "ticket_id": "T-4"}, event_id="c1")
    state = state_of(csat, now=NOW)
    decision = ask(state, "push", "sales")
    [reason] = decision.reasons
    assert (decision.outcome, reason.rule) == ("deny", "recent_complaint_or_poor_csat")
    assert reason.text.startswith("CSAT 2/5 for ticket T-4 on 2024-05-01 10:00 UTC")
    assert (reason.source_event_id, reason.until) == ("c1", T0 + timedelta(days=14))
    assert ask(state, now=T0 + timedelta(days=14)).allowed
    good = signal("support.csat.submitted", {"score": 3}, event_id="c2")
    assert ask(state_of(good, now=NOW)).allowed


def test_complaint_denies_for_14_days():
    complaint = signal("support.complaint.received", {"channel": "phone"}, event_id="k1")
    decision = ask(state_of(complaint, now=NOW), "sms", "marketing")
    assert "recent_complaint_or_poor_csat" in [r.rule for r in decision.reasons]
    assert decision.outcome == "deny"


def test_defective_return_blocks_only_that_product_or_category_for_30_days():
    placed = signal(
        "sales.order.placed",
        {"order_id": "O-1", "items": [{"product_id": "P-1", "category": "cameras"}]},
        source="shopify",
        event_id="s0",
    )
    returned = signal(
        "sales.order.returned",
        {"order_id": "O-1", "reason": "defective", "product_id": "P-1"},
        source="shopify",
        event_id="s1",
    )
    state = state_of(placed, returned, now=NOW)
    [flag] = state.flags
    assert (flag.products, flag.categories) == (("P-1",), ("cameras",))
    assert ask(state, product_id="P-1").outcome == "deny"
    assert ask(state, category="cameras").outcome == "deny"
    assert ask(state, product_id="P-9", category="audio").allowed
    assert ask(state).outcome == "deny"  # a message about nothing in particular: conservative
    assert ask(state, product_id="P-1", now=T0 + timedelta(days=30)).allowed
    assert ask(state, product_id="P-1").reasons[0].products == ("P-1",)


def test_unsubscribe_is_per_channel_until_resubscribed():
    unsub = signal("marketing.email.unsubscribed", {"channel": "sms"}, source="hubspot")
    state = state_of(unsub, now=NOW)
    assert ask(state, "sms").outcome == "deny" and ask(state, "email").allowed
    regrant = signal(
        "marketing.form.submitted",
        {"form_id": "F", "consent_sms": True},
        at=T0 + timedelta(hours=1),
        event_id="e2",
        source="hubspot",
    )
    assert ask(state_of(unsub, regrant, now=NOW), "sms").allowed


def test_legal_do_not_contact_blocks_everything_but_transactional():
    dnc = signal("legal.do_not_contact.requested", {"basis": "court order"}, source="legal")
    state = state_of(dnc, now=NOW)
    for purpose in ("marketing", "sales", "service"):
        assert ask(state, "phone", purpose).outcome == "deny"
    assert ask(state, "email", "transactional").allowed
    lifted = signal("legal.do_not_contact.lifted", {}, at=NOW, event_id="e2", source="legal")
    assert ask(state_of(dnc, lifted, now=NOW), "phone", "service").allowed


def test_contact_fatigue_defers_until_the_oldest_touch_leaves_the_window():
    sends = [
        signal(
            "marketing.email.sent",
            {"campaign_id": f"C{i}"},
            at=T0 + timedelta(days=i),
            event_id=f"m{i}",
            source="hubspot",
        )
        for i in range(3)
    ]
    now = T0 + timedelta(days=2, hours=1)
    assert ask(state_of(*sends[:2], now=now), now=now).allowed
    state = state_of(*sends, now=now)
    decision = ask(state, "sms", now=now)
    assert (decision.outcome, decision.until) == ("defer", T0 + timedelta(days=7))
    [reason] = decision.reasons
    assert reason.text.startswith("3 marketing touches in the last 7 days (cap 3)")
    assert reason.source_event_id == "m2"
    assert ask(state, now=T0 + timedelta(days=7)).allowed
    assert ask(state, "email", "transactional", now=now).allowed


def test_quiet_hours_defer_in_the_customers_time_zone():
    tz = signal(
        "marketing.form.submitted",
        {"form_id": "F"},
        traits={"timezone": "Asia/Tokyo"},
        source="hubspot",
    )
    late_in_tokyo = datetime(2024, 5, 1, 13, 30, tzinfo=UTC)  # 22:30 JST
    state = state_of(tz, now=late_in_tokyo)
    decision = ask(state, "sms", now=late_in_tokyo)
    assert decision.outcome == "defer"
    assert decision.until == datetime(2024, 5, 1, 23, 0, tzinfo=UTC)  # 08:00 JST
    assert "Asia/Tokyo" in decision.reasons[0].text
    assert ask(state, "email", now=late_in_tokyo).allowed  # email is not an interruption
    assert ask(state, "sms", now=datetime(2024, 5, 1, 3, 0, tzinfo=UTC)).allowed  # noon JST
    no_zone = state_of(signal("marketing.form.submitted", {"form_id": "F"}), now=late_in_tokyo)
    assert ask(no_zone, "sms", now=late_in_tokyo).allowed


def test_late_stage_deal_holds_marketing_and_names_the_owner():
    deal = signal(
        "sales.opportunity.stage_changed",
        {"opportunity_id": "OP-1", "stage": "negotiation", "owner": "rita"},
        source="crm",
    )
    decision = ask(state_of(deal, now=NOW))
    [reason] = decision.reasons
    assert decision.outcome == "deny" and reason.details["owner"] == "rita"
    assert "owned by rita" in reason.text and reason.department == "sales"
    assert ask(state_of(deal, now=NOW), "phone", "sales").allowed  # the owner may call
    won = signal(
        "sales.opportunity.stage_changed",
        {"opportunity_id": "OP-1", "stage": "closed won", "owner": "rita", "is_closed": True},
        at=NOW,
        event_id="e2",
        source="crm",
    )
    assert ask(state_of(deal, won, now=NOW)).allowed


def test_ai_agent_must_hand_off_after_an_escalation():
    escalated = signal("ai.conversation.escalated", {"conversation_id": "cv1"}, source="bot")
    state = state_of(escalated, now=NOW)
    decision = ask(state, "ai_agent", "service")
    assert decision.outcome == "deny"
    assert decision.reasons[0].rule == "needs_human_ai_escalated"
    assert ask(state, "email", "marketing").allowed  # only the AI surface hands off
    assert ask(state, "ai_agent", "service", now=T0 + timedelta(days=7)).allowed


def test_ai_agent_must_hand_off_while_a_complaint_ticket_is_open():
    complaint = signal(
        "support.ticket.opened", {"ticket_id": "T-7", "priority": "low", "category": "complaint"}
    )
    other_closed = signal("support.ticket.closed", {"ticket_id": "T-8"}, at=NOW, event_id="e2")
    state = state_of(complaint, other_closed, now=NOW)
    assert "needs_human_open_complaint" in [
        r.rule for r in ask(state, "ai_agent", "service").reasons
    ]
    closed = signal("support.ticket.closed", {"ticket_id": "T-7"}, at=NOW, event_id="e3")
    rules = [r.rule for r in ask(state_of(complaint, closed, now=NOW), "ai_agent").reasons]
    assert "needs_human_open_complaint" not in rules


def test_payment_dispute_denies_marketing_and_sales_until_resolved():
    disputed = signal(
        "billing.payment.disputed",
        {"dispute_id": "dp_1", "amount_minor": 4000, "reason": "fraudulent"},
        source="stripe",
    )
    state = state_of(disputed, now=NOW)
    assert ask(state, "email", "marketing").outcome == "deny"
    assert ask(state, "phone", "sales").outcome == "deny"
    assert ask(state, "email", "transactional").allowed
    resolved = signal(
        "billing.payment.dispute_resolved",
        {"dispute_id": "dp_1", "status": "won"},
        at=NOW,
        event_id="e2",
        source="stripe",
    )
    assert ask(state_of(disputed, resolved, now=NOW)).allowed


def test_published_state_keeps_only_the_types_the_policy_reads():
    sends = signal("marketing.email.sent", {"campaign_id": "C"}, source="hubspot")
    opened = signal("marketing.email.opened", {"campaign_id": "C"}, event_id="e2")
    state = state_of(sends, opened, now=NOW)
    assert set(state.recent) == {"marketing.email.sent"}
