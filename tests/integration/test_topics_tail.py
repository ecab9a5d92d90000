"""``signalfold topics tail`` against the embedded broker: from the beginning or the end,
by key, pretty JSON or JSON lines, stopping after ``--max``; fences never shown."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
from sources_cli import CLI, cli_env, run_cli

from signalfold.settings import Settings
from signalfold.streams.kafka import producer, read_to_end
from signalfold.streams.topics import Topics, ensure_topics

pytestmark = pytest.mark.integration


def _state(customer: str, n: int) -> bytes:
    return json.dumps({"customer_id": customer, "version": n, "flags": []}).encode()


@pytest.fixture
def topic(settings: Settings) -> str:
    """``customer.state`` of this test's prefix with two customers' states on it, and fences."""
    client = settings.kafka_client_config()
    name = Topics(settings.topic_prefix).customer_state
    ensure_topics(client, [name], settings.partitions)
    prod = producer(client)
    for n, customer in enumerate(["cus_a", "cus_b", "cus_a", "cus_b", "cus_a"]):
        prod.produce(name, key=customer.encode(), value=_state(customer, n), partition=n % 2)
    prod.produce(name, key=b"cus_gone", value=None)  # a tombstone
    assert prod.flush(10) == 0
    read_to_end(client, name, lambda _m: None)  # leaves a fence on every partition
    return name


def test_tail_from_the_beginning_by_key_as_pretty_json(
    settings: Settings,
    topic: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ("topics", "tail", "customer.state", "--from-beginning", "--key", "cus_a", "--max", "3")
    code, out = run_cli(monkeypatch, capsys, settings, *args)
    assert code == 0, out
    headers = [line for line in out.splitlines() if line.startswith("── ")]
    assert len(headers) == 3 and all("key cus_a" in h for h in headers), out
    assert f"{topic}[" in headers[0]
    assert '  "customer_id": "cus_a",' in out and "cus_b" not in out  # indented: pretty

    args = ("topics", "tail", topic, "--from-beginning", "--max", "6", "--json")  # full name
    code, out = run_cli(monkeypatch, capsys, settings, *args)
    assert code == 0, out
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == 6 and {r["topic"] for r in records} == {topic}
    assert sorted(r["key"] for r in records) == ["cus_a"] * 3 + ["cus_b"] * 2 + ["cus_gone"]
    assert all(r["value"] is None for r in records if r["key"] == "cus_gone")
    assert all(r["value"]["customer_id"] == r["key"] for r in records if r["key"] != "cus_gone")


def test_tail_without_from_beginning_shows_only_new_records(settings: Settings, topic: str) -> None:
    cmd = [*CLI, "topics", "tail", "customer.state", "--max", "2", "--json"]
    env = {**os.environ, **cli_env(settings)}
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    prod = producer(settings.kafka_client_config())
    deadline = time.monotonic() + 60
    try:
        n = 100
        while child.poll() is None and time.monotonic() < deadline:
            prod.produce(topic, key=b"cus_new", value=_state("cus_new", n))
            prod.flush(5)
            n += 1
            time.sleep(0.5)
        out, err = child.communicate(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, err
    records = [json.loads(line) for line in out.decode().splitlines()]
    assert len(records) == 2, out  # none of the five states already there
    assert all(r["key"] == "cus_new" and r["value"]["version"] >= 100 for r in records), out


def test_tail_of_an_unknown_topic_names_the_known_ones(
    settings: Settings,
    topic: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = run_cli(
        monkeypatch, capsys, settings, "topics", "tail", "customer.stat", "--max", "1"
    )
    assert code == 2, out
    assert out.startswith("signalfold topics: topic `customer.stat`: not found on the broker"), out
    assert "known topics: customer.state" in out


def test_create_raw_gives_a_source_without_a_contract_its_topic(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from signalfold.streams.kafka import consumer

    code, out = run_cli(monkeypatch, capsys, settings, "topics", "create-raw", "legacy_erp")
    name = Topics(settings.topic_prefix).raw("legacy_erp")
    assert code == 0 and out.startswith(f"{name}: ready; its events are dead-lettered"), out
    reader = consumer(settings.kafka_client_config(), None)
    try:
        meta = reader.list_topics(name, timeout=10).topics[name]
    finally:
        reader.close()
    assert meta.error is None and len(meta.partitions) == settings.partitions
