"""`flag_change`: a change only when the flags differ, naming exactly what moved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from signalfold.schemas.state import Flag
from signalfold.streams.state.flag_changes import flag_change, flag_key, keyed

T0 = datetime(2026, 10, 1, tzinfo=UTC)
RULES = ("open_high_priority_ticket", "defective_return", "unsubscribed")


def flag(rule: str, signal_id: str, reason: str = "why") -> Flag:
    return Flag(
        rule=rule,
        department="support",
        channels=("email",),
        purposes=("marketing",),
        reason=reason,
        source="zendesk",
        source_event_id=signal_id,
        signal_id=signal_id,
        since=T0,
        until=T0 + timedelta(days=2),
    )


def test_the_first_flag_is_raised() -> None:
    urgent = flag("open_high_priority_ticket", "s1")
    after, change = flag_change("cus_1", 3, T0, None, [urgent])
    assert after == {"open_high_priority_ticket:s1": urgent}
    assert change is not None
    assert (change.raised, change.cleared, change.state_version) == (
        ["open_high_priority_ticket"],
        [],
        3,
    )
    assert change.flags == [urgent] and change.customer_id == "cus_1"


def test_the_same_flags_again_change_nothing() -> None:
    flags = [flag("open_high_priority_ticket", "s1"), flag("unsubscribed", "s2")]
    after, change = flag_change("cus_1", 4, T0, keyed(flags), list(reversed(flags)))
    assert change is None and after == keyed(flags)


def test_the_same_rule_from_another_event_is_another_flag() -> None:
    before = keyed([flag("open_high_priority_ticket", "s1")])
    _, change = flag_change("cus_1", 5, T0, before, [flag("open_high_priority_ticket", "s9")])
    assert change is not None
    assert change.raised == ["open_high_priority_ticket"]
    assert change.cleared == ["open_high_priority_ticket"]


def test_a_cleared_flag_leaves_an_empty_set() -> None:
    before = keyed([flag("defective_return", "s3")])
    after, change = flag_change("cus_1", 6, T0, before, [])
    assert after == {} and change is not None
    assert (change.raised, change.cleared, change.flags) == ([], ["defective_return"], [])


flag_sets = st.lists(
    st.tuples(st.sampled_from(RULES), st.sampled_from(("s1", "s2", "s3"))), unique=True
).map(lambda pairs: [flag(rule, sid) for rule, sid in pairs])


@given(flag_sets, flag_sets)
def test_a_change_names_exactly_the_rules_that_moved(was: list[Flag], now: list[Flag]) -> None:
    after, change = flag_change("cus_1", 1, T0, keyed(was), now)
    assert after == {flag_key(f): f for f in now}
    moved_in = {flag_key(f) for f in now} - {flag_key(f) for f in was}
    moved_out = {flag_key(f) for f in was} - {flag_key(f) for f in now}
    if not moved_in and not moved_out:
        assert change is None
        return
    assert change is not None
    assert set(change.raised) == {k.split(":")[0] for k in moved_in}
    assert set(change.cleared) == {k.split(":")[0] for k in moved_out}
    assert change.flags == now
