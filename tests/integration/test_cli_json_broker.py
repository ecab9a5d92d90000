"""``--json`` on every reporting command that talks to the broker parses, and says
what the text says; ``sources dry-run --sample`` reads JSON lines and JSON arrays."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sources_cli import run_cli

from signalfold.bootstrap import create_topics
from signalfold.identity.graph import IdentityGraph
from signalfold.schemas.contract import load_contract, register_declared_types
from signalfold.schemas.dlq import DeadLetter
from signalfold.settings import Settings
from signalfold.streams.ingest import map_event
from signalfold.streams.kafka import producer
from signalfold.streams.topics import Topics

pytestmark = pytest.mark.integration

CONTRACT = Path(__file__).parents[2] / "examples" / "returns_portal.yaml"
SAMPLE = Path(__file__).parents[2] / "examples" / "returns_sample.jsonl"
NOW = datetime(2026, 11, 20, tzinfo=UTC)


def _json(monkeypatch, capsys, settings: Settings, *args: str) -> tuple[int, dict]:  # type: ignore[no-untyped-def]
    for name, value in {"SIGNALFOLD_LOG_LEVEL": "WARNING"}.items():
        monkeypatch.setenv(name, value)
    code, out = run_cli(monkeypatch, capsys, settings, *args, "--json")
    return code, json.loads(out)


def _events(*emails: str) -> list[dict]:
    now = int(time.time() * 1000)  # recent: the defective-return rule holds for 30 days
    return [
        {"uuid": f"j-{i}", "status": "RECEIVED", "at": now - 60_000 + i,
         "shopper": {"id": f"J-{i}", "email": email, "name": "Ann Lee"},
         "order": {"ref": f"ORD-{i}"}, "why": "Broken"}
        for i, email in enumerate(emails)
    ]  # fmt: skip


def test_sources_dry_run_reads_a_sample_file_as_lines_or_as_an_array(
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    create_topics(settings)
    code, out = run_cli(
        monkeypatch, capsys, settings, "sources", "dry-run", str(CONTRACT), "--sample", str(SAMPLE)
    )
    assert code == 0, out
    assert "3 event(s) read, 2 mapped, 1 would dead-letter" in out, out
    assert "new customers: 1" in out and "nothing was published" in out

    # A JSON array of two returns this week by one email: one customer, flagged.
    array = tmp_path / "sample.json"
    array.write_text(json.dumps(_events("ann@example.com", "Ann@Example.com")))
    code, report = _json(
        monkeypatch, capsys, settings, "sources", "dry-run", str(CONTRACT), "--sample", str(array)
    )
    assert code == 0, report
    assert report["events"] == 2 and report["mapped"] == {"sales.order.returned": 2}
    assert len(report["new_customers"]) == 1 and report["published"] is False
    assert report["flags_raised"] == {"defective_return": 1}
    assert report["read_from"] == str(array)

    # Neither input: argparse says which ones there are.
    with pytest.raises(SystemExit) as done:
        run_cli(monkeypatch, capsys, settings, "sources", "dry-run", str(CONTRACT))
    assert done.value.code == 2
    assert "one of the arguments --sample --from-topic is required" in capsys.readouterr().err


def test_every_reporting_command_prints_json_on_request(
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    topics = Topics(settings.topic_prefix)
    client = settings.kafka_client_config()
    create_topics(settings)  # as a deployment has them: identity.changes on one partition
    code, reg = _json(monkeypatch, capsys, settings, "sources", "register", str(CONTRACT))
    assert code == 0 and reg["source"] == "returns_portal" and reg["version"] == 1, reg
    assert reg["raw_topic"] == topics.raw("returns_portal") and reg["was"] is None

    code, val = _json(
        monkeypatch,
        capsys,
        settings,
        "sources",
        "validate",
        str(CONTRACT),
        "--against",
        "registered",
    )
    assert code == 0 and val["ok"] and val["evolution"]["breaking"] == [], val

    # Two records that share an email: what the resolve stage would log.
    contract = load_contract(CONTRACT)
    register_declared_types([contract])
    graph = IdentityGraph(default_region=settings.default_region)
    prod = producer(client)
    for event in _events("ann@example.com", "ann@example.com"):
        signal = map_event(contract, json.dumps(event).encode(), received_at=NOW, max_bytes=10**6)
        for change in graph.resolve(signal).changes:
            prod.produce(topics.identity_changes, value=change.model_dump_json().encode())
    raw = json.dumps({"uuid": "bad", "status": "RECEIVED"}).encode()
    letter = DeadLetter(
        source="returns_portal", contract_version=1, topic=topics.raw("returns_portal"),
        partition=0, offset=0, key="J-9", reason="source `returns_portal`: field `at`: expected "
        "a time, found nothing", field="at", expected="a time", found=None,
        error_kind="missing_field", original=base64.b64encode(raw).decode(), at=NOW,
    )  # fmt: skip
    prod.produce(topics.dlq, key=b"J-9", value=letter.model_dump_json().encode())
    assert prod.flush(10) == 0
    a, b = "returns_portal:J-0", "returns_portal:J-1"

    code, why = _json(monkeypatch, capsys, settings, "identity", "why", a, b)
    assert code == 0 and why["one_customer"] is True and why["links"], why
    customer = why["customer_id"]
    assert why["links"][0]["evidence"]["identifier_type"] == "email"

    code, show = _json(monkeypatch, capsys, settings, "identity", "show", customer)
    assert code == 0 and show["customer_id"] == customer and sorted(show["records"]) == [a, b]
    code, out = run_cli(monkeypatch, capsys, settings, "identity", "show", customer)
    assert code == 0 and out.startswith(f"customer {customer}\nrecords (2):"), out

    code, split = _json(
        monkeypatch, capsys, settings, "identity", "split", customer, "--records", b, "--wait", "0"
    )
    assert code == 0 and split["sent"] == "split" and split["command_id"].startswith("cmd_")

    code, inspect = _json(monkeypatch, capsys, settings, "dlq", "inspect")
    assert code == 0 and inspect["letters"] == 1 and inspect["which"] == "unresolved", inspect
    (cause,) = inspect["causes"]
    assert cause["kind"] == "missing_field" and cause["field"] == "at" and "raw" not in cause

    code, replay = _json(monkeypatch, capsys, settings, "dlq", "replay")
    assert code == 0 and replay["read"] == 1 and replay["failed"], replay

    code, listed = _json(monkeypatch, capsys, settings, "sources", "list")
    assert code == 0, listed
    row = next(r for r in listed["sources"] if r["source"] == "returns_portal")
    assert row["version"] == 1 and row["owner"] == "returns-team" and row["dead"] == 1, row
