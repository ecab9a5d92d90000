"""The state stage restarts from its RocksDB store: a killed worker replays only the
tail after its checkpoint and publishes what an uninterrupted fold publishes; a
deleted store is rebuilt from offset 0 into the same state."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from raw_events import RawFeed, marketing, support
from topic_view import TopicView

from signalfold.bootstrap import create_topics, key_log
from signalfold.local import LocalPipeline
from signalfold.policy import load_policy
from signalfold.privacy.secret import pii_hash_key
from signalfold.schemas import CustomerState
from signalfold.settings import Settings
from signalfold.streams.stages.state import StateStage
from signalfold.streams.state.store import PartitionStore
from signalfold.streams.topics import Topics

pytestmark = pytest.mark.integration

T0 = datetime(2026, 10, 1, tzinfo=UTC)
PEOPLE = 40
BATCH = 50
RESTORED = re.compile(r"partition (\d+) restored from its store at offset (\d+); replayed (\d+)")
REBUILT = re.compile(r"partition (\d+) rebuilt from (\d+) records")


def _worker(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SIGNALFOLD_KAFKA_BOOTSTRAP": str(settings.kafka_bootstrap),
        "SIGNALFOLD_TOPIC_PREFIX": settings.topic_prefix,
        "SIGNALFOLD_PARTITIONS": str(settings.partitions),
        "SIGNALFOLD_KAFKA_SESSION_TIMEOUT_MS": str(settings.kafka_session_timeout_ms),
        "SIGNALFOLD_BATCH_SIZE": str(BATCH),
        "SIGNALFOLD_DATA_DIR": str(settings.data_dir / "worker"),
        # The deployment's secret, as every process has it (its store is its own).
        "SIGNALFOLD_PII_HASH_KEY": pii_hash_key(settings).decode(),
        "SIGNALFOLD_STATE_CACHE_CUSTOMERS": "8",  # most customers are read back from disk
    }
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "signalfold.cli", "worker", "--stage", "state"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _events(start: int, stop: int) -> list[tuple[str, str, dict]]:
    """Marketing sends by email; every fifth event a support ticket (urgent ones flag)."""
    out = []
    for i in range(start, stop):
        person, at = i % PEOPLE, T0 + timedelta(minutes=i)
        email = f"person{person}@example.net"
        if i % 5 == 0:
            priority = "Urgent" if person % 3 == 0 else "Normal"
            ticket = {"id": i, "priority": priority, "status": "open"}
            event = support(
                f"s{i}", "ticket_created", {"id": 1000 + person, "email": email}, ticket, at
            )
            out.append(("support", str(person), event))
        else:
            out.append(("marketing", email, marketing(f"m{i}", "email_sent", email, at)))
    return out


def _states(view: TopicView, topic: str) -> dict[str, dict[str, Any] | None]:
    """The latest state per customer without ``updated_at`` (when it was computed)."""
    return {
        key.decode(): (orjson.loads(value) | {"updated_at": None}) if value else None
        for key, value in view.latest[topic].items()
    }


def _folded(view: TopicView, topic: str) -> int:
    return sum(
        sum(CustomerState.model_validate_json(v).counters.values())
        for v in view.latest[topic].values()
        if v is not None
    )


def _wait_for_lines(log: Path, pattern: re.Pattern[str], count: int, timeout: float = 60) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = pattern.findall(log.read_text(errors="replace")) if log.exists() else []
        if len(found) >= count:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{log.name}: {count} lines like {pattern.pattern!r} did not appear")


def _send(feed: RawFeed, events: list[tuple[str, str, dict]]) -> None:
    for source, key, event in events:
        feed.send(source, key, event)
    feed.flush()


def _stop(proc: subprocess.Popen[bytes], how: int = signal.SIGTERM) -> None:
    proc.send_signal(how)
    proc.wait(20)


def _uninterrupted(settings: Settings, view: TopicView) -> dict[str, dict[str, Any] | None]:
    """What one stage that never stopped publishes, folding every resolved record once."""
    topics = Topics(settings.topic_prefix)
    stage = StateStage(topics, load_policy(None), settings.kafka_client_config())
    records = sorted(view.records[topics.resolved], key=lambda m: (m.partition(), m.offset()))
    latest: dict[str, dict[str, Any] | None] = {}
    for out in stage.process(records):
        if out.topic == topics.customer_state and out.key is not None:
            latest[out.key.decode()] = (
                orjson.loads(out.value) | {"updated_at": None} if out.value else None
            )
    return latest


def test_a_killed_state_worker_replays_only_the_tail(settings: Settings, tmp_path: Path) -> None:
    topics = create_topics(settings)
    view = TopicView(settings, topics.customer_state, topics.resolved)
    feed, total = RawFeed(settings), 1200
    with LocalPipeline(settings, stages=("ingest", "resolve")) as pipeline:
        state = _worker(settings, tmp_path / "first.log")
        try:
            _send(feed, _events(0, total // 2))
            view.wait_for(
                lambda v: _folded(v, topics.customer_state) == total // 2, what="first half"
            )
            time.sleep(1.5)  # idle: the stage writes its stores
            _send(feed, _events(total // 2, 3 * total // 4))
            view.wait_for(
                lambda v: _folded(v, topics.customer_state) > total // 2, what="more states"
            )
            _stop(state, signal.SIGKILL)  # mid-stream: no commit, no close, no last write
            _send(feed, _events(3 * total // 4, total))
            state = _worker(settings, tmp_path / "second.log")
            view.wait_for(
                lambda v: _folded(v, topics.customer_state) == total,
                timeout=120,
                what="every signal folded exactly once",
            )
        finally:
            _stop(state)
        assert not pipeline.errors
        restored = _wait_for_lines(tmp_path / "second.log", RESTORED, settings.partitions)
        expected = _uninterrupted(settings, view)
        published = _states(view, topics.customer_state)
    view.close()
    resolved = {p: 0 for p in range(settings.partitions)}
    for m in view.records[topics.resolved]:
        resolved[m.partition()] += 1
    assert sorted(int(p) for p, _, _ in restored) == list(range(settings.partitions))
    for p, checkpoint, replayed in restored:
        # The store held the first half at least; only what followed was replayed.
        assert int(checkpoint) > 0 and int(replayed) < resolved[int(p)] // 2, (p, checkpoint)
    assert published == expected
    flagged = [c for c, s in published.items() if s and s["flags"]]
    assert flagged, "some customers hold an urgent-ticket flag: suppression answers compared"


def _contents(data_dir: Path, settings: Settings) -> dict[str, Any]:
    """Every customer, forward and flag the worker's stores hold, and their checkpoints."""
    out: dict[str, Any] = {}
    keys = key_log(settings)  # the stores seal each customer with its key
    for path in sorted((data_dir / "state").iterdir()):
        store = PartitionStore.open(path, sealer=keys)
        out[path.name] = {
            "checkpoint": store.checkpoint,
            "forwards": store.forwards,
            "customers": {c: store.get(c).to_transfer() for c in store.customer_ids()},
            "flags": {c: store.flags(c) for c in store.customer_ids()},
        }
        store.close()
    return out


def test_a_deleted_store_is_rebuilt_from_offset_zero(settings: Settings, tmp_path: Path) -> None:
    topics = create_topics(settings)
    view = TopicView(settings, topics.customer_state)
    feed, total = RawFeed(settings), 600
    with LocalPipeline(settings, stages=("ingest", "resolve")) as pipeline:
        state = _worker(settings, tmp_path / "first.log")
        try:
            _send(feed, _events(0, total))
            view.wait_for(
                lambda v: _folded(v, topics.customer_state) == total, timeout=120, what="states"
            )
            time.sleep(1.5)  # an idle tick writes the last batch's checkpoint
        finally:
            _stop(state)
        before = _contents(settings.data_dir / "worker", settings)
        shutil.rmtree(settings.data_dir / "worker" / "state")
        state = _worker(settings, tmp_path / "second.log")
        try:
            rebuilt = _wait_for_lines(tmp_path / "second.log", REBUILT, settings.partitions)
        finally:
            _stop(state)
        assert not pipeline.errors
    view.close()
    assert sum(int(n) for _, n in rebuilt) >= total, "every record replayed from offset 0"
    after = _contents(settings.data_dir / "worker", settings)
    assert after == before
    assert any(c["customers"] for c in after.values())
