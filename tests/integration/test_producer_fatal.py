"""A fatal producer error (fencing, a broken idempotence sequence) does not stop a stage.

The fault is injected where the client reports it: the first flush after a
batch's outputs were written raises the fatal ``KafkaException`` librdkafka
raises for a fenced producer. Everything else is real: the embedded broker,
the state stage, its RocksDB store. The runner must build a new producer,
replay the uncommitted batch from the commits, and count every signal once.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from confluent_kafka import KafkaError, KafkaException
from topic_view import TopicView

from signalfold.bootstrap import build_runner, create_topics
from signalfold.schemas import Identifier, Signal
from signalfold.schemas.resolved import Resolved
from signalfold.schemas.signal import make_signal_id
from signalfold.settings import Settings
from signalfold.streams import runner as runner_module
from signalfold.streams.kafka import producer

pytestmark = pytest.mark.integration

T0 = datetime(2026, 10, 1, tzinfo=UTC)
CID = "cus_fffffffffffffffffff1"


def _resolved(n: int) -> bytes:
    signal = Signal(
        signal_id=make_signal_id("marketing", f"fenced/{n}"),
        source="marketing",
        source_event_id=f"fenced/{n}",
        record_key="fenced",
        type="marketing.email.opened",
        occurred_at=T0 + timedelta(minutes=n),
        received_at=T0 + timedelta(minutes=n, seconds=1),
        identifiers=(Identifier(type="email", value="fenced@example.net"),),
        payload={"campaign_id": "c1"},
    )
    return Resolved(kind="signal", customer_id=CID, signal=signal).model_dump_json().encode()


class FencedAfterWriting:
    """A real producer whose first flush that delivered something then reports fencing."""

    made: list[FencedAfterWriting] = []

    def __init__(self, client: dict[str, Any]) -> None:
        self._real = producer(client)
        self._wrote = False
        self.tripped = False
        FencedAfterWriting.made.append(self)

    def produce(self, *args: Any, **kwargs: Any) -> None:
        self._wrote = True
        self._real.produce(*args, **kwargs)

    def flush(self, *args: Any) -> int:
        left = self._real.flush(*args)
        if self._wrote and not any(p.tripped for p in FencedAfterWriting.made):
            self.tripped = True  # the outputs are on the broker; the batch is not committed
            raise KafkaException(KafkaError(KafkaError._FENCED, "producer fenced", fatal=True))
        return left

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def test_a_fenced_producer_is_replaced_and_the_batch_replayed_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings.model_copy(update={"partitions": 1})
    topics = create_topics(settings)
    FencedAfterWriting.made = []
    monkeypatch.setattr(runner_module, "make_producer", FencedAfterWriting)
    feed = producer(settings.kafka_client_config())
    for n in range(5):
        feed.produce(topics.resolved, key=CID.encode(), value=_resolved(n))
    assert feed.flush(10) == 0
    view = TopicView(settings, topics.customer_state, topics.dlq)

    def counted(v: TopicView) -> int | None:
        value = v.latest[topics.customer_state].get(CID.encode())
        return sum(orjson.loads(value)["counters"].values()) if value else None

    runner = build_runner("state", settings)
    thread = threading.Thread(target=runner.run, daemon=True)
    caplog.set_level(logging.WARNING, logger="signalfold.streams.runner")
    thread.start()
    try:
        view.wait_for(lambda v: counted(v) == 5, timeout=60, what="the first five signals")
        assert FencedAfterWriting.made[0].tripped, "the fault was not injected"
        assert len(FencedAfterWriting.made) == 2, "no new producer was built"
        assert any("building a new producer" in r.getMessage() for r in caplog.records)
        for n in range(5, 8):  # the stage goes on with its new producer
            feed.produce(topics.resolved, key=CID.encode(), value=_resolved(n))
        assert feed.flush(10) == 0
        view.wait_for(lambda v: counted(v) == 8, timeout=60, what="eight signals, each once")
        assert thread.is_alive()
        assert view.count(topics.dlq) == 0
    finally:
        runner.stop()
        thread.join(30)
        view.close()
