"""``signalfold serve`` against the real embedded broker, queried over real HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import pytest
from confluent_kafka import Producer
from sources_cli import CLI, cli_env

from signalfold.bootstrap import serve_handle
from signalfold.schemas import CustomerState, Flag, IdentityChange, IndexEntry, Resolved, Signal
from signalfold.schemas.signal import make_signal_id
from signalfold.settings import Settings
from signalfold.sinks.serve import ServeHandle
from signalfold.streams.topics import Topics

pytestmark = pytest.mark.integration

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], timeout: float = 30.0, what: str = "it") -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = probe()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"waited {timeout:.0f}s for {what}")


def ticket(event_id: str, minutes: int) -> Signal:
    return Signal(
        signal_id=make_signal_id("zendesk", event_id),
        source="zendesk",
        source_event_id=event_id,
        record_key="u1",
        type="support.ticket.opened",
        occurred_at=T0 + timedelta(minutes=minutes),
        received_at=T0 + timedelta(minutes=minutes, seconds=1),
        payload={"ticket_id": f"T-{event_id}"},
    )


def unsubscribed_flag() -> Flag:
    return Flag(
        rule="unsubscribed",
        department="marketing",
        channels=("email",),
        purposes=("marketing",),
        reason="unsubscribed from email",
        source="hubspot",
        source_event_id="h1",
        signal_id="sig_h1",
        since=T0,
    )


class Feed:
    """Produces topic values the way the pipeline does (JSON, keyed)."""

    def __init__(self, settings: Settings) -> None:
        self.topics = Topics(prefix=settings.topic_prefix)
        self._producer = Producer(settings.kafka_client_config())

    def send(self, topic: str, key: str, value: Any, headers: list[Any] | None = None) -> None:
        raw = None if value is None else value.model_dump_json().encode()
        self._producer.produce(topic, key=key.encode(), value=raw, headers=headers)

    def flush(self) -> None:
        assert self._producer.flush(10) == 0

    def close(self) -> None:
        self._producer.close()

    def history(self) -> None:
        """Two customers, c0 merged into c1, with signals under both ids."""
        t = self.topics
        self.send(t.customer_state, "c0", CustomerState(customer_id="c0", version=1))
        self.send(t.customer_state, "c0", None)  # the state stage forgets an absorbed customer
        state = CustomerState(customer_id="c1", version=3, flags=[unsubscribed_flag()])
        self.send(t.customer_state, "c1", state)
        for key, customer_id in [("email:jane@example.com", "c0"), ("customer:c0", "c1")]:
            id_type, value = key.split(":", 1)
            entry = IndexEntry(
                key=key, customer_id=customer_id, identifier_type=id_type, value=value
            )
            self.send(t.identity_index, key, entry)
        for customer_id, event_id, minutes in [("c0", "a", 1), ("c0", "b", 2), ("c1", "c", 3)]:
            value = Resolved(
                kind="signal", customer_id=customer_id, signal=ticket(event_id, minutes)
            )
            self.send(t.resolved, customer_id, value)
            self.send(t.resolved, customer_id, value)  # delivered twice
        self.send(t.resolved, "c0", Resolved(kind="merge", customer_id="c0", into="c1"))
        self.send(t.resolved, "c1", None, headers=[("signalfold.fence", b"x")])
        for change_id, kind, customer_id, absorbed, minutes in [
            ("ch0", "created", "c0", (), 1),
            ("ch1", "created", "c1", (), 2),
            ("ch2", "merged", "c1", ("c0",), 3),
        ]:
            change = IdentityChange(
                change_id=change_id,
                kind=kind,
                customer_id=customer_id,
                record_id=f"zendesk:{change_id}",
                absorbed_ids=absorbed,
                signal_id=f"sig_{change_id}",
                at=T0 + timedelta(minutes=minutes),
            )
            self.send(t.identity_changes, customer_id, change)
        self.flush()


@pytest.fixture
def feed(settings: Settings) -> Iterator[Feed]:
    from signalfold.bootstrap import create_topics

    create_topics(settings)
    feed = Feed(settings)
    yield feed
    feed.close()


@pytest.fixture
def running(settings: Settings, feed: Feed) -> Iterator[tuple[ServeHandle, httpx.Client]]:
    feed.history()
    with serve_handle(settings) as handle, httpx.Client(base_url=handle.url, timeout=10) as client:
        wait_for(lambda: client.get("/v1/ready").status_code == 200, what="readiness")
        # Readiness is advisory on Tansu (its watermark can be a batch short): wait for the data.
        wait_for(lambda: handle.serving.store.count("identity_changes") == 3, what="changes")
        wait_for(lambda: handle.serving.store.count("signals") == 3, what="signals")
        yield handle, client


def test_replays_everything_at_start_and_answers(
    running: tuple[ServeHandle, httpx.Client],
) -> None:
    handle, client = running
    q = {"channel": "email", "purpose": "marketing", "email": " Jane@Example.COM"}
    decision = client.get("/v1/suppression/check", params=q).json()
    assert decision["customer_id"] == "c1" and decision["allowed"] is False
    assert decision["reasons"][0]["rule"] == "unsubscribed"
    assert client.get("/v1/suppression/check", params={**q, "purpose": "transactional"}).json()[
        "allowed"
    ]
    assert (
        client.get("/v1/customers/lookup", params={"email": "jane@example.com"}).json()["version"]
        == 3
    )
    moved = client.get("/v1/customers/c0")
    assert moved.status_code == 308 and moved.headers["location"] == "/v1/customers/c1"
    assert client.get("/v1/customers/c0", follow_redirects=True).json()["customer_id"] == "c1"
    page = client.get("/v1/customers/c1/timeline", params={"limit": 2}).json()
    rest = client.get(
        "/v1/customers/c1/timeline", params={"limit": 2, "cursor": page["next_cursor"]}
    ).json()
    events = [i["signal"]["source_event_id"] for i in page["items"] + rest["items"]]
    assert events == ["c", "b", "a"] and rest["next_cursor"] is None
    identity = client.get("/v1/customers/c1/identity").json()
    assert [c["kind"] for c in identity["changes"]] == ["created", "created", "merged"]
    assert handle.serving.view.state("c0") is None  # the tombstone was applied
    assert handle.serving.materializer.skipped == 0


def test_batch_and_invalid_identifiers_over_http(running: tuple[ServeHandle, httpx.Client]) -> None:
    _, client = running
    checks = [
        {"email": "jane@example.com", "channel": "email", "purpose": "marketing"},
        {"email": "jane at example", "channel": "email", "purpose": "marketing"},
        {"customer_id": "c0", "channel": "sms", "purpose": "marketing"},
    ] * 1000
    results = client.post("/v1/suppression/check", json={"checks": checks}).json()["results"]
    assert len(results) == 3000
    assert results[0]["decision"]["allowed"] is False
    assert results[1]["error"]["field"] == "email"
    assert results[2]["decision"]["allowed"] is True
    bad = client.get(
        "/v1/suppression/check", params={"channel": "sms", "purpose": "service", "phone": "123"}
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "phone"]


def test_follows_live_updates(running: tuple[ServeHandle, httpx.Client], feed: Feed) -> None:
    handle, client = running
    feed.send(feed.topics.customer_state, "c1", CustomerState(customer_id="c1", version=4))
    value = Resolved(kind="signal", customer_id="c1", signal=ticket("d", 9))
    feed.send(feed.topics.resolved, "c1", value)
    feed.flush()
    wait_for(lambda: client.get("/v1/customers/c1").json()["version"] == 4, what="the new state")
    q = {"channel": "email", "purpose": "marketing", "customer_id": "c1"}
    assert client.get("/v1/suppression/check", params=q).json()["allowed"] is True

    def newest() -> str:
        page = client.get("/v1/customers/c1/timeline", params={"limit": 1}).json()
        return page["items"][0]["signal"]["source_event_id"]

    wait_for(lambda: newest() == "d", what="the new signal")
    assert handle.serving.materializer.applied >= 15


def test_cli_serve_stops_cleanly_on_sigterm(settings: Settings, feed: Feed) -> None:
    env = {**os.environ, **cli_env(settings)}
    proc = subprocess.Popen([*CLI, "serve"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{settings.api_port}/v1/health"

        def healthy() -> bool:
            try:
                return httpx.get(url, timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(healthy, what="the CLI server")
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
