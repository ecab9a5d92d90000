"""``/v1/ready`` tells the truth after start: unready, with the reason, while the broker is
away or has lost the serving topics; ``/v1/health`` (liveness) stays up throughout."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import pytest

from signalfold.bootstrap import create_topics, serve_handle
from signalfold.settings import Settings
from signalfold.streams.broker import EmbeddedBroker, free_port

pytestmark = pytest.mark.integration


def _until(client: httpx.Client, status: int, timeout: float) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        answer = client.get("/v1/ready")
        if answer.status_code == status or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


def test_readiness_follows_the_broker(tmp_path: Path) -> None:
    port = free_port()
    settings = Settings(
        kafka_bootstrap=f"127.0.0.1:{port}",
        topic_prefix=f"t{uuid.uuid4().hex[:8]}.",
        partitions=2,
        data_dir=tmp_path,
        api_port=0,
        ready_broker_timeout=3,
    )
    broker = EmbeddedBroker(port=port).start()
    try:
        create_topics(settings)
        with (
            serve_handle(settings) as handle,
            httpx.Client(base_url=handle.url, timeout=5) as client,
        ):
            assert _until(client, 200, 30).status_code == 200
            broker.stop(grace=0)
            away = _until(client, 503, 30)
            assert away.status_code == 503, away.text
            assert "broker unreachable" in away.json()["detail"]
            assert client.get("/v1/health").status_code == 200
            broker = EmbeddedBroker(port=port).start()  # memory storage: it comes back empty
            empty = _until(client, 999, 0)
            deadline = time.monotonic() + 30
            while "topics gone" not in (empty.json().get("detail") or ""):
                assert time.monotonic() < deadline, empty.text
                time.sleep(0.2)
                empty = client.get("/v1/ready")
            assert empty.status_code == 503
            assert client.get("/v1/health").status_code == 200
    finally:
        broker.stop()
