"""``--json`` on the pipeline commands that report: topics, demo, schemas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sources_cli import run_cli

from signalfold.settings import Settings
from signalfold.streams.topics import Topics

pytestmark = pytest.mark.integration


def test_topics_demo_and_schemas_report_as_json(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    settings: Settings,
    tmp_path: Path,
) -> None:
    code, out = run_cli(monkeypatch, capsys, settings, "topics", "--json")
    assert code == 0 and json.loads(out)["topics"] == Topics(settings.topic_prefix).pipeline()
    code, out = run_cli(monkeypatch, capsys, settings, "demo", "--people", "3", "--json")
    report = json.loads(out)
    assert code == 0 and report["produced"] > report["malformed"] > 0
    code, out = run_cli(monkeypatch, capsys, settings, "schemas", "--out", str(tmp_path), "--json")
    written = json.loads(out)["written"]
    assert code == 0 and written and all(Path(p).is_file() for p in written)
    code, out = run_cli(monkeypatch, capsys, settings, "topics")
    assert code == 0 and out.split() == Topics(settings.topic_prefix).pipeline()
