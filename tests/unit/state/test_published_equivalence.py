"""The state stage's fast path publishes what the model path published, byte for byte.

Issue 13 moved the stage off pydantic on its hot path: records are read with
``orjson`` into ``SignalFacts``, the state is built as a document and written
with ``orjson``, flags are evaluated on a partial view. The reference is the
path as it was (``published_reference``): ``Resolved`` parsed, the signal
folded through ``CustomerAggregate.apply``, every part built as a model, the
flags evaluated on the whole state, ``model_dump_json``.
"""

from __future__ import annotations

import json
from datetime import UTC, date, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from published_reference import reference_json
from state_factory import T0, customer_signals

from signalfold.policy import load_policy
from signalfold.schemas import Resolved
from signalfold.schemas.signal import Signal
from signalfold.schemas.state import IdentityRef
from signalfold.streams.stages.state import StateStage
from signalfold.streams.state import CustomerAggregate
from signalfold.streams.state.facts import facts_from_json, facts_of
from signalfold.streams.topics import Topics

POLICY = load_policy(None)
NOW = T0 + timedelta(days=3, microseconds=250)  # flags of the generated signals still hold
TOPICS = Topics()


class Record:
    """What the stage reads of a consumed message."""

    def __init__(self, value: bytes) -> None:
        self._value = value

    def partition(self) -> int:
        return 0

    def value(self) -> bytes:
        return self._value

    def topic(self) -> str:
        return TOPICS.resolved


_ZONES = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5))])
_IDENTITIES = st.lists(
    st.builds(
        IdentityRef,
        type=st.sampled_from(["email", "phone"]),
        value=st.sampled_from(["a@x.example", "+33600000000", "b@y.example"]),
        source=st.sampled_from(["zendesk", "shopify"]),
        record_id=st.sampled_from(["zendesk:1", "shopify:2"]),
    ),
    max_size=3,
)


@st.composite
def varied(draw: st.DrawFn) -> list[Signal]:
    """Generated signals, with the shapes JSON must carry the same way both paths read them:
    other time zones, microseconds, a birth date, amounts, long and non-ASCII text."""
    out = []
    for s in draw(customer_signals(max_size=10)):
        zone = draw(_ZONES)
        at = (s.occurred_at + timedelta(microseconds=draw(st.integers(0, 3)) * 1001)).astimezone(
            zone
        )
        payload: dict[str, Any] = dict(s.payload)
        if s.type == "sales.order.placed":
            payload |= {"amount": draw(st.sampled_from(["12.50", "3", "0.10"])), "currency": "EUR"}
        if s.type == "support.ticket.opened":
            payload["subject"] = draw(st.sampled_from(["Écran cassé", "x" * 1_100, "ok"]))
        traits = s.traits.model_dump(exclude_none=True)
        if draw(st.booleans()):
            traits |= {"birth_date": date(1990, 2, 3), "company": "Zoë & Co"}
        fields = s.model_dump() | {"occurred_at": at, "payload": payload, "traits": traits}
        out.append(Signal.model_validate(fields))
    return out


def _resolved(cid: str, signal: Signal, identities: list[IdentityRef]) -> bytes:
    """The record as the resolve stage publishes it (the model's JSON)."""
    record = Resolved(kind="signal", customer_id=cid, signal=signal, identities=tuple(identities))
    return record.model_dump_json().encode()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(signals=varied(), identities=_IDENTITIES, cut=st.integers(0, 10), data=st.data())
def test_published_state_bytes_equal_the_model_path(signals, identities, cut, data) -> None:
    stage = StateStage(TOPICS, POLICY, {"bootstrap.servers": "unused"}, clock=lambda: NOW)
    reference = CustomerAggregate("cus_1", timeline_size=50)
    records = []
    for s in signals:
        mine = data.draw(st.lists(st.sampled_from(identities), max_size=2)) if identities else []
        records.append(_resolved("cus_1", s, mine))
    for batch in (records[:cut], records[cut:]):
        if not batch:
            continue
        published = [
            o.value
            for o in stage.process([Record(v) for v in batch])
            if o.topic == TOPICS.customer_state
        ]
        for value in batch:
            old = Resolved.from_internal_json(value)
            assert old.signal is not None
            reference.apply(old.signal, old.identities)
        assert published == [reference_json(reference, POLICY, NOW)]


@given(signals=varied())
def test_facts_from_the_json_equal_facts_from_the_model(signals) -> None:
    for s in signals:
        assert facts_from_json(json.loads(s.model_dump_json())) == facts_of(s)
