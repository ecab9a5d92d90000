"""A state stage with a store restarts without replaying history, on the real broker.

``SIGNALFOLD_BENCH_STATE_SIGNALS`` (default 5,000) sets the history; the test
prints the restart times and the bytes per customer, which docs/benchmarks.md
("State stage on RocksDB") reports at 100,000::

    SIGNALFOLD_BENCH_STATE_SIGNALS=100000 .venv/bin/python -m pytest -s -q \\
        tests/integration/test_state_restart_scale.py
"""

from __future__ import annotations

import gc
import os
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka import TopicPartition

from signalfold.bootstrap import create_topics
from signalfold.policy import load_policy
from signalfold.schemas import Resolved
from signalfold.schemas.signal import Signal, make_signal_id
from signalfold.schemas.state import IdentityRef
from signalfold.settings import Settings
from signalfold.streams.kafka import consumer, producer
from signalfold.streams.runner import GC_THRESHOLDS
from signalfold.streams.stages.state import StateStage
from signalfold.streams.state.store import PartitionStore
from signalfold.streams.topics import Topics

pytestmark = pytest.mark.integration

SIGNALS = int(os.environ.get("SIGNALFOLD_BENCH_STATE_SIGNALS", "5000"))
PER_CUSTOMER = 5
T0 = datetime(2026, 10, 1, tzinfo=UTC)


def _record(i: int) -> tuple[bytes, bytes]:
    """Signal ``i``: a customer's marketing sends, now and then a ticket (urgent: a flag)."""
    person = i % (SIGNALS // PER_CUSTOMER)
    cid, email = f"cus_{person:07d}", f"person{person}@example.net"
    ticket = i % 7 == 0
    kind = "support.ticket.opened" if ticket else "marketing.email.sent"
    payload = {"ticket_id": f"T-{i}", "priority": "urgent"} if ticket else {"campaign_id": "c1"}
    at = T0 + timedelta(seconds=i)
    signal = Signal(
        signal_id=make_signal_id("bench", f"e{i}"),
        source="bench",
        source_event_id=f"e{i}",
        record_key=f"rec-{person}",
        type=kind,
        occurred_at=at,
        received_at=at,
        traits={"full_name": f"Person {person}"},
        payload=payload,
    )
    identity = IdentityRef(type="email", value=email, source="bench", record_id=f"bench:{person}")
    resolved = Resolved(kind="signal", customer_id=cid, signal=signal, identities=(identity,))
    return cid.encode(), resolved.model_dump_json().encode()


def _produce(client: dict[str, str | int], topic: str, start: int, stop: int) -> None:
    prod = producer(client, **{"linger.ms": 20})
    for i in range(start, stop):
        key, value = _record(i)
        while True:
            try:
                prod.produce(topic, key=key, value=value, partition=0)
                break
            except BufferError:
                prod.poll(0.05)
    assert prod.flush(60) == 0


def _restart(settings: Settings, group: str, data_dir: Path) -> tuple[StateStage, float]:
    """A new stage (as in a new process) assigned partition 0; the time its rebuild took."""
    topics = Topics(settings.topic_prefix)
    stage = StateStage(topics, load_policy(None), settings.kafka_client_config(), data_dir=data_dir)
    reader = consumer(settings.kafka_client_config(), group)
    try:
        began = time.perf_counter()
        stage.on_assign(reader, [TopicPartition(topics.resolved, 0)])
        took = time.perf_counter() - began
    finally:
        reader.close()
    stage.on_revoke([TopicPartition(topics.resolved, 0)])
    return stage, took


def _commit(settings: Settings, group: str, offset: int) -> None:
    topic = Topics(settings.topic_prefix).resolved
    committer = consumer(settings.kafka_client_config(), group)
    try:
        committer.commit(offsets=[TopicPartition(topic, 0, offset)], asynchronous=False)
    finally:
        committer.close()


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def test_a_restart_with_a_store_replays_no_history(settings: Settings, tmp_path: Path) -> None:
    settings = settings.model_copy(update={"partitions": 1})
    before = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)  # as a worker runs (``StageRunner.run``)
    try:
        _measure(settings, tmp_path)
    finally:
        gc.set_threshold(*before)


def _measure(settings: Settings, tmp_path: Path) -> None:
    topics = create_topics(settings)
    client, group = settings.kafka_client_config(), f"{settings.topic_prefix}bench-state"
    tail = max(SIGNALS // 100, 10)
    _produce(client, topics.resolved, 0, SIGNALS)
    _commit(settings, group, SIGNALS)
    data_dir = tmp_path / "data"

    full, t_full = _restart(settings, group, data_dir)
    assert full.restored[0] == ("replay", SIGNALS)
    again, t_store = _restart(settings, group, data_dir)
    assert again.restored[0] == ("store", 0), "nothing after the checkpoint: nothing replayed"
    _produce(client, topics.resolved, SIGNALS, SIGNALS + tail)
    _commit(settings, group, SIGNALS + tail)
    tailed, t_tail = _restart(settings, group, data_dir)
    assert tailed.restored[0] == ("store", tail)

    store_dir = data_dir / "state" / f"{topics.resolved}-0"
    store = PartitionStore.open(store_dir, cache_customers=1_000)
    customers = store.customer_ids()
    assert len(customers) == SIGNALS // PER_CUSTOMER
    stored = [len(store._kv.get(b"a:" + c.encode()) or b"") for c in customers[:1000]]
    gc.collect()
    tracemalloc.start()
    held = [store.get(c) for c in customers[:1000]]
    in_memory, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    store.close()
    assert all(held)
    n = len(customers)
    print(
        f"\nstate restart, {SIGNALS} signals of history, {n} customers:"
        f"\n  full replay (no store)        {t_full:.2f} s ({t_full / SIGNALS * 1e6:.0f} µs/signal)"
        f"\n  from the store, tail of 0     {t_store:.3f} s"
        f"\n  from the store, tail of {tail:<5} {t_tail:.3f} s"
        f"\n  on disk {_size(store_dir) / n:.0f} B/customer (directory), value "
        f"{sum(stored) / len(stored):.0f} B; in the cache {in_memory / len(held):.0f} B/customer"
    )
