"""``decide``: outcomes, reasons, expiry and unknown customers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from policy_factory import DEFAULTS, T0, signal, state_of

from signalfold.policy import UnknownCustomerRules, decide, evaluate_flags
from signalfold.schemas.state import CustomerState, Flag

NOW = T0 + timedelta(hours=2)
OPEN_HIGH = signal("support.ticket.opened", {"ticket_id": "T-1", "priority": "high"}, event_id="z9")
RETURNED = signal(
    "sales.order.returned",
    {"order_id": "O-7", "reason": "defective", "product_id": "P-1"},
    event_id="s1",
    source="shopify",
)


def test_open_ticket_denies_email_marketing_with_reason():
    state = state_of(OPEN_HIGH, now=NOW)
    decision = decide(state, channel="email", purpose="marketing", now=NOW)

    assert (decision.outcome, decision.allowed, decision.known) == ("deny", False, True)
    assert (decision.customer_id, decision.state_version) == ("cus_1", state.version)
    [reason] = decision.reasons
    assert reason.rule == "open_high_priority_ticket" and reason.department == "support"
    assert reason.text == "Open high-priority ticket T-1 since 2024-05-01 10:00 UTC"
    assert (reason.source, reason.source_event_id, reason.signal_id) == (
        "zendesk",
        "z9",
        OPEN_HIGH.signal_id,
    )
    assert decision.until is None


@pytest.mark.parametrize("purpose", ["transactional", "service"])
def test_open_ticket_allows_transactional_and_service(purpose):
    decision = decide(state_of(OPEN_HIGH, now=NOW), channel="email", purpose=purpose, now=NOW)
    assert decision.outcome == "allow" and decision.allowed and decision.reasons == []


def test_low_priority_ticket_does_not_suppress():
    low = signal("support.ticket.opened", {"ticket_id": "T-2", "priority": "low"})
    assert decide(state_of(low, now=NOW), channel="sms", purpose="sales", now=NOW).allowed


def test_defective_return_expires_after_30_days_with_fixed_clock():
    state = state_of(RETURNED, now=NOW)
    [flag] = state.flags
    assert flag.until == T0 + timedelta(days=30)
    assert flag.reason.startswith(
        "Returned P-1 from order O-7 as defective on 2024-05-01 10:00 UTC"
    )

    day_29 = decide(state, channel="push", purpose="marketing", now=T0 + timedelta(days=29))
    assert day_29.outcome == "deny" and day_29.until == T0 + timedelta(days=30)
    assert decide(state, channel="push", purpose="sales", now=NOW).allowed
    # the published state still carries the flag; decide ignores it once expired
    day_30 = decide(state, channel="push", purpose="marketing", now=T0 + timedelta(days=30))
    assert day_30.outcome == "allow" and day_30.reasons == []
    # and a fold after the expiry no longer raises it
    assert state_of(RETURNED, now=T0 + timedelta(days=31)).flags == []


def test_unsubscribe_blocks_only_its_channel_and_purpose():
    unsub = signal("marketing.email.unsubscribed", {"channel": "email"}, source="hubspot")
    state = state_of(unsub, now=NOW)
    assert decide(state, channel="email", purpose="marketing", now=NOW).outcome == "deny"
    assert decide(state, channel="sms", purpose="marketing", now=NOW).allowed
    assert decide(state, channel="email", purpose="transactional", now=NOW).allowed


def test_reasons_ordered_by_severity_then_since():
    state = state_of(
        RETURNED,
        signal(
            "support.ticket.opened",
            {"ticket_id": "T-1", "priority": "urgent"},
            at=T0 + timedelta(hours=1),
            event_id="z2",
        ),
        signal(
            "marketing.email.unsubscribed",
            {},
            at=T0 + timedelta(minutes=30),
            event_id="h1",
            source="hubspot",
        ),
        now=NOW,
    )
    decision = decide(state, channel="email", purpose="marketing", now=NOW)
    assert [r.rule for r in decision.reasons] == [
        "unsubscribed",  # critical, 10:30
        "open_high_priority_ticket",  # critical, 11:00
        "defective_return",  # warning
    ]
    assert decision.until is None  # two of the deny flags have no end


def test_defer_flags_give_defer_until_latest():
    def defer(rule: str, days: int) -> Flag:
        return Flag(
            rule=rule,
            department="sales",
            effect="defer",
            channels=("phone",),
            purposes=("sales",),
            reason=rule,
            source="crm",
            source_event_id=rule,
            signal_id=rule,
            since=T0,
            until=T0 + timedelta(days=days),
        )

    state = CustomerState(customer_id="c", version=3, flags=[defer("a", 1), defer("b", 3)])
    decision = decide(state, channel="phone", purpose="sales", now=NOW)
    assert (decision.outcome, decision.allowed) == ("defer", False)
    assert decision.until == T0 + timedelta(days=3)
    assert decide(state, channel="phone", purpose="sales", now=T0 + timedelta(days=3)).allowed


def test_unknown_customer_defaults_allow_and_name_the_rule():
    decision = decide(None, channel="email", purpose="transactional", now=NOW)
    assert (decision.outcome, decision.known, decision.customer_id) == ("allow", False, None)
    assert decision.unknown_rule == "unknown_customer.transactional"
    assert decide(None, channel="email", purpose="marketing", now=NOW).allowed


def test_unknown_customer_marketing_is_configurable():
    strict = UnknownCustomerRules(marketing="deny")
    decision = decide(None, channel="email", purpose="marketing", now=NOW, unknown=strict)
    assert (decision.outcome, decision.allowed) == ("deny", False)
    assert decision.unknown_rule == "unknown_customer.marketing"
    assert decide(None, channel="email", purpose="service", now=NOW, unknown=strict).allowed


def test_evaluate_flags_from_published_state_matches_aggregate():
    state = state_of(OPEN_HIGH, RETURNED, now=NOW)
    assert evaluate_flags(state, DEFAULTS, NOW) == state.flags


def test_new_rule_kinds_plug_in_through_the_registry(tmp_path):
    from signalfold.policy import RULE_KINDS, load_policy, register_rule_kind

    @register_rule_kind("any_order", fields=("order_id",))
    def any_order(rule, state, ctx):
        for order in state.orders.values():
            ref = ctx.refs.by_event(order.placed_event_id or "", order.source)
            yield ctx.flag(rule, ref, order.placed_at, order_id=order.order_id)

    try:
        path = tmp_path / "p.yaml"
        path.write_text(
            "rules:\n  - {name: bought, kind: any_order, department: sales, effect: defer,\n"
            "     channels: [phone], purposes: [sales], reason: 'Order {order_id}', for_days: 1}\n"
        )
        placed = signal("sales.order.placed", {"order_id": "O-1"}, source="shopify")
        state = state_of(placed, now=NOW, policy=load_policy(path))
        decision = decide(state, channel="phone", purpose="sales", now=NOW)
        assert (decision.outcome, decision.until) == ("defer", T0 + timedelta(days=1))
        assert decision.reasons[0].signal_id == placed.signal_id
    finally:
        del RULE_KINDS["any_order"]
