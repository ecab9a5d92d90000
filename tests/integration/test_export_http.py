"""Subject access export and hashed decision log over real HTTP and the embedded broker.

A serving replica replays the topics; ``signalfold export`` (in-process CLI,
talking HTTP to it with an admin key) answers one document for a customer
and one for a person who was only asked about; ``decisions.log``'s raw bytes
and every log line of serve and the CLI carry none of the identifiers.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Consumer, TopicPartition
from sources_cli import run_cli
from test_serve import Feed, wait_for

from signalfold.bootstrap import serve_handle
from signalfold.schemas.subject_access import SubjectAccessExport
from signalfold.settings import Settings
from signalfold.sinks.auth import hash_key
from signalfold.sinks.serve import ServeHandle

pytestmark = pytest.mark.integration

ADMIN, BOT = "sf_export_admin_key", "sf_export_bot_key"
JANE, STRANGER = "Jane@Example.COM", "stranger@example.com"
NEEDLES = ("jane@example.com", "Jane@Example.COM", "stranger@example.com")


@pytest.fixture
def served(settings: Settings, tmp_path: Path) -> Iterator[tuple[Settings, ServeHandle, Path]]:
    from signalfold.bootstrap import create_topics

    keys = tmp_path / "keys.yaml"
    keys.write_text(
        "keys:\n"
        f"  - {{name: dpo, role: admin, hash: {hash_key(ADMIN)}}}\n"
        f"  - {{name: bot, role: marketing_bot, hash: {hash_key(BOT)}}}\n"
    )
    (tmp_path / "admin.key").write_text(ADMIN + "\n")
    (tmp_path / "bot.key").write_text(BOT + "\n")
    settings = settings.model_copy(update={"api_keys_file": keys})
    create_topics(settings)
    feed = Feed(settings)
    feed.history()  # c0 (jane@example.com) merged into c1, three signals, three changes
    feed.close()
    with serve_handle(settings) as handle:
        wait_for(lambda: handle.serving.store.count("signals") == 3, what="signals")
        wait_for(lambda: handle.serving.store.count("identity_changes") == 3, what="changes")
        wait_for(lambda: handle.serving.view.lookup("email:jane@example.com"), what="the index")
        yield settings, handle, tmp_path


def _raw_log(settings: Settings) -> list[bytes]:
    """Every value on ``decisions.log``, read until the topic stays quiet for a second."""
    topic = f"{settings.topic_prefix}decisions.log"
    reader = Consumer(
        {**settings.kafka_client_config(), "group.id": "x", "enable.auto.commit": False}
    )
    parts = reader.list_topics(topic, timeout=10).topics[topic].partitions
    reader.assign([TopicPartition(topic, p, 0) for p in parts])
    values, quiet_since = [], time.monotonic()
    try:
        while time.monotonic() - quiet_since < 1.0:
            for message in reader.consume(500, 0.2):
                if message.error() is None and message.value():
                    values.append(message.value())
                    quiet_since = time.monotonic()
    finally:
        reader.close()
    return values


def test_export_by_email_over_http_and_the_log_keeps_no_identifier(
    served, monkeypatch, capsys, caplog
) -> None:
    settings, handle, tmp = served
    caplog.set_level(logging.DEBUG)
    ask = {"channel": "email", "purpose": "marketing"}
    with httpx.Client(base_url=handle.url, headers={"X-API-Key": BOT}, timeout=10) as bot:
        assert bot.get("/v1/suppression/check", params={"email": JANE, **ask}).json()["known"]
        assert not bot.get("/v1/suppression/check", params={"email": STRANGER, **ask}).json()[
            "known"
        ]

    admin = ("--url", handle.url, "--key-file", str(tmp / "admin.key"))
    code, out = run_cli(
        monkeypatch, capsys, settings, "export", "--email", "jane@example.com", *admin
    )
    assert code == 0, out
    doc = SubjectAccessExport.model_validate_json(out)
    assert (doc.customer_id, doc.customer_ids) == ("c1", ["c1", "c0"])
    assert [h.signal.source_event_id for h in doc.history] == ["a", "b", "c"]
    assert doc.state is not None and doc.state.flags[0].rule == "unsubscribed"
    assert doc.identity is not None and [c.kind for c in doc.identity.changes] == [
        "created", "created", "merged"
    ]  # fmt: skip
    assert [(d.customer_id, d.surface) for d in doc.decisions] == [("c1", "bot")]
    assert {c.store: c.covered for c in doc.coverage}["signals.dlq"] == "no"

    code, out = run_cli(monkeypatch, capsys, settings, "export", "--email", STRANGER, *admin)
    assert code == 0, out
    stranger = SubjectAccessExport.model_validate_json(out)
    assert stranger.customer_id is None and stranger.history == [] and stranger.state is None
    assert [(d.customer_id, d.outcome) for d in stranger.decisions] == [(None, "allow")]

    output = tmp / "jane.json"
    code, out = run_cli(
        monkeypatch,
        capsys,
        settings,
        "export",
        "--customer-id",
        "c0",
        "--output",
        str(output),
        *admin,
    )
    assert code == 0 and f"to {output} (mode 0600)" in out
    assert (output.stat().st_mode & 0o777) == 0o600
    assert json.loads(output.read_text())["customer_id"] == "c1"  # the merged id followed

    bot_key = ("--url", handle.url, "--key-file", str(tmp / "bot.key"))
    code, out = run_cli(
        monkeypatch, capsys, settings, "export", "--email", "jane@example.com", *bot_key
    )
    assert code != 0 and "lacks scope" in out and "(HTTP 403)" in out

    raw = b"\n".join(_raw_log(settings))
    assert raw.count(b'"log_id"') == 2 and b"hmac-sha256:" in raw
    for needle in NEEDLES:
        assert needle.encode() not in raw, "decisions.log carries an identifier"
        assert needle not in caplog.text, "a log line of serve or the CLI carries an identifier"
    errors = out  # the refused export's message: what to do, no value
    assert all(needle not in errors for needle in NEEDLES)
