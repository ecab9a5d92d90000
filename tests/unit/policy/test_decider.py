"""``Decider`` (``decide`` over prepared inputs, kept while it holds) gives what ``decide`` gives.

Property tests over generated states (flags of every effect, severity, scope
and expiry; time zones for quiet hours) and sequences of questions whose
``now`` moves forwards and backwards across expiries: same ``SuppressionDecision``,
same JSON bytes, and JSON that ``SuppressionDecision`` reads back unchanged.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from policy_factory import DEFAULTS, T0, signal, state_of

from signalfold.policy import (
    RULE_KINDS,
    Asked,
    Decider,
    DecisionInputs,
    FlagContext,
    UnknownCustomerRules,
    decide,
    load_policy,
    register_rule_kind,
)
from signalfold.schemas import SuppressionDecision
from signalfold.schemas.state import CustomerState, Flag, ProfileValue

CHANNELS = ("email", "sms", "push", "phone", "ads", "ai_agent")
PURPOSES = ("marketing", "sales", "service", "transactional")
PRODUCTS = (None, "P-1", "P-2")
CATEGORIES = (None, "shoes", "hats")
ZONES = ("UTC", "Europe/London", "America/New_York", "Asia/Kolkata", "Nowhere/Invalid")

hours = st.integers(min_value=-72, max_value=72).map(lambda h: T0 + timedelta(hours=h))
tz_variants = st.sampled_from([UTC, ZoneInfo("Europe/Paris"), ZoneInfo("America/New_York")])


@st.composite
def flags(draw: st.DrawFn) -> Flag:
    since = draw(hours)
    until = draw(st.one_of(st.none(), hours.map(lambda t: t + timedelta(hours=1))))
    zone = draw(tz_variants)
    return Flag(
        rule=draw(st.sampled_from(["a", "b", "c", "quiet"])),
        department=draw(st.sampled_from(["support", "sales"])),
        severity=draw(st.sampled_from(["info", "warning", "critical"])),
        effect=draw(st.sampled_from(["deny", "defer"])),
        channels=tuple(draw(st.sets(st.sampled_from(CHANNELS), min_size=1))),
        purposes=tuple(draw(st.sets(st.sampled_from(PURPOSES), min_size=1))),
        reason=draw(st.text(max_size=12)),
        source="src",
        source_event_id=draw(st.text(max_size=4)),
        signal_id="sig",
        since=since.astimezone(zone),
        until=until.astimezone(zone) if until is not None else None,
        products=tuple(draw(st.sets(st.sampled_from(["P-1", "P-2"])))),
        categories=tuple(draw(st.sets(st.sampled_from(["shoes", "hats"])))),
        details=draw(st.dictionaries(st.sampled_from(["k", "ticket_id"]), st.text(max_size=5))),
    )


@st.composite
def states(draw: st.DrawFn) -> CustomerState:
    profile = {}
    zone = draw(st.sampled_from((None, *ZONES)))
    if zone is not None:
        profile["timezone"] = ProfileValue(
            value=zone, source="crm", observed_at=T0, signal_id="sig-tz"
        )
    return CustomerState(
        customer_id=draw(st.sampled_from(["cus_1", "cus_é", 'c"q'])),
        version=draw(st.integers(0, 50)),
        flags=draw(st.lists(flags(), max_size=6)),
        profile=profile,
    )


questions = st.tuples(
    st.sampled_from(CHANNELS),
    st.sampled_from(PURPOSES),
    st.sampled_from(PRODUCTS),
    st.sampled_from(CATEGORIES),
    st.integers(min_value=-80, max_value=80).map(lambda h: T0 + timedelta(hours=h, minutes=7)),
)


def _assert_same(answer, expected: SuppressionDecision) -> None:
    assert answer.json == expected.model_dump_json().encode()
    decision = answer.decision()
    assert decision == expected
    assert decision.model_fields_set == expected.model_fields_set
    assert SuppressionDecision.model_validate_json(answer.json) == expected
    assert (answer.outcome, answer.customer_id, answer.state_version) == (
        expected.outcome,
        expected.customer_id,
        expected.state_version,
    )


@settings(max_examples=150, deadline=None)
@given(state=states(), asked=st.lists(questions, min_size=1, max_size=12), raw=st.booleans())
def test_fast_answers_equal_decide_for_any_state_and_moment(state, asked, raw):
    fast = Decider(DEFAULTS)  # the shipped policy, with its quiet-hours rule
    inputs = DecisionInputs(state.model_dump_json().encode() if raw else state)
    for channel, purpose, product_id, category, now in asked:
        expected = decide(
            state,
            channel=channel,
            purpose=purpose,
            now=now,
            policy=DEFAULTS,
            product_id=product_id,
            category=category,
        )
        answer = fast.answer(
            inputs,
            channel=channel,
            purpose=purpose,
            now=now,
            product_id=product_id,
            category=category,
        )
        _assert_same(answer, expected)


@settings(max_examples=60, deadline=None)
@given(
    asked=st.lists(questions, min_size=1, max_size=8), marketing=st.sampled_from(["allow", "deny"])
)
def test_unknown_customers_equal_decide(asked, marketing):
    unknown = UnknownCustomerRules(marketing=marketing)
    fast = Decider(unknown=unknown)
    for channel, purpose, product_id, category, now in asked:
        expected = decide(
            None,
            channel=channel,
            purpose=purpose,
            now=now,
            unknown=unknown,
            product_id=product_id,
            category=category,
        )
        answer = fast.answer(
            None,
            channel=channel,
            purpose=purpose,
            now=now,
            product_id=product_id,
            category=category,
        )
        _assert_same(answer, expected)


def test_expiry_is_never_served_from_the_cache():
    returned = signal(
        "sales.order.returned",
        {"order_id": "O-7", "reason": "defective", "product_id": "P-1"},
        source="shopify",
    )
    state = state_of(returned, now=T0 + timedelta(hours=1))
    inputs, fast = DecisionInputs(state), Decider(DEFAULTS)
    ask = functools.partial(fast.answer, inputs, channel="push", purpose="marketing")
    assert ask(now=T0 + timedelta(days=29)).outcome == "deny"
    assert ask(now=T0 + timedelta(days=30)).outcome == "allow"  # the flag's own ``until``
    assert ask(now=T0 + timedelta(days=29, hours=23)).outcome == "deny"  # a clock that went back


def test_quiet_hours_follow_the_clock_of_the_question():
    tz = ProfileValue(value="Europe/London", source="crm", observed_at=T0, signal_id="s")
    state = CustomerState(customer_id="c", version=1, profile={"timezone": tz})
    fast, inputs = Decider(DEFAULTS), DecisionInputs(state)
    night = datetime(2024, 5, 1, 22, 30, tzinfo=UTC)  # 23:30 in London
    for now in (night, night - timedelta(hours=12), night):
        expected = decide(state, channel="sms", purpose="marketing", now=now, policy=DEFAULTS)
        _assert_same(fast.answer(inputs, channel="sms", purpose="marketing", now=now), expected)
    assert fast.answer(inputs, channel="sms", purpose="marketing", now=night).outcome == "defer"


def test_what_pydantic_refuses_still_raises_the_same_error():
    fast = Decider(DEFAULTS)
    inputs = DecisionInputs(CustomerState(customer_id="c"))
    with pytest.raises(ValueError) as expected:
        decide(None, channel="fax", purpose="marketing", now=T0)  # type: ignore[arg-type]
    with pytest.raises(type(expected.value)):
        fast.answer(None, channel="fax", purpose="marketing", now=T0)
    naive = datetime(2024, 5, 1, 10)
    with pytest.raises(ValueError, match="timezone"):
        fast.answer(inputs, channel="email", purpose="marketing", now=naive)


def test_a_registered_ask_time_kind_is_served_through_the_registry(tmp_path):
    """No kind name is special: a new ask-time kind's part is what both answers run."""
    noon = T0.replace(hour=12)

    def lunch(rule, inputs, now):  # deferred from 12:00 to 13:00 UTC, every day
        start = now.replace(hour=12, minute=0, second=0, microsecond=0)
        if now < start:
            return Asked((), None, start)
        end = start + timedelta(hours=1)
        if now >= end:
            return Asked((), end, None)
        ref = inputs.refs().by_signal("", "policy")
        return Asked(
            (FlagContext(now=now, refs=inputs.refs()).flag(rule, ref, start, until=end),),
            start,
            end,
        )

    register_rule_kind("lunch_break", ask=lunch)(lambda rule, state, ctx: iter(()))
    try:
        path = tmp_path / "policy.yaml"
        path.write_text(
            "rules:\n"
            "  - {name: lunch, kind: lunch_break, department: ops, effect: defer,\n"
            "     channels: [phone], purposes: all, reason: 'at lunch until {until}'}\n"
        )
        policy = load_policy(path)
        decider, state = Decider(policy), CustomerState(customer_id="c", version=1)
        inputs = DecisionInputs(state)
        for minutes in (-30, 0, 30, 59, 60, 30, -1):
            now = noon + timedelta(minutes=minutes)
            expected = decide(state, channel="phone", purpose="sales", now=now, policy=policy)
            answer = decider.answer(inputs, channel="phone", purpose="sales", now=now)
            _assert_same(answer, expected)
            assert answer.outcome == ("defer" if 0 <= minutes < 60 else "allow")
    finally:
        del RULE_KINDS["lunch_break"]
