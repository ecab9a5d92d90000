"""A live worker takes an optional field added to a declared type under the same version,
and `sources list` counts from the topics: raw records, distinct signals, open letters."""

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
name: returns_desk
version: {version}
owner: returns-team
record_key: {{path: shopper.id, required: true}}
event_id: uuid
occurred_at: {{path: at, format: epoch_ms}}
identifiers:
  - {{type: returns_desk_id, path: shopper.id, trust: strong}}
type:
  field: status
  map: {{LABEL_CREATED: returns.desk_label.created{more_types}}}
declares:
  returns.desk_label.created:
    fields: {{order_id: str, carrier: optional str{more_fields}}}
payloads:
  returns.desk_label.created:
    order_id: {{path: order.ref, required: true}}
    carrier: carrier
{more_payload}"""
V1 = {"version": 1, "more_types": "", "more_fields": "", "more_payload": ""}
V1B = V1 | {
    "more_fields": ", label_url: optional str",
    "more_payload": "    label_url: label.url\n",
}
FIX = V1B | {"more_types": ", LABEL_REPRINTED: returns.desk_label.created"}


def _event(n: int, status: str = "LABEL_CREATED", **extra: object) -> dict:
    return {
        "uuid": f"r-{n}",
        "status": status,
        "at": 1763632800000 + n,
        "shopper": {"id": f"S-{n}"},
        "order": {"ref": f"ORD-{n}"},
        **extra,
    }


def _row(out: str) -> list[str]:
    return next(line for line in out.splitlines() if line.startswith("returns_desk")).split()


def test_optional_field_goes_live_and_list_counts_from_the_topics(
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def cli(*args: str) -> str:
        code, out = run_cli(monkeypatch, capsys, settings, *args)
        assert code == 0, out
        return out

    def register(name: str, fields: dict) -> str:
        path = tmp_path / f"{name}.yaml"
        path.write_text(CONTRACT.format(**fields))
        return cli("sources", "register", str(path))

    with LocalPipeline(settings, stages=("ingest",)) as pipeline:
        feed = RawFeed(settings)
        canonical, dlq = feed.topics.canonical, feed.topics.dlq
        view = TopicView(settings, canonical, dlq)
        try:
            register("v1", V1)
            feed.send("returns_desk", "S-1", _event(1))
            feed.send("returns_desk", "S-2", _event(2, "LABEL_REPRINTED"))  # unknown raw type
            feed.flush()
            view.wait_for(lambda v: v.count(canonical) == 1 and v.count(dlq) == 1, what="v1")

            # 1. Same version, one optional field more: accepted, and the live worker uses it.
            assert "v1 (was v1)" in register("v1b", V1B)
            ingest = pipeline.runners["ingest"].stage
            deadline = time.monotonic() + 30  # taken between batches, idle or not
            while "label_url" not in ingest.contracts["returns_desk"].model_dump_json():
                assert time.monotonic() < deadline, "the live worker never took v1b"
                time.sleep(0.05)
            feed.send("returns_desk", "S-3", _event(3, label={"url": "https://l/3"}))
            feed.send("returns_desk", "S-1", _event(1))  # the same event again: one signal
            feed.flush()
            view.wait_for(lambda v: v.count(canonical) == 3, what="v1b signals")
            last = json.loads(view.records[canonical][-1].value())
            first_v1b = json.loads(view.records[canonical][1].value())
            assert {"order_id": "ORD-3", "label_url": "https://l/3"} in (
                first_v1b["payload"],
                last["payload"],
            )
            assert not pipeline.errors

            # 2. Replaying without a fix re-dead-letters: still one open dead letter.
            assert "1 back to the DLQ" in cli("dlq", "replay")
            view.wait_for(lambda v: v.count(dlq) == 2, what="re-dead-lettered")
            row = _row(cli("sources", "list"))
            assert row == ["returns_desk", "1", "returns-team", "4", "2", "1", "0"]

            # 3. The fix (an added raw type value), replayed: nothing left dead.
            register("fix", FIX)
            assert "1 to the canonical topic" in cli("dlq", "replay")
            view.wait_for(lambda v: v.count(canonical) == 4, what="replayed signal")
            assert _row(cli("sources", "list"))[3:] == ["4", "3", "0", "0"]
        finally:
            view.close()
