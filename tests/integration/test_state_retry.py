"""A batch the state stage fails is retried record by record without losing a merge.

The bug this guards: a batch held a merge (customer A into B) and a record the
stage could not read. The failed attempt deleted A from the store and put A's
transfer into outputs that were thrown away; the retry then found no A to move,
so B never received A's history. The runner now rewinds the stage to its
commits (store checkpoint, then the records up to the commits, replayed) before
the one-by-one retry.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from topic_view import TopicView

from signalfold.bootstrap import build_runner, create_topics
from signalfold.schemas import Identifier, Signal
from signalfold.schemas.resolved import Resolved
from signalfold.schemas.signal import make_signal_id
from signalfold.settings import Settings
from signalfold.streams.kafka import producer

pytestmark = pytest.mark.integration

T0 = datetime(2026, 10, 1, tzinfo=UTC)
A, B = "cus_aaaaaaaaaaaaaaaaaaaa", "cus_bbbbbbbbbbbbbbbbbbbb"


def _signal(cid: str, n: int) -> bytes:
    key = f"{cid}-record"
    signal = Signal(
        signal_id=make_signal_id("marketing", f"{key}/{n}"),
        source="marketing",
        source_event_id=f"{key}/{n}",
        record_key=key,
        type="marketing.email.opened",
        occurred_at=T0 + timedelta(minutes=n),
        received_at=T0 + timedelta(minutes=n, seconds=1),
        identifiers=(Identifier(type="email", value=f"{cid}@example.net"),),
        payload={"campaign_id": "c1"},
    )
    return Resolved(kind="signal", customer_id=cid, signal=signal).model_dump_json().encode()


class Running:
    def __init__(self, settings: Settings) -> None:
        self.runner = build_runner("state", settings)
        self.thread = threading.Thread(target=self.runner.run, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.runner.stop()
        self.thread.join(30)


def test_a_merge_in_a_failed_batch_still_moves_the_history(settings: Settings) -> None:
    settings = settings.model_copy(update={"partitions": 1})  # A, B and the batch together
    topics = create_topics(settings)
    prod = producer(settings.kafka_client_config())
    for n in range(3):
        prod.produce(topics.resolved, key=A.encode(), value=_signal(A, n))
    prod.produce(topics.resolved, key=B.encode(), value=_signal(B, 10))
    prod.flush(10)
    view = TopicView(settings, topics.customer_state, topics.dlq)

    def counted(cid: str) -> int | None:
        def seen(v: TopicView) -> int | None:
            value = v.latest[topics.customer_state].get(cid.encode())
            return sum(orjson.loads(value)["counters"].values()) if value else None

        return seen

    try:
        first = Running(settings)
        view.wait_for(lambda v: counted(A)(v) == 3 and counted(B)(v) == 1, what="A and B")
        first.stop()  # A's three signals are committed: the next batch begins after them
        merge = Resolved(kind="merge", customer_id=A, into=B).model_dump_json().encode()
        prod.produce(topics.resolved, key=A.encode(), value=merge)
        prod.produce(topics.resolved, key=A.encode(), value=b'{"kind": "signal"')  # unreadable
        prod.produce(topics.resolved, key=B.encode(), value=_signal(B, 11))
        prod.flush(10)
        second = Running(settings)
        try:
            view.wait_for(
                lambda v: v.count(topics.dlq) == 1, what="the unreadable record set aside"
            )
            view.wait_for(
                lambda v: counted(B)(v) == 5,
                timeout=30,
                what="B holding A's three signals and its own two",
            )
            assert view.latest[topics.customer_state].get(A.encode(), b"") is None
        finally:
            second.stop()
    finally:
        view.close()
