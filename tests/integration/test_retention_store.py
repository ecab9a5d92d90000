"""Retention on the real embedded broker: topic configs from the settings, the check that
holds them, and a replica's DuckDB file forgetting what is past them (an injected clock)."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka import Message, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource

from signalfold.bootstrap import build_worker, create_topics
from signalfold.schemas import Resolved, Signal
from signalfold.schemas.signal import make_signal_id
from signalfold.settings import Settings
from signalfold.sinks.decision_log import DecisionLogTable
from signalfold.sinks.materializer import Materializer
from signalfold.sinks.retention import StoreRetention
from signalfold.sinks.store import Store, open_store
from signalfold.sinks.view import ServingView
from signalfold.streams.kafka import consumer, producer
from signalfold.streams.topic_check import TopicsNotReady
from signalfold.streams.topics import Topics

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
DAY_MS = 86_400_000


def _retention_ms(settings: Settings, names: list[str]) -> dict[str, str | None]:
    admin = AdminClient(dict(settings.kafka_client_config()))
    asked = [ConfigResource(ConfigResource.Type.TOPIC, n) for n in names]
    found = {}
    for resource, future in admin.describe_configs(asked, request_timeout=10).items():
        entry = future.result().get("retention.ms")
        found[resource.name] = entry.value if entry is not None else None
    return found


def test_topics_get_their_retention_from_the_settings_and_workers_hold_them_to_it(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    made = settings.model_copy(update={"retention_history": timedelta(days=90)})
    topics = create_topics(made)
    names = [topics.canonical, topics.resolved, topics.decisions_log, topics.dlq,
             topics.warnings, topics.identity_changes]  # fmt: skip
    assert _retention_ms(made, names) == {
        topics.canonical: str(90 * DAY_MS),
        topics.resolved: str(90 * DAY_MS),
        topics.decisions_log: "-1",  # the audit trail: forever unless set
        topics.dlq: str(30 * DAY_MS),
        topics.warnings: str(30 * DAY_MS),
        topics.identity_changes: "-1",  # the identity graph's log: always forever
    }
    # A worker started with another history retention refuses, naming the setting.
    shorter = made.model_copy(update={"retention_history": timedelta(days=30)})
    with pytest.raises(TopicsNotReady) as caught:
        build_worker("state", shorter)
    text = str(caught.value)
    assert (
        f"{topics.canonical}: expected retention.ms={30 * DAY_MS} "
        f"(SIGNALFOLD_RETENTION_HISTORY=30d), found {90 * DAY_MS}"
    ) in text
    assert "`signalfold topics` sets it from the settings on existing topics" in text
    assert "recreate it" not in text  # nothing else is wrong
    # `signalfold topics` (create_topics) applies the new setting to the existing topics.
    with caplog.at_level(logging.WARNING, logger="signalfold.streams.topic_check"):
        create_topics(shorter)
    changed = [r.getMessage() for r in caplog.records if "retention changed" in r.getMessage()]
    assert len(changed) == 2 and all("SIGNALFOLD_RETENTION_HISTORY=30d" in m for m in changed)
    assert _retention_ms(made, [topics.resolved])[topics.resolved] == str(30 * DAY_MS)
    build_worker("state", shorter)  # now it agrees: no refusal


def test_the_embedded_broker_serves_records_older_than_retention(settings: Settings) -> None:
    """Tansu (memory storage) takes and reports retention.ms but deletes nothing (docs/
    privacy.md): a record stamped 40 days ago on a topic that keeps 30 stays at offset 0."""
    topics = create_topics(settings)
    old = int((datetime.now(UTC) - timedelta(days=40)).timestamp() * 1000)
    prod = producer(settings.kafka_client_config())
    prod.produce(topics.dlq, key=b"k", value=b"{}", partition=0, timestamp=old)
    assert prod.flush(10) == 0
    reader = consumer(settings.kafka_client_config(), None)
    try:
        low, _high = reader.get_watermark_offsets(TopicPartition(topics.dlq, 0), timeout=10)
    finally:
        reader.close()
    assert low == 0  # nothing was deleted: a replica replaying from 0 reads it back


def _signal(n: int, received: datetime) -> Signal:
    return Signal(
        signal_id=make_signal_id("zendesk", f"r{n}"),
        source="zendesk",
        source_event_id=f"r{n}",
        record_key=f"u{n}",
        type="support.ticket.opened",
        occurred_at=received - timedelta(minutes=1),
        received_at=received,
        identifiers=({"type": "email", "value": f"p{n}@example.com"},),
        payload={"ticket_id": f"T-{n}"},
    )


def _logged(log_id: str, at: datetime) -> bytes:
    row = {
        "log_id": log_id,
        "logged_at": at.isoformat(),
        "surface": "bot",
        "customer_id": "c1",
        "channel": "email",
        "purpose": "marketing",
        "outcome": "allow",
        "state_version": 1,
        "request": json.dumps({"channel": "email"}),
        "decision": json.dumps({"allowed": True}),
    }
    return json.dumps(row).encode()  # fmt: skip


Replica = tuple[Materializer, Store, DecisionLogTable, StoreRetention]


def _replica(settings: Settings, tmp: Path, now: list[datetime]) -> Replica:
    """A serving replica's consumer on a new DuckDB file, its clock ``now[0]``."""
    topics = Topics(settings.topic_prefix)
    store = open_store(tmp, name=f"serve-{uuid.uuid4().hex[:6]}")  # a real DuckDB file
    table = DecisionLogTable(store.connection)
    retention = StoreRetention(
        settings.kafka_client_config(), topics, store, table, clock=lambda: now[0], every=0
    )
    m = Materializer(
        settings.kafka_client_config(), topics, ServingView(), store, decision_log=table,
        retention=retention,
    )  # fmt: skip
    return m, store, table, retention


def test_a_replica_forgets_history_and_decisions_past_retention_and_keeps_the_rest(
    settings: Settings, tmp_path: Path
) -> None:
    made = settings.model_copy(
        update={"retention_history": timedelta(days=30), "retention_decisions": timedelta(days=90)}
    )
    topics = create_topics(made)
    prod = producer(made.kafka_client_config())
    ages = {0: 40, 1: 29, 2: 1}  # signal n was received this many days before NOW
    for n, days in ages.items():
        value = Resolved(
            kind="signal", customer_id="c1", signal=_signal(n, NOW - timedelta(days=days))
        )
        prod.produce(topics.resolved, key=b"c1", value=value.model_dump_json().encode())
    ends: dict[int, int] = {}

    def delivered(err: object, msg: Message) -> None:
        assert err is None
        ends[msg.partition()] = max(ends.get(msg.partition(), 0), msg.offset() + 1)

    for log_id, days in (("old", 100), ("new", 10)):
        chunk = _logged(log_id, NOW - timedelta(days=days))
        prod.produce(topics.decisions_log, key=b"c1", value=chunk, on_delivery=delivered)
    assert prod.flush(10) == 0

    now = [NOW]
    m, store, table, retention = _replica(made, tmp_path, now)
    m.start()
    try:
        assert m.wait_caught_up(60)
        assert m.wait_applied(ends, 30)  # the decision log's rows are in
        retention.swept.clear()
        assert retention.swept.wait(30)  # a sweep of the materializer thread, after them
        assert [i.signal.source_event_id for i in store.history(["c1"])] == ["r1", "r2"]
        assert [d.log_id for d in table.query()] == ["new"]
    finally:
        m.stop()
    # Two days on, the signal received 29 days before is past 30 days too.
    now[0] = NOW + timedelta(days=2)
    swept = retention.sweep()
    assert (swept.signals, swept.decisions) == (1, 0)
    assert [i.signal.source_event_id for i in store.history(["c1"])] == ["r2"]
    store.close()

    # A new replica replays from offset 0: the broker kept every record (see above), and
    # its first sweep after catching up forgets the same rows again.
    m2, store2, table2, retention2 = _replica(made, tmp_path, now)
    m2.start()
    try:
        assert m2.wait_caught_up(60) and m2.wait_applied(ends, 30)
        retention2.swept.clear()
        assert retention2.swept.wait(30)
        assert [i.signal.source_event_id for i in store2.history(["c1"])] == ["r2"]
        assert [d.log_id for d in table2.query()] == ["new"]
    finally:
        m2.stop()
        store2.close()
