"""A platform team adds a source live: register, pick-up without restart, DLQ replay."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from raw_events import RawFeed
from sources_cli import run_cli
from topic_view import TopicView

from signalfold.local import LocalPipeline
from signalfold.settings import Settings

CONTRACT = """\
name: legacy_crm
version: {version}
owner: crm-migration
record_key: {{path: contact.ref, required: true}}
event_id: id
occurred_at: {{path: at, format: iso}}
identifiers:
  - {{type: legacy_crm_id, path: contact.ref}}
  - {{type: email, path: {email_path}}}
type:
  field: kind
  map: {{note: legacy.note.added}}
declares:
  legacy.note.added:
    fields: {{note_id: str, topic: optional str}}
payloads:
  legacy.note.added:
    note_id: {{path: note.id, required: true}}
    topic: {{path: note.topic, transform: lower}}
"""


def _event(n: int) -> dict:
    return {
        "id": f"n{n}",
        "kind": "note",
        "at": "2026-11-20T10:00:00Z",
        "contact": {"ref": f"L{n}", "mail": f"p{n}@example.com"},
        "note": {"id": f"note{n}", "topic": "Billing"},
    }


def _signals(view: TopicView, topic: str) -> list[dict]:
    return [json.loads(m.value()) for m in view.records[topic]]


def test_register_picks_up_live_and_replay_recovers_dead_letters(
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with LocalPipeline(settings, stages=("ingest",)) as pipeline:
        runner = pipeline.runners["ingest"]
        feed = RawFeed(settings)
        view = TopicView(settings, feed.topics.canonical, feed.topics.dlq)
        try:
            # 1. No contract yet: the event reaches the DLQ as unknown_source.
            from signalfold.streams.topics import ensure_topics

            ensure_topics(settings.kafka_client_config(), [feed.topics.raw("legacy_crm")], 3)
            feed.send("legacy_crm", "L1", _event(1))
            feed.flush()
            view.wait_for(lambda v: v.count(feed.topics.dlq) == 1, what="unknown_source letter")
            assert _signals(view, feed.topics.dlq)[0]["error_kind"] == "unknown_source"

            # 2. A broken v1 (wrong email path is harmless; required note path is wrong).
            broken = tmp_path / "legacy_crm.yaml"
            text = CONTRACT.format(version=1, email_path="contact.mail")
            broken.write_text(text.replace("path: note.id,", "path: note.ident,"))
            code, out = run_cli(monkeypatch, capsys, settings, "sources", "register", str(broken))
            assert code == 0, out
            feed.send("legacy_crm", "L2", _event(2))
            feed.flush()
            view.wait_for(lambda v: v.count(feed.topics.dlq) == 2, what="missing_field letter")
            letter = _signals(view, feed.topics.dlq)[1]
            assert (letter["error_kind"], letter["field"]) == ("missing_field", "note.ident")
            assert letter["contract_version"] == 1

            # 3. A breaking change under the same version is refused with the reason.
            renamed = tmp_path / "renamed.yaml"
            renamed.write_text(CONTRACT.format(version=1, email_path="contact.email2"))
            code, out = run_cli(
                monkeypatch,
                capsys,
                settings,
                "sources",
                "validate",
                str(renamed),
                "--against",
                "registered",
            )
            assert code == 2
            assert "identifier `email` (path `contact.mail`) removed" in out
            assert "publish it as version 2" in out

            # 4. The fix, as v2: live, without restarting the worker.
            fixed = tmp_path / "fixed.yaml"
            fixed.write_text(CONTRACT.format(version=2, email_path="contact.mail"))
            code, out = run_cli(monkeypatch, capsys, settings, "sources", "register", str(fixed))
            assert code == 0 and "v2 (was v1)" in out, out
            ingest = runner.stage
            deadline = time.monotonic() + 30  # taken between batches, idle or not
            while ingest.contracts["legacy_crm"].version != 2:
                assert time.monotonic() < deadline, "the live worker never took v2"
                time.sleep(0.05)
            feed.send("legacy_crm", "L3", _event(3))
            feed.flush()
            view.wait_for(lambda v: v.count(feed.topics.canonical) == 1, what="live mapping")
            assert pipeline.runners["ingest"] is runner and not pipeline.errors

            # 5. Inspect groups by cause; replay turns both letters into signals, once.
            code, out = run_cli(monkeypatch, capsys, settings, "dlq", "inspect")
            assert code == 0 and "2 dead letter(s) in 2 cause(s)" in out, out
            assert "legacy_crm  missing_field  field note.ident" in out
            code, out = run_cli(monkeypatch, capsys, settings, "dlq", "replay")
            assert code == 0 and "replayed 2 dead letter(s): 2 to the canonical topic" in out, out
            view.wait_for(lambda v: v.count(feed.topics.canonical) == 3, what="replayed signals")
            code, out = run_cli(monkeypatch, capsys, settings, "dlq", "replay")
            assert "replayed 0 dead letter(s)" in out, out
            ids = {s["source_event_id"] for s in _signals(view, feed.topics.canonical)}
            assert ids == {"n1", "n2", "n3"}
            assert view.count(feed.topics.canonical) == 3

            # 6. The list shows owner, version and counts: 3 raw records, 3 distinct
            # signals, no dead letter left unreplayed.
            code, out = run_cli(monkeypatch, capsys, settings, "sources", "list")
            row = next(line for line in out.splitlines() if line.startswith("legacy_crm"))
            assert row.split() == ["legacy_crm", "2", "crm-migration", "3", "3", "0", "0"]
        finally:
            view.close()
