"""Dead letters of oversized events keep an excerpt, a digest and a pointer, and say how
to replay the whole event."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

from signalfold.schemas.contract import load_contracts
from signalfold.schemas.dlq import EXCERPT_BYTES, DeadLetter
from signalfold.streams.ingest import map_event
from signalfold.streams.ingest.mapping import MappingError, dead_letter
from signalfold.streams.ingest.replay import replay_letter

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _letter(raw: bytes) -> DeadLetter:
    contract = load_contracts()["marketing"]
    try:
        map_event(contract, raw, received_at=NOW, max_bytes=1024)
    except MappingError as err:
        return dead_letter(
            err, source="marketing", contract_version=contract.version,
            topic="signals.raw.marketing", partition=2, offset=41, key="k", raw=raw, at=NOW,
        )  # fmt: skip
    raise AssertionError("expected a dead letter")


def test_an_oversized_event_keeps_an_excerpt_its_size_and_digest() -> None:
    raw = b'{"id": "x", "padding": "' + b"y" * (2 * EXCERPT_BYTES) + b'"}'
    letter = _letter(raw)
    assert letter.error_kind == "oversized" and letter.truncated
    assert base64.b64decode(letter.original) == raw[:EXCERPT_BYTES]
    assert (letter.original_bytes, letter.original_sha256) == (
        len(raw),
        hashlib.sha256(raw).hexdigest(),
    )
    again = replay_letter(letter, load_contracts(), now=NOW, max_bytes=10 * len(raw))
    assert isinstance(again, DeadLetter)
    assert "re-send it from signals.raw.marketing[2]@41" in again.reason
    twice = replay_letter(again, load_contracts(), now=NOW, max_bytes=10 * len(raw))
    assert isinstance(twice, DeadLetter) and twice.reason.count("re-send it") == 1


def test_a_small_bad_event_keeps_all_its_bytes() -> None:
    letter = _letter(b"{not json")
    assert not letter.truncated and base64.b64decode(letter.original) == b"{not json"
