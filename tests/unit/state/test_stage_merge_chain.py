"""The state stage's merge protocol across partitions, driven record by record.

A resolver can absorb C into B and then B into A before the state stage has
moved C's aggregate: the transfer for B must follow B's forward to A, or C's
flags would come back under a dead id while the survivor answers allow.
"""

from __future__ import annotations

import json

from state_factory import signal

from signalfold.policy import load_policy
from signalfold.schemas import Resolved
from signalfold.streams.stages.state import StateStage
from signalfold.streams.topics import Topics

PARTITION = {"cus_A": 0, "cus_B": 1, "cus_C": 2}


class Record:
    """What the stage reads of a consumed message (a value on a partition)."""

    def __init__(self, partition: int, value: bytes) -> None:
        self._partition, self._value = partition, value

    def partition(self) -> int:
        return self._partition

    def value(self) -> bytes:
        return self._value

    def topic(self) -> str:
        return Topics().resolved

    def key(self) -> None:
        return None

    def headers(self) -> None:
        return None

    def offset(self) -> int:
        return 0

    def error(self) -> None:
        return None


def _record(resolved: Resolved) -> Record:
    return Record(PARTITION[resolved.customer_id], resolved.model_dump_json().encode())


def test_a_merge_chain_moves_the_flags_to_the_last_survivor() -> None:
    topics = Topics()
    stage = StateStage(topics, load_policy(None), {"bootstrap.servers": "unused"})
    ticket = signal("support.ticket.opened", {"ticket_id": "T-1", "priority": "urgent"})
    sent = signal("marketing.email.sent", {"campaign_id": "c"}, event_id="a1", source="m")
    stage.process(
        [
            _record(Resolved(kind="signal", customer_id="cus_A", signal=sent)),
            _record(Resolved(kind="signal", customer_id="cus_C", signal=ticket)),
        ]
    )
    pending = [
        _record(Resolved(kind="merge", customer_id="cus_C", into="cus_B")),
        _record(Resolved(kind="merge", customer_id="cus_B", into="cus_A")),
    ]
    published: dict[str, list[str] | None] = {}
    for _ in range(10):  # deliver what the stage emits until nothing moves
        out = stage.process(pending)
        pending = [
            Record(PARTITION[o.key.decode()], o.value)
            for o in out
            if o.topic == topics.resolved and o.key is not None and o.value is not None
        ]
        for o in out:
            if o.topic == topics.customer_state and o.key is not None:
                flags = json.loads(o.value)["flags"] if o.value else None
                published[o.key.decode()] = [f["rule"] for f in flags] if flags else flags
        if not pending:
            break
    assert "open_high_priority_ticket" in (published.get("cus_A") or [])
    assert published.get("cus_B") is None, "the absorbed id is tombstoned, not revived"
    assert "cus_B" not in stage._parts[1].aggregates
