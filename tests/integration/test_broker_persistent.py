"""The broker killed with -9 mid-stream, then started again on its store: nothing lost or doubled.

The embedded broker keeps its data in memory by default, so a broker that
restarts comes back empty and the stages stop loudly (``test_broker_restart``).
Given an object store, Tansu's topics, offsets and group commits outlive the
process, as a Kafka broker's log outlives it on disk. Here the store is moto's
S3 server, a process of its own standing in for S3 or MinIO. The stages and the
serving replica run on as they are: they reconnect, a producer whose
idempotence sequence the restart broke is built again, and each stage resumes
from its committed offsets.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from raw_events import RawFeed, marketing, support

from signalfold.bootstrap import create_topics, serve_handle
from signalfold.local import LocalPipeline
from signalfold.settings import Settings
from signalfold.streams.broker import EmbeddedBroker, free_port

pytestmark = pytest.mark.integration

T0 = datetime(2026, 10, 1, tzinfo=UTC)
PEOPLE = 10
TOTAL = 200


def _events(start: int, stop: int) -> list[tuple[str, str, dict]]:
    """Marketing by email; every fifth event an urgent support ticket by the same email."""
    out = []
    for i in range(start, stop):
        person = i % PEOPLE
        email = _email(person)
        at = T0 + timedelta(minutes=i)
        if i % 5 == 0:
            ticket = {"id": i, "priority": "Urgent", "status": "open"}
            requester = {"id": 1000 + person, "email": email}
            event = support(f"s{i}", "ticket_created", requester, ticket, at)
            out.append(("support", str(person), event))
        else:
            out.append(("marketing", email, marketing(f"m{i}", "email_sent", email, at)))
    return out


def _until(client: httpx.Client, status: int, timeout: float) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            answer = client.get("/v1/ready")
            if answer.status_code == status or time.monotonic() > deadline:
                return answer
        except httpx.HTTPError:
            assert time.monotonic() < deadline
        time.sleep(0.2)


def _email(person: int) -> str:
    return f"person{person}@example.net"


class Folded(dict[int, int]):
    """Signals folded per person, as the API counts them; ``customers``: each one's id."""

    customers: dict[int, str]


def _folded(client: httpx.Client) -> Folded | None:
    folded = Folded()
    folded.customers = {}
    for person in range(PEOPLE):
        state = client.get("/v1/customers/lookup", params={"email": _email(person)})
        if state.status_code != 200:
            return None
        body = state.json()
        folded[person] = sum(body["counters"].values())
        folded.customers[person] = body["customer_id"]
    return folded


def _wait(probe: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := probe()):
        assert time.monotonic() < deadline, "every signal folded exactly once, in time"
        time.sleep(0.5)
    return found


def test_the_pipeline_carries_on_after_the_broker_is_killed(
    object_store: str, tmp_path: Path
) -> None:
    port = free_port()
    settings = Settings(
        kafka_bootstrap=f"127.0.0.1:{port}",
        topic_prefix=f"t{uuid.uuid4().hex[:8]}.",
        partitions=1,
        data_dir=tmp_path,
        api_port=0,
        batch_size=50,
        batch_linger_ms=5,
        kafka_session_timeout_ms=3000,
        ready_broker_timeout=3,
        kafka_fetch_wait_ms=250,  # on an object store every fetch is a LIST
    )
    broker_log = tmp_path / "broker.log"
    broker = EmbeddedBroker(port=port, log_file=broker_log, storage=object_store).start()
    assert broker.persistent
    first, second = _events(0, TOTAL // 2), _events(TOTAL // 2, TOTAL)
    try:
        create_topics(settings)
        with (
            LocalPipeline(settings) as pipeline,
            serve_handle(settings) as handle,
            httpx.Client(base_url=handle.url, timeout=5) as client,
        ):
            assert _until(client, 200, 60).status_code == 200
            feed = RawFeed(settings)
            for source, key, event in first:
                feed.send(source, key, event)
            feed.flush()
            deadline = time.monotonic() + 180
            while handle.serving.materializer.applied < 1:  # mid-stream
                assert time.monotonic() < deadline, "nothing folded before the kill"
                time.sleep(0.05)
            broker.kill()
            away = _until(client, 503, 30)
            assert away.status_code == 503 and "broker unreachable" in away.json()["detail"]
            assert client.get("/v1/health").status_code == 200

            broker = EmbeddedBroker(port=port, log_file=broker_log, storage=object_store).start()
            feed = RawFeed(settings)  # a new producer: the old one's sends died with the broker
            for source, key, event in second:
                feed.send(source, key, event)
            feed.flush()
            folded = _wait(lambda: (f := _folded(client)) and sum(f.values()) == TOTAL and f, 240)
            assert _until(client, 200, 60).status_code == 200, "ready again"
            # Every person with an urgent open ticket is held from marketing, over the API.
            for person in range(0, PEOPLE, 5):
                q = {"email": _email(person), "channel": "email", "purpose": "marketing"}
                answer = client.get("/v1/suppression/check", params=q).json()
                assert (
                    not answer["allowed"]
                    and answer["reasons"][0]["rule"] == "open_high_priority_ticket"
                )
                assert answer["customer_id"] == folded.customers[person]
            assert not pipeline.errors, pipeline.errors
    finally:
        broker.stop()
    expected = Counter(i % PEOPLE for i in range(TOTAL))
    assert folded == {p: expected[p] for p in range(PEOPLE)}, "nothing lost, nothing doubled"
    assert len(set(folded.customers.values())) == PEOPLE, "one customer per person, as before"
