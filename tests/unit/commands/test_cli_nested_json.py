"""Deeply nested but valid JSON is dead-lettered for its depth, not as invalid UTF-8 JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from signalfold.cli import main
from signalfold.schemas.contract import load_contract
from signalfold.streams.ingest import MappingError, dead_letter, map_event

CONTRACT = Path(__file__).parents[3] / "examples" / "returns_portal.yaml"
AT = datetime(2026, 11, 20, tzinfo=UTC)


def _deep(levels: int) -> bytes:
    """A returns event whose ``extra`` field holds ``levels - 1`` nested arrays (valid JSON)."""
    event = {"uuid": "r-deep", "status": "RECEIVED", "at": 1763632800123,
             "shopper": {"id": "S-1", "email": "a@example.com"}, "order": {"ref": "O-1"},
             "why": "broken", "note": "brackets [[[ in a string do not count"}  # fmt: skip
    text = json.dumps(event)[:-1] + ', "extra": ' + "[" * (levels - 1) + "]" * (levels - 1) + "}"
    return text.encode()


def test_the_dead_letter_names_the_depth_limit_and_the_depth_found() -> None:
    contract = load_contract(CONTRACT)
    raw = _deep(5000)
    with pytest.raises(MappingError) as caught:
        map_event(contract, raw, received_at=AT, max_bytes=10**6)
    err = caught.value
    assert err.kind == "invalid_json"
    assert err.expected.startswith("JSON nested at most ") and err.expected.endswith(" levels deep")
    limit = int(err.expected.split()[4])
    assert 100 < limit < 5000
    assert err.found == "5000 levels"
    letter = dead_letter(
        err, source=contract.name, contract_version=1, topic="signals.raw.returns_portal",
        partition=0, offset=7, key=b"S-1", raw=raw, at=AT,
    )  # fmt: skip
    assert "UTF-8" not in letter.reason
    assert letter.reason.startswith(
        f"source `returns_portal`: expected JSON nested at most {limit} levels deep, "
        "found 5000 levels"
    ), letter.reason
    # Just inside the limit it maps (the nesting is in a field the contract ignores).
    assert map_event(contract, _deep(limit - 5), received_at=AT, max_bytes=10**6)


def test_sources_test_says_why_a_deep_event_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = tmp_path / "deep.jsonl"
    sample.write_bytes(_deep(3000) + b"\n" + b'{"not json\n')
    assert main(["sources", "test", str(CONTRACT), str(sample)]) == 1
    out = capsys.readouterr().out
    assert f"{sample}:1: error invalid_json: source `returns_portal`: expected JSON nested " in out
    assert "levels deep, found 3000 levels" in out
    assert f"{sample}:2: error invalid_json: source `returns_portal`: expected valid JSON " in out
