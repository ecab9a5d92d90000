"""`dlq inspect` and `dlq replay` treat letters past SIGNALFOLD_RETENTION_DEAD_LETTERS as
deleted, on a broker that keeps them (the embedded Tansu deletes nothing)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sources_cli import run_cli

from signalfold.bootstrap import create_topics
from signalfold.schemas.dlq import DeadLetter
from signalfold.settings import Settings
from signalfold.streams.kafka import producer
from signalfold.streams.topics import Topics

pytestmark = pytest.mark.integration

CONTRACT = """\
name: returns_ret
version: 1
owner: returns-team
record_key: {path: shopper.id, required: true}
event_id: uuid
occurred_at: {path: at, format: epoch_ms}
identifiers:
  - {type: email, path: shopper.email, trust: strong}
type:
  field: status
  map: {RECEIVED: sales.order.returned}
payloads:
  sales.order.returned:
    order_id: {path: order.ref, required: true}
    reason: {path: why, values: {broken: defective}, required: true}
"""


def _letter(topics: Topics, n: int, at: datetime) -> DeadLetter:
    """A letter an earlier, broken contract left; the registered one maps it."""
    body = {"uuid": f"r-{n}", "status": "RECEIVED", "at": 1763632800000 + n,
            "shopper": {"id": f"S-{n}", "email": f"p{n}@example.com"},
            "order": {"ref": f"ORD-{n}"}, "why": "broken"}  # fmt: skip
    return DeadLetter(
        source="returns_ret", contract_version=1, topic=topics.raw("returns_ret"), partition=0,
        offset=n, key=f"S-{n}", reason="source `returns_ret`: field `why`: expected one of "
        "['defective'], found 'broken'", field="why", expected="one of ['defective']",
        found="'broken'", error_kind="invalid_value",
        original=base64.b64encode(json.dumps(body).encode()).decode(), at=at,
    )  # fmt: skip


def test_letters_past_retention_are_not_inspected_nor_replayed(
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    topics = create_topics(settings)  # signals.dlq keeps 30 days (the default)
    contract = tmp_path / "returns_ret.yaml"
    contract.write_text(CONTRACT)
    code, out = run_cli(monkeypatch, capsys, settings, "sources", "register", str(contract))
    assert code == 0, out
    now = datetime.now(UTC)
    prod = producer(settings.kafka_client_config())
    # Partition 0: two letters written 40 and 31 days ago, then one a day ago; partition 1:
    # one a day ago. Time is the records' own timestamps, as a broker's retention reads it.
    for n, (partition, days) in enumerate([(0, 40), (0, 31), (0, 1), (1, 1)]):
        at = now - timedelta(days=days)
        prod.produce(
            topics.dlq, key=f"S-{n}".encode(), partition=partition,
            value=_letter(topics, n, at).model_dump_json().encode(),
            timestamp=int(at.timestamp() * 1000),
        )  # fmt: skip
    assert prod.flush(10) == 0

    for args in ((), ("--all",)):
        code, out = run_cli(monkeypatch, capsys, settings, "dlq", "inspect", *args)
        assert code == 0 and out.startswith("2 dead letter(s) in 1 cause(s)"), out
        assert (
            "2 more not shown: older than SIGNALFOLD_RETENTION_DEAD_LETTERS (30d), past retention"
        ) in out
    code, out = run_cli(monkeypatch, capsys, settings, "dlq", "inspect", "--json")
    assert code == 0 and json.loads(out)["past_retention"] == 2, out

    code, out = run_cli(monkeypatch, capsys, settings, "dlq", "replay", "--json")
    assert code == 0, out
    replayed = json.loads(out)
    assert replayed["read"] == 2 and replayed["mapped"] == {"returns_ret": 2}, replayed
    assert replayed["past_retention"] == 2
    # Both recovered; the expired ones stay behind the replay's position, not shown again.
    code, out = run_cli(monkeypatch, capsys, settings, "dlq", "inspect")
    assert code == 0 and out.startswith("0 dead letter(s) in 0 cause(s)"), out
    assert "more not shown" not in out
    code, out = run_cli(monkeypatch, capsys, settings, "dlq", "replay")
    assert code == 0 and "replayed 0 dead letter(s)" in out and "skipped" not in out, out

    # With retention set to forever, --all shows every letter again (none was deleted).
    forever = settings.model_copy(update={"retention_dead_letters": None})
    monkeypatch.setenv("SIGNALFOLD_RETENTION_DEAD_LETTERS", "forever")
    code, out = run_cli(monkeypatch, capsys, forever, "dlq", "inspect", "--all")
    assert code == 0 and out.startswith("4 dead letter(s)"), out
