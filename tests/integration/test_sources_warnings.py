"""A bad optional trait on the real broker: the event reaches signals.canonical with its
identifiers, the warning is on signals.warnings, `sources list` counts it and
`dlq inspect --warnings` shows it, never the value."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from raw_events import RawFeed
from sources_cli import run_cli
from topic_view import TopicView

from signalfold.local import LocalPipeline
from signalfold.settings import Settings

CONTRACT = """\
name: members_desk
version: 1
owner: membership-team
record_key: {path: member.id, required: true}
event_id: id
occurred_at: {path: at, format: iso}
identifiers:
  - {type: members_desk_id, path: member.id}
  - {type: email, path: member.email, scope: personal}
traits:
  full_name: member.name
  birth_date: member.dob
  address: {join: [member.street_number, member.street], sep: " "}
  region: member.state
type:
  field: kind
  map: {joined: members.member.joined}
declares:
  members.member.joined:
    fields: {plan: optional str}
payloads:
  members.member.joined:
    plan: plan
"""


def _event(n: int, dob: str) -> dict:
    member = {"id": f"M-{n}", "email": f"m{n}@example.com", "name": "Ada Lovelace", "dob": dob}
    member |= {"street_number": 12, "street": "St James's Square", "state": "London"}
    return {"id": f"j{n}", "kind": "joined", "at": "2026-11-20T10:00:00Z", "member": member}


def test_a_bad_birth_date_is_warned_and_the_event_still_maps(
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def cli(*args: str) -> str:
        code, out = run_cli(monkeypatch, capsys, settings, *args)
        assert code == 0, out
        return out

    with LocalPipeline(settings, stages=("ingest",)) as pipeline:
        feed = RawFeed(settings)
        t = feed.topics
        view = TopicView(settings, t.canonical, t.dlq, t.warnings)
        try:
            path = tmp_path / "members_desk.yaml"
            path.write_text(CONTRACT)
            cli("sources", "register", str(path))
            feed.send("members_desk", "M-1", _event(1, "19361218"))  # not ISO, no format
            feed.send("members_desk", "M-2", _event(2, "1945-70-03"))  # no such month
            feed.send("members_desk", "M-3", _event(3, "1815-12-10"))
            feed.flush()
            view.wait_for(
                lambda v: v.count(t.canonical) == 3 and v.count(t.warnings) == 2, what="mapped"
            )
            assert view.count(t.dlq) == 0 and not pipeline.errors
            signals = {s["source_event_id"]: s for s in map(json.loads, _values(view, t.canonical))}
            for event_id in ("j1", "j2"):
                signal = signals[event_id]
                assert signal["traits"]["birth_date"] is None
                assert signal["traits"]["address"] == "12 St James's Square"
                assert signal["traits"]["region"] == "London"
                assert [(i["type"], i["scope"]) for i in signal["identifiers"]] == [
                    ("members_desk_id", None),
                    ("email", "personal"),
                ]
            assert signals["j3"]["traits"]["birth_date"] == "1815-12-10"

            warnings = [json.loads(v) for v in _values(view, t.warnings)]
            assert sorted(w["source_event_id"] for w in warnings) == ["j1", "j2"]
            assert {w["field"] for w in warnings} == {"member.dob"}
            assert {w["signal_id"] for w in warnings} == {signals["j1"]["signal_id"],
                                                          signals["j2"]["signal_id"]}  # fmt: skip
            for raw in _values(view, t.warnings):
                assert b"19361218" not in raw and b"1945-70-03" not in raw and b"M-1" not in raw

            row = next(x for x in cli("sources", "list").splitlines() if x.startswith("members"))
            assert row.split() == ["members_desk", "1", "membership-team", "3", "3", "0", "2"]
            out = cli("dlq", "inspect", "--warnings", "--source", "members_desk")
            assert "2 warning(s) in 1 cause(s)" in out, out
            assert (
                "members_desk  invalid_value  field member.dob (trait birth_date, dropped)" in out
            )
            assert "found a string of 8 digits" in out or "found a string shaped" in out
            assert "source `members_desk`: field `member.dob`: expected an ISO date" in out
            assert "0 dead letter(s)" in cli("dlq", "inspect", "--source", "members_desk")
        finally:
            view.close()


def _values(view: TopicView, topic: str) -> list[bytes]:
    return [m.value() for m in view.records[topic]]
