"""Order-insensitivity and merge laws of ``CustomerAggregate``, as properties."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from state_factory import T0, customer_signals

from signalfold.policy import load_policy
from signalfold.schemas.state import IdentityRef
from signalfold.streams.state import CustomerAggregate

POLICY = load_policy()
NOW = T0 + timedelta(days=2)
SIZE = 4  # small timeline so trimming is exercised


def fold(customer_id: str, signals, timeline_size: int = SIZE) -> CustomerAggregate:
    agg = CustomerAggregate(customer_id, timeline_size=timeline_size)
    for s in signals:
        agg.apply(
            s,
            [IdentityRef(type="record", value=s.record_id, source=s.source, record_id=s.record_id)],
        )
    return agg


def content(agg: CustomerAggregate) -> dict[str, Any]:
    """The published state minus what legitimately differs between equal folds."""
    return agg.to_state(POLICY, NOW).model_dump(
        exclude={"updated_at", "version", "customer_id", "aliases"}
    )


def copy(agg: CustomerAggregate) -> CustomerAggregate:
    return CustomerAggregate.from_transfer(agg.to_transfer())


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_permutation_with_duplicates_gives_same_state_and_flags(data):
    signals = data.draw(customer_signals())
    shuffled = data.draw(st.permutations(signals))
    repeated = (
        shuffled + data.draw(st.lists(st.sampled_from(signals), max_size=4)) if signals else []
    )

    a, b = fold("cus_1", signals), fold("cus_1", repeated)

    assert a.to_state(POLICY, NOW).model_dump(exclude={"updated_at"}) == b.to_state(
        POLICY, NOW
    ).model_dump(exclude={"updated_at"})
    assert a.flags(POLICY, NOW) == b.flags(POLICY, NOW)
    assert a.version == len(signals) + len(a.identities)


def subsets(pool, n: int):
    """``n`` overlapping subsets of one pool: one signal id never means two events."""
    masks = st.lists(
        st.lists(st.booleans(), min_size=len(pool), max_size=len(pool)), min_size=n, max_size=n
    )
    return masks.map(lambda ms: [[s for s, keep in zip(pool, m, strict=True) if keep] for m in ms])


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_merge_is_commutative_associative_idempotent_and_equals_union(data):
    pool = data.draw(customer_signals())
    xs, ys, zs = data.draw(subsets(pool, 3))
    a, b, c = fold("cus_a", xs), fold("cus_b", ys), fold("cus_c", zs)

    ab, ba = copy(a), copy(b)
    ab.merge(b)
    ba.merge(a)
    assert content(ab) == content(ba)
    assert {ab.customer_id, *ab.aliases} == {ba.customer_id, *ba.aliases} == {"cus_a", "cus_b"}
    assert content(ab) == content(fold("cus_x", xs + ys))
    assert ab.version == fold("cus_x", xs + ys).version + 1  # the alias

    left = copy(ab)
    left.merge(c)
    bc = copy(b)
    bc.merge(c)
    right = copy(a)
    right.merge(bc)
    assert left == right

    again = copy(ab)
    again.merge(b)
    again.merge(ab)
    again.merge(copy(again))
    assert again == ab and again.version == ab.version


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_merge_bumps_version_on_every_change(data):
    pool = data.draw(customer_signals())
    xs, ys = data.draw(subsets(pool, 2))
    a, b = fold("cus_a", xs), fold("cus_b", ys)
    before = a.version
    a.merge(b)
    assert a.version > before  # at least the alias is new
    assert a.aliases == {"cus_b"}


@settings(max_examples=100, deadline=None)
@given(customer_signals())
def test_transfer_round_trip_through_json(signals):
    agg = fold("cus_1", signals)
    agg.merge(fold("cus_2", signals[:2]))

    wire = json.loads(json.dumps(agg.to_transfer()))
    back = CustomerAggregate.from_transfer(wire)

    assert back == agg
    assert back.version == agg.version
    assert back.to_state(POLICY, NOW) == agg.to_state(POLICY, NOW)
    if signals:
        assert back.apply(signals[0]) is False
