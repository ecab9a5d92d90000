"""Two resolve workers: the owner is killed (SIGKILL) mid-stream and the hot standby,
holding the lease on ``identity.lease`` next, takes over with the same ids.

Right after the kill the test moves the owner's committed offsets back, as if it
had died between publishing its last batches and committing them, so the
standby resolves those signals a second time.

The reference is one uninterrupted run of the same events under another prefix:
every record ends in the customer it gives. Nothing is lost (every signal
reaches ``signals.resolved``, every one folds into ``customer.state`` exactly
once) and nothing is doubled (no identity change twice, no record created
twice; the index and the resolved signals agree with the graph rebuilt from
``identity.changes``).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka import TopicPartition
from raw_events import RawFeed, marketing, sales, support
from topic_view import TopicView

from signalfold.bootstrap import create_topics
from signalfold.identity.graph import IdentityGraph
from signalfold.local import LocalPipeline
from signalfold.schemas import CustomerState, IdentityChange, IndexEntry, Resolved
from signalfold.settings import Settings
from signalfold.streams.kafka import consumer
from signalfold.streams.lease import Lease

pytestmark = pytest.mark.integration

T0 = datetime(2026, 10, 1, tzinfo=UTC)
GIVEN = "Alice Bruno Chloe Dmitri Elena Farid Greta Hugo Ines Jonas Kira Liam Mona Nils Olga Pavel"
FAMILY = "Smith Okafor Tanaka Novak Garcia Haddad Berg Laurent Silva Meyer Ivanova Walsh Rossi"
PEOPLE = 16
ROUNDS = 40
TOTAL = PEOPLE * ROUNDS


def _person(p: int) -> tuple[str, str, str, str]:
    given, family = GIVEN.split()[p], FAMILY.split()[p % 13]
    return given, family, f"{given}.{family}{p}@example.net".lower(), f"+44 7911 1234{p:02d}"


def _bridge(p: int) -> int:
    """The round of person ``p``'s support ticket, spread over the run so that some
    customers merge before the owner dies and some after."""
    return 2 + p * (ROUNDS - 3) // PEOPLE


def _event(i: int) -> tuple[str, str, dict]:
    """Round ``i // PEOPLE`` of person ``i % PEOPLE``.

    A marketing record (email, names) and a sales record (phone only) are two
    customers until the support record, with email, phone and name, merges them.
    """
    p, r = i % PEOPLE, i // PEOPLE
    given, family, email, phone = _person(p)
    at = T0 + timedelta(minutes=i)
    if r == _bridge(p):
        requester = {"id": 1000 + p, "email": email, "phone": phone, "name": f"{given} {family}"}
        ticket = {"id": i, "priority": "Normal", "status": "open"}
        return "support", str(1000 + p), support(f"s{i}", "ticket_created", requester, ticket, at)
    if r % 2 == 1:
        contact = {"id": f"003P{p:03d}", "phone": phone}
        return (
            "sales",
            contact["id"],
            sales(f"c{i}", "lead", "created", contact, at, lead={"id": i}),
        )
    names = {"first_name": given, "last_name": family}
    return "marketing", email, marketing(f"m{i}", "email_sent", email, at, contact=names)


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
    with open(log, "ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "signalfold.cli", "worker", "--stage", "resolve"],
            env=_env(settings),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _trickle(feed: RawFeed, events: list[tuple[str, str, dict]]) -> None:
    """Send ``events`` about 200 a second, as a live source would."""
    for n, (source, key, event) in enumerate(events, 1):
        feed.send(source, key, event)
        if n % 10 == 0:
            feed.flush()
            time.sleep(0.05)
    feed.flush()


def _rewind(settings: Settings, topic: str, group: str, by: int) -> None:
    """Move ``group``'s committed offsets on ``topic`` back by ``by`` records."""
    client = consumer(settings.kafka_client_config(), group)
    meta = client.list_topics(topic, timeout=10).topics[topic]
    committed = client.committed([TopicPartition(topic, p) for p in meta.partitions], timeout=10)
    back = [TopicPartition(topic, c.partition, max(0, c.offset - by)) for c in committed]
    client.commit(
        offsets=[tp for tp, c in zip(back, committed, strict=True) if c.offset > 0],
        asynchronous=False,
    )
    client.close()


def _wait_log(path: Path, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in path.read_text(errors="replace"):
            return
        time.sleep(0.1)
    raise AssertionError(f"{path.name} did not say {text!r} within {timeout:.0f}s")


def _resolved(view: TopicView, topic: str) -> list[tuple[int, Resolved]]:
    """(producer timestamp in ms, record) of every signal resolve put on ``signals.resolved``
    (the state stage writes ``transfer`` records there too)."""
    found = [
        (m.timestamp()[1], Resolved.from_internal_json(m.value())) for m in view.records[topic]
    ]
    return [(ts, r) for ts, r in found if r.kind == "signal"]


def _signal_ids(view: TopicView, topic: str) -> set[str]:
    return {r.signal.signal_id for _, r in _resolved(view, topic) if r.signal}


def _folded(view: TopicView, topic: str) -> int:
    states = [CustomerState.model_validate_json(v) for v in view.latest[topic].values() if v]
    return sum(sum(s.counters.values()) for s in states)


def _no_dead_letters(view: TopicView, topic: str) -> bool:
    """True, or fail at once with the first dead letter's reason (it would never fold)."""
    for message in view.records[topic]:
        raise AssertionError(f"a stage set a record aside: {message.value()[:600]!r}")
    return True


def _changes(view: TopicView, topic: str) -> list[IdentityChange]:
    return [IdentityChange.model_validate_json(m.value()) for m in view.records[topic]]


def _graph(changes: list[IdentityChange]) -> IdentityGraph:
    graph = IdentityGraph()
    for change in changes:
        graph.apply(change)
    return graph


def _records() -> set[str]:
    return {f"{source}:{key}" for source, key, _ in map(_event, range(TOTAL))}


def _reference(settings: Settings) -> dict[str, str]:
    """Record → customer id after one uninterrupted run of the same events."""
    ref = settings.model_copy(update={"topic_prefix": f"r{uuid.uuid4().hex[:10]}."})
    topics = create_topics(ref)
    view = TopicView(ref, topics.resolved, topics.identity_changes)
    feed = RawFeed(ref)
    with LocalPipeline(ref, stages=("ingest", "resolve")) as pipeline:
        for source, key, event in map(_event, range(TOTAL)):
            feed.send(source, key, event)
        feed.flush()
        view.wait_for(
            lambda v: len(_signal_ids(v, topics.resolved)) == TOTAL, 120, "the reference run"
        )
        assert not pipeline.errors
    graph = _graph(_changes(view, topics.identity_changes))
    view.close()
    return {r: graph.customer_of_record(r) or "" for r in _records()}


def test_standby_takes_over_from_a_killed_owner_with_the_same_ids(
    settings: Settings, tmp_path: Path
) -> None:
    topics = create_topics(settings)
    view = TopicView(
        settings,
        topics.resolved,
        topics.identity_changes,
        topics.identity_index,
        topics.customer_state,
        topics.dlq,
    )
    feed = RawFeed(settings)
    events = [_event(i) for i in range(TOTAL)]
    first = TOTAL * 2 // 5
    owner_log, standby_log = tmp_path / "owner.log", tmp_path / "standby.log"
    with LocalPipeline(settings, stages=("ingest", "state")) as pipeline:
        owner = _resolve_worker(settings, owner_log)
        standby = None
        try:
            _wait_log(owner_log, "identity graph current", 60)
            standby = _resolve_worker(settings, standby_log)
            _wait_log(standby_log, "standing by", 60)
            for source, key, event in events[:first]:
                feed.send(source, key, event)
            feed.flush()
            view.wait_for(lambda v: len(_signal_ids(v, topics.resolved)) == first, 90, "part 1")
            # The rest arrives steadily, in its own thread: the owner dies while resolving it.
            steady = threading.Thread(target=_trickle, args=(feed, events[first:]), daemon=True)
            steady.start()
            view.wait_for(
                lambda v: len(_signal_ids(v, topics.resolved)) > first + 40, 60, "part 2 begun"
            )
            owner.send_signal(signal.SIGKILL)  # mid-stream: no commit, no goodbye
            killed = time.time()
            owner.wait(10)
            at_kill = len(_signal_ids(view, topics.resolved))
            # As if it died between publishing and committing its last batches: the
            # standby must resolve them again without writing anything twice.
            _rewind(settings, topics.canonical, f"{settings.topic_prefix}signalfold-resolve", 15)
            steady.join(60)
            view.wait_for(
                lambda v: any(ts > killed * 1000 for ts, _ in _resolved(v, topics.resolved)),
                60,
                "the standby's first output",
            )
            view.wait_for(
                lambda v: (
                    _no_dead_letters(v, topics.dlq)
                    and len(_signal_ids(v, topics.resolved)) == TOTAL
                    and _folded(v, topics.customer_state) == TOTAL
                ),
                120,
                "every signal resolved and folded once",
            )
        finally:
            for proc in (owner, standby):
                if proc is not None and proc.poll() is None:
                    proc.terminate()
                    proc.wait(15)
        assert not pipeline.errors
    resolved = _resolved(view, topics.resolved)
    changes = _changes(view, topics.identity_changes)
    index = [IndexEntry.model_validate_json(v) for v in view.latest[topics.identity_index].values()]
    view.close()

    took_over = min(ts for ts, _ in resolved if ts > killed * 1000) / 1000 - killed
    said = standby_log.read_text()
    caught = re.search(r"caught up (\d+) changes in ([\d.]+)s \((\d+) in all\)", said)
    assert caught, said[-2000:]
    again = sum(
        n - 1 for n in Counter(r.signal.signal_id for _, r in resolved if r.signal).values()
    )
    print(
        f"\ntakeover: first output {took_over:.2f}s after kill -9 of the owner; the standby "
        f"caught up {caught[1]} of {caught[3]} changes in {caught[2]}s and re-sent {again} "
        f"signals the owner had resolved but not committed; {at_kill}/{TOTAL} resolved at the kill"
    )
    assert int(caught[1]) < int(caught[3]), "the standby rebuilt from zero: it was not following"
    assert again > 0, "the standby resolved no signal twice: the rewound tail was not replayed"

    # Nothing doubled: each change once, each record created once.
    assert max(Counter(c.change_id for c in changes).values()) == 1
    assert max(Counter(c.record_id for c in changes if c.kind == "created").values()) == 1
    merged_after = [c for c in changes[int(caught[3]) :] if c.kind == "merged"]
    assert merged_after, "no customer merged after the takeover: the test lost its point"

    # The same ids as one uninterrupted run.
    graph = _graph(changes)
    mine = {r: graph.customer_of_record(r) or "" for r in _records()}
    assert mine == _reference(settings)
    assert len(set(mine.values())) == PEOPLE

    # What both owners published agrees with the graph the log rebuilds.
    for _, record in resolved:
        if record.signal is not None:
            customer = graph.customer_of_record(record.signal.record_id)
            assert graph.canonical_id(record.customer_id) == customer
    for entry in index:
        if not entry.key.startswith("customer:"):
            assert entry.customer_id == graph.lookup(entry.key), entry.key


def test_one_holder_at_a_time_and_a_new_contender_does_not_take_the_lease(
    settings: Settings,
) -> None:
    topics = create_topics(settings)
    group = f"{settings.topic_prefix}lease-test"

    def contender() -> Lease:
        client = settings.kafka_client_config()
        return Lease(client, topics.identity_lease, group, session_timeout_ms=6000).start()

    first = contender()
    assert first.wait(30), "nobody took a free lease"
    others = [contender(), contender()]
    time.sleep(8)  # the newcomers' joins and the rebalances they cause are over
    assert first.held and not any(o.held for o in others)
    first.close()  # leaving hands the partition over at once
    deadline = time.monotonic() + 30
    while not any(o.held for o in others) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [o.held for o in others].count(True) == 1
    for other in others:
        other.close()
