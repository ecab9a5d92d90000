"""The decision log lives in Kafka: every replica answers for all, and a restart keeps it.

Two serving replicas on the same topics (real embedded broker, real HTTP):
each answers checks; each one's log shows its own answers at once and the
other's once they arrive; a replica started afterwards rebuilds the whole
log from ``decisions.log`` before anything is asked again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import httpx
from sources_cli import CLI, cli_env

from signalfold.bootstrap import create_topics, serve_handle
from signalfold.settings import Settings
from signalfold.sinks.pii import hasher_for
from signalfold.streams.broker import free_port

SURFACE = "open-access"  # the surface name of the open (no key file) API


def _check(base: str, email: str) -> None:
    params = {"email": email, "channel": "email", "purpose": "marketing"}
    response = httpx.get(f"{base}/v1/suppression/check", params=params, timeout=10)
    assert response.status_code == 200, response.text


def _asked(base: str) -> list[str]:
    """The emails asked about, as each replica's log says, oldest first."""
    response = httpx.get(
        f"{base}/v1/decisions/log", params={"surface": SURFACE, "limit": 1000}, timeout=10
    )
    assert response.status_code == 200, response.text
    return [item["request"]["identifier_hash"] for item in reversed(response.json()["items"])]


def _hashes(settings: Settings, *emails: str) -> list[str]:
    """The keyed hashes the log keeps instead of ``emails`` (replicas share the key)."""
    hasher = hasher_for(settings)
    return [hasher.identifier("email", e) for e in emails]


def _eventually(probe, expected, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while (found := probe()) != expected and time.monotonic() < deadline:
        time.sleep(0.2)
    return found


def test_every_replica_shows_every_answer_and_a_new_one_rebuilds_the_log(
    settings: Settings,
) -> None:
    one = settings.model_copy(update={"api_port": free_port(), "api_replica": None})
    two = settings.model_copy(update={"api_port": free_port()})
    with serve_handle(one) as a, serve_handle(two) as b:
        assert a.serving.materializer.wait_caught_up(30)
        assert b.serving.materializer.wait_caught_up(30)
        first, second, third = _hashes(
            settings, "first@example.com", "second@example.com", "third@example.com"
        )
        _check(a.url, "first@example.com")
        assert _asked(a.url) == [first]  # its own answer, at once
        _check(b.url, "second@example.com")
        _check(b.url, "third@example.com")
        assert _asked(b.url)[-2:] == [second, third]
        everything = [first, second, third]
        assert _eventually(lambda: _asked(a.url), everything) == everything
        assert _eventually(lambda: _asked(b.url), everything) == everything

    later = settings.model_copy(update={"api_port": free_port()})
    with serve_handle(later) as c:
        assert c.serving.materializer.wait_caught_up(30)
        assert _eventually(lambda: _asked(c.url), everything) == everything


def test_serve_processes_share_one_port_and_one_log(settings: Settings) -> None:
    """Two ``signalfold serve`` processes with ``SIGNALFOLD_API_REPLICA`` on one port."""
    create_topics(settings)  # as `signalfold topics` / `run` does: serve creates none
    env = {**os.environ, **cli_env(settings)}
    procs = [
        subprocess.Popen(
            [*CLI, "serve"],
            env=env | {"SIGNALFOLD_API_REPLICA": str(replica)},
            stderr=subprocess.PIPE,
            text=True,
        )
        for replica in (0, 1)
    ]
    base = f"http://127.0.0.1:{settings.api_port}"
    try:
        stores = [settings.data_dir / f"serve-{settings.api_port}-r{r}.duckdb" for r in (0, 1)]
        # Two processes start on two shared cores, under the rest of the suite: bounded, generous.
        assert _eventually(lambda: all(p.exists() for p in stores), True, timeout=60)
        assert _eventually(lambda: _ready(base), True, timeout=60)
        emails = [f"person{i}@example.com" for i in range(12)]
        for email in emails:  # one new connection each: the kernel spreads them
            _check(base, email)
        # whichever replica answers the query knows every answer of both
        asked = sorted(_hashes(settings, *emails))  # both processes made or read one key file
        assert _eventually(lambda: sorted(_asked(base)), asked) == asked
        assert all(p.poll() is None for p in procs), "a replica failed to bind the shared port"
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        errors = [proc.communicate(timeout=20)[1] for proc in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    assert not any("Traceback" in e for e in errors), errors


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/v1/ready", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def test_a_malformed_chunk_on_the_log_topic_is_skipped_not_fatal(settings: Settings) -> None:
    from confluent_kafka import Producer

    from signalfold.streams.topics import Topics

    with serve_handle(settings) as handle:
        assert handle.serving.materializer.wait_caught_up(30)
        producer = Producer({"bootstrap.servers": str(settings.kafka_bootstrap)})
        topic = Topics(settings.topic_prefix).decisions_log
        producer.produce(topic, key=b"someone-else", value=b'{"log_id": "x", not json')
        assert producer.flush(10) == 0
        _check(handle.url, "after@example.com")
        after = _hashes(settings, "after@example.com")
        assert _eventually(lambda: _asked(handle.url), after) == after
        materializer = handle.serving.materializer
        assert _eventually(lambda: materializer.skipped, 1) == 1
        assert materializer.alive
