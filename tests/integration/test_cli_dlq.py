"""`dlq inspect` after a replay: unresolved letters by default, --all, values only on request."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
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
name: returns_dlq
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
SECRET = "lost in the post near 221B"


def _event(n: int, why: str) -> bytes:
    body = {"uuid": f"r-{n}", "status": "RECEIVED", "at": 1763632800000 + n,
            "shopper": {"id": f"S-{n}", "email": f"p{n}@example.com"},
            "order": {"ref": f"ORD-{n}"}, "why": why}  # fmt: skip
    return json.dumps(body).encode()


def _letter(topics: Topics, offset: int, raw: bytes, found: str) -> DeadLetter:
    """A letter as an earlier, broken contract left it (the current one is fixed)."""
    return DeadLetter(
        source="returns_dlq",
        contract_version=1,
        topic=topics.raw("returns_dlq"),
        partition=0,
        offset=offset,
        key=f"S-{offset}",
        reason=f"source `returns_dlq`: field `why`: expected one of ['broken'], found {found}",
        field="why",
        expected="one of ['broken']",
        found=found,
        error_kind="invalid_value",
        original=base64.b64encode(raw).decode(),
        at=datetime(2026, 11, 20, tzinfo=UTC),
    )


def test_inspect_after_a_replay_shows_what_is_still_dead_once(
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    topics = Topics(settings.topic_prefix)
    # What a pipeline has: replay publishes to signals.canonical, sealed with keys on
    # privacy.keys (nothing auto-creates them).
    create_topics(settings)
    contract = tmp_path / "returns_dlq.yaml"
    contract.write_text(CONTRACT)
    code, out = run_cli(monkeypatch, capsys, settings, "sources", "register", str(contract))
    assert code == 0, out
    prod = producer(settings.kafka_client_config())
    for letter in (
        _letter(topics, 0, _event(0, "broken"), "'broken'"),  # maps now
        _letter(topics, 1, _event(1, SECRET), repr(SECRET)),  # fails again
    ):
        prod.produce(topics.dlq, key=letter.key.encode(), value=letter.model_dump_json().encode())
    assert prod.flush(10) == 0

    code, out = run_cli(monkeypatch, capsys, settings, "dlq", "inspect")
    assert code == 0 and "2 dead letter(s) in 1 cause(s), not replayed yet" in out, out
    assert SECRET not in out and "found a value (shown with --show-values)" in out
    assert "raw:" not in out

    code, out = run_cli(monkeypatch, capsys, settings, "dlq", "replay")
    assert code == 0 and "1 to the canonical topic, 1 back to the DLQ" in out, out

    # The recovered letter is gone; the one that failed again counts once.
    for args in ((), ("--unresolved",)):
        code, out = run_cli(monkeypatch, capsys, settings, "dlq", "inspect", *args)
        assert code == 0 and "1 dead letter(s) in 1 cause(s), not replayed yet" in out, out
        assert "returns_dlq  invalid_value  field why" in out and SECRET not in out
    code, out = run_cli(monkeypatch, capsys, settings, "sources", "list")
    row = next(line for line in out.splitlines() if line.startswith("returns_dlq"))
    assert row.split()[-2] == "1", row  # `dead` agrees with inspect

    code, out = run_cli(monkeypatch, capsys, settings, "dlq", "inspect", "--all")
    assert code == 0 and "3 dead letter(s) in" in out and "replayed ones included" in out, out
    assert SECRET not in out

    # An operator asks for the values: the value found and the raw bytes.
    code, out = run_cli(
        monkeypatch, capsys, settings, "dlq", "inspect", "--show-values", "--source", "returns_dlq"
    )
    assert code == 0 and f"found {SECRET!r}" in out, out
    assert 'raw: {"uuid": "r-1"' in out and SECRET in out
