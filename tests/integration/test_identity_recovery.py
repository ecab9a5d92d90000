"""The resolve worker, killed mid-stream after merges and an operator's split, rebuilds
from Kafka alone and assigns the same ids; the split customer's state follows its signals."""

from __future__ import annotations

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
from signalfold.identity import customer_id_for
from signalfold.local import LocalPipeline
from signalfold.privacy.secret import pii_hash_key
from signalfold.schemas import CustomerState, IdentityChange
from signalfold.settings import Settings

pytestmark = pytest.mark.integration

T0 = datetime(2026, 10, 1, tzinfo=UTC)
PEOPLE = 12
TOTAL = 360


def _env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "SIGNALFOLD_KAFKA_BOOTSTRAP": str(settings.kafka_bootstrap),
        "SIGNALFOLD_TOPIC_PREFIX": settings.topic_prefix,
        "SIGNALFOLD_PARTITIONS": str(settings.partitions),
        "SIGNALFOLD_KAFKA_SESSION_TIMEOUT_MS": str(settings.kafka_session_timeout_ms),
        "SIGNALFOLD_BATCH_SIZE": "20",
        "SIGNALFOLD_DATA_DIR": str(settings.data_dir),  # its secret: pii-hash.key
    }


def _resolve_worker(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "signalfold.cli", "worker", "--stage", "resolve"],
            env=_env(settings),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "signalfold.cli", "identity", *args],
        env=_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _event(i: int) -> tuple[str, str, dict]:
    """Person ``i % PEOPLE``: every fifth event a support ticket, the rest marketing mail."""
    person, at = i % PEOPLE, T0 + timedelta(minutes=i)
    email = f"person{person}@example.net"
    if (i // PEOPLE) % 5 == 0:
        requester = {"id": 1000 + person, "email": email}
        ticket = {"id": i, "priority": "High", "status": "open"}
        return "support", str(person), support(f"s{i}", "ticket_created", requester, ticket, at)
    return "marketing", email, marketing(f"m{i}", "email_sent", email, at)


def _states(view: TopicView, topic: str) -> dict[str, CustomerState]:
    return {
        k.decode(): CustomerState.model_validate_json(v)
        for k, v in view.latest[topic].items()
        if v is not None
    }


def _total(view: TopicView, topic: str) -> int:
    return sum(sum(s.counters.values()) for s in _states(view, topic).values())


def test_resolve_worker_killed_after_merges_and_a_split_keeps_its_ids(
    settings: Settings, tmp_path: Path
) -> None:
    topics = create_topics(settings)
    view = TopicView(settings, topics.customer_state, topics.identity_changes)
    feed = RawFeed(settings)
    events = [_event(i) for i in range(TOTAL)]
    log = tmp_path / "resolve.log"
    secret = pii_hash_key(settings)  # the deployment's secret: customer ids are keyed with it
    customer = customer_id_for("support:1000", secret)  # person 0's ticket comes first
    with LocalPipeline(settings, stages=("ingest", "state")) as pipeline:
        resolve = _resolve_worker(settings, log)
        try:
            for source, key, event in events[:PEOPLE]:  # everyone's first ticket, first
                feed.send(source, key, event)
            feed.flush()
            view.wait_for(lambda v: _total(v, topics.customer_state) == PEOPLE, 90, "tickets")
            for source, key, event in events[PEOPLE : TOTAL // 2]:
                feed.send(source, key, event)
            feed.flush()
            view.wait_for(lambda v: _total(v, topics.customer_state) == TOTAL // 2, 90, "part 1")
            split = _cli(settings, "split", customer, "--records", "support:1000", "--wait", "60")
            assert split.returncode == 0, split.stdout + split.stderr
            # support:1000 founded the customer, so it keeps the id; the rest moves out.
            moved = next(line for line in split.stdout.splitlines() if line.startswith("split "))
            assert moved.startswith("split marketing:person0@example.net out of "), moved
            new_id = moved.split(" into ")[-1].strip()
            assert new_id == customer_id_for("marketing:person0@example.net", secret) != customer
            view.wait_for(lambda v: new_id in _states(v, topics.customer_state), 60, "split state")
            for source, key, event in events[TOTAL // 2 :]:
                feed.send(source, key, event)
            feed.flush()
            view.wait_for(
                lambda v: _total(v, topics.customer_state) > TOTAL // 2 + 20, 60, "part 2 begun"
            )
            resolve.send_signal(signal.SIGKILL)  # mid-stream: no commit, no goodbye
            resolve.wait(10)
            resolve = _resolve_worker(settings, log)
            states = view.wait_for(
                lambda v: (
                    _total(v, topics.customer_state) == TOTAL and _states(v, topics.customer_state)
                ),
                120,
                "every signal folded once",
            )
            why = _cli(settings, "why", "marketing:person1@example.net", "support:1001")
            apart = _cli(settings, "why", "marketing:person0@example.net", "support:1000")
        finally:
            resolve.terminate()
            resolve.wait(15)
        assert not pipeline.errors
    changes = [
        IdentityChange.model_validate_json(m.value())
        for m in view.records[topics.identity_changes]
        if m.value()
    ]
    view.close()
    created = Counter(c.record_id for c in changes if c.kind == "created")
    assert max(created.values()) == 1, "a record got a second id after the restart"
    assert [c.customer_id for c in changes if c.kind == "split"] == [new_id]
    per_person = Counter((e[0], i % PEOPLE) for i, e in enumerate(events))
    expected = {customer_id_for(f"support:{1000 + p}", secret) for p in range(PEOPLE)} | {new_id}
    assert set(states) == expected
    assert sum(states[customer].counters.values()) == per_person[("support", 0)]
    assert sum(states[new_id].counters.values()) == per_person[("marketing", 0)]
    assert states[customer].tickets and not states[new_id].tickets  # the tickets followed
    for person in range(1, PEOPLE):
        state = states[customer_id_for(f"support:{1000 + person}", secret)]
        assert (
            sum(state.counters.values())
            == per_person[("support", person)] + per_person[("marketing", person)]
        )
    assert why.returncode == 0 and "exact:email" in why.stdout, why.stdout + why.stderr
    assert apart.returncode == 1 and "are not one customer" in apart.stdout
