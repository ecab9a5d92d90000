"""A stage process killed mid-stream (SIGKILL) and restarted loses nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from raw_events import RawFeed, marketing, support
from topic_view import TopicView

from signalfold.bootstrap import create_topics
from signalfold.local import LocalPipeline
from signalfold.schemas import CustomerState
from signalfold.settings import Settings

pytestmark = pytest.mark.integration

T0 = datetime(2026, 10, 1, tzinfo=UTC)
PEOPLE = 40


def _worker(stage: str, settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SIGNALFOLD_KAFKA_BOOTSTRAP": str(settings.kafka_bootstrap),
        "SIGNALFOLD_TOPIC_PREFIX": settings.topic_prefix,
        "SIGNALFOLD_PARTITIONS": str(settings.partitions),
        "SIGNALFOLD_KAFKA_SESSION_TIMEOUT_MS": str(settings.kafka_session_timeout_ms),
        "SIGNALFOLD_BATCH_SIZE": "50",
        "SIGNALFOLD_DATA_DIR": str(settings.data_dir),  # its secret: pii-hash.key
    }
    with open(log, "ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "signalfold.cli", "worker", "--stage", stage],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _events(start: int, stop: int) -> list[tuple[str, str, dict]]:
    """Each person: marketing sends by email, support tickets by the same email."""
    out = []
    for i in range(start, stop):
        person = i % PEOPLE
        email = f"person{person}@example.net"
        at = T0 + timedelta(minutes=i)
        if i % 5 == 0:
            out.append(
                (
                    "support",
                    str(person),
                    support(
                        f"s{i}",
                        "ticket_created",
                        {"id": 1000 + person, "email": email},
                        {"id": i, "priority": "Normal", "status": "open"},
                        at,
                    ),
                )
            )
        else:
            out.append(("marketing", email, marketing(f"m{i}", "email_sent", email, at)))
    return out


def _totals(view: TopicView, topic: str) -> dict[str, int]:
    totals = {}
    for key, value in view.latest[topic].items():
        if value is not None:
            state = CustomerState.model_validate_json(value)
            totals[key.decode()] = sum(state.counters.values())
    return totals


def test_killed_workers_resume_with_the_same_state(settings: Settings, tmp_path: Path) -> None:
    topics = create_topics(settings)
    view = TopicView(settings, topics.customer_state, topics.identity_index)
    feed = RawFeed(settings)
    total = 1200
    first, second = _events(0, total // 2), _events(total // 2, total)
    with LocalPipeline(settings, stages=("ingest",)) as pipeline:
        resolve = _worker("resolve", settings, tmp_path / "resolve.log")
        state = _worker("state", settings, tmp_path / "state.log")
        try:
            for source, key, event in first:
                feed.send(source, key, event)
            feed.flush()
            view.wait_for(
                lambda v: sum(_totals(v, topics.customer_state).values()) > total // 8,
                what="the first states",
            )
            # Kill both stateful stages mid-stream, with no chance to commit or close.
            for proc in (resolve, state):
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
            for source, key, event in second:
                feed.send(source, key, event)
            feed.flush()
            resolve = _worker("resolve", settings, tmp_path / "resolve.log")
            state = _worker("state", settings, tmp_path / "state.log")
            totals = view.wait_for(
                lambda v: (
                    (t := _totals(v, topics.customer_state)) and sum(t.values()) == total and t
                ),
                timeout=120,
                what="every signal folded exactly once",
            )
        finally:
            for proc in (resolve, state):
                proc.terminate()
                proc.wait(15)
        assert not pipeline.errors
    expected = Counter(i % PEOPLE for i in range(total))
    assert sorted(totals.values()) == sorted(expected.values())
    assert len(totals) == PEOPLE, "one customer per person: ids did not change across restarts"
    index = {
        k.decode(): json.loads(v)["customer_id"]
        for k, v in view.latest[topics.identity_index].items()
        if v is not None
    }
    for person in range(0, PEOPLE, 5):  # the people who also have support tickets
        email_id = index[f"email:person{person}@example.net"]
        assert index[f"support_user_id:{1000 + person}"] == email_id
        assert email_id in totals
    view.close()
