"""A batch replayed after a crash re-sends the merge controls and index entries.

The crash lands after ``identity.changes`` was acknowledged but before the
``merge`` record on ``signals.resolved`` was: the new owner rebuilds a graph
that already holds the merge, so resolving the batch again finds no change —
and must still send what the state stage and the index never received.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from signalfold.identity.graph import IdentityGraph
from signalfold.schemas import Identifier, IdentityChange, Resolved, Signal
from signalfold.schemas.signal import make_signal_id
from signalfold.streams.stages.resolve import ResolveStage
from signalfold.streams.topics import Topics

T0 = datetime(2026, 11, 1, tzinfo=UTC)
TOPICS = Topics()


class Record:
    def __init__(self, value: bytes) -> None:
        self._value = value

    def value(self) -> bytes:
        return self._value

    def topic(self) -> str:
        return TOPICS.canonical


def _signal(source: str, key: str, event: str, ids: list[tuple[str, str]], day: int) -> Signal:
    return Signal(
        signal_id=make_signal_id(source, event),
        source=source,
        source_event_id=event,
        record_key=key,
        type="marketing.email.opened",
        occurred_at=T0 + timedelta(days=day),
        received_at=T0 + timedelta(days=day),
        identifiers=tuple(Identifier(type=t, value=v) for t, v in ids),
        payload={"campaign_id": "c1"},
    )


def _stage(graph: IdentityGraph) -> ResolveStage:
    return ResolveStage(lambda: graph, TOPICS, default_region="GB", rebuild=lambda g: 0)


def test_a_replayed_batch_resends_merge_controls_and_index_entries() -> None:
    first = [
        _signal("marketing", "a@example.com", "e1", [("email", "a@example.com")], 0),
        _signal("support", "9", "e2", [("phone", "+447911123456")], 1),
    ]
    bridge = _signal(
        "sales", "003", "e3", [("email", "a@example.com"), ("phone", "+447911123456")], 2
    )
    live = _stage(IdentityGraph())
    live.process([Record(s.model_dump_json().encode()) for s in first])
    out = live.process([Record(bridge.model_dump_json().encode())])
    merges = [
        Resolved.model_validate_json(o.value)
        for o in out
        if o.topic == TOPICS.resolved and o.value is not None
    ]
    expected = [(m.customer_id, m.into) for m in merges if m.kind == "merge"]
    assert len(expected) == 1
    # A new owner: the graph comes back from identity.changes alone.
    rebuilt = IdentityGraph()
    for change in live.graph.explain(live.graph.lookup("email:a@example.com") or ""):
        rebuilt.apply(IdentityChange.model_validate_json(change.model_dump_json()))
    again = _stage(rebuilt).process([Record(bridge.model_dump_json().encode())])
    assert not [o for o in again if o.topic == TOPICS.identity_changes], "no new changes"
    resent = [
        Resolved.model_validate_json(o.value)
        for o in again
        if o.topic == TOPICS.resolved and o.value is not None
    ]
    assert [(r.customer_id, r.into) for r in resent if r.kind == "merge"] == expected
    index = {o.key for o in again if o.topic == TOPICS.identity_index}
    assert {b"email:a@example.com", b"phone:+447911123456"} <= index
    assert f"customer:{expected[0][0]}".encode() in index
