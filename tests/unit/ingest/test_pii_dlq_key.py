"""Dead letters are keyed by a digest of the raw key, never the raw key (often an email)."""

from __future__ import annotations

import hashlib
import json

from ingest_helpers import NOW, contracts

from signalfold.schemas.dlq import DeadLetter, letter_key
from signalfold.streams.runner import Output, StageBase, StageRunner
from signalfold.streams.stages.ingest import IngestStage
from signalfold.streams.topics import Topics

TOPICS = Topics("p.")
EMAIL_KEY = b"Jane.Doe@example.com"


class _Msg:
    def __init__(self, topic: str, value: bytes) -> None:
        self._topic, self._value = topic, value

    def topic(self) -> str:
        return self._topic

    def value(self) -> bytes:
        return self._value

    def key(self) -> bytes:
        return EMAIL_KEY

    def partition(self) -> int:
        return 0

    def timestamp(self) -> tuple[int, int]:
        return self._timestamp if hasattr(self, "_timestamp") else (0, -1)  # not available

    def offset(self) -> int:
        return 7


def test_letter_key_is_a_stable_digest_and_absent_keys_stay_absent() -> None:
    expected = b"sha256:" + hashlib.sha256(EMAIL_KEY).hexdigest().encode()
    assert letter_key(EMAIL_KEY) == expected == letter_key(bytes(EMAIL_KEY))
    assert letter_key(b"other@example.com") != expected
    assert letter_key(None) is None and letter_key(b"") is None


def test_ingest_keys_its_dead_letter_by_the_digest_and_keeps_the_letter_fields() -> None:
    stage = IngestStage(dict(contracts()), TOPICS, max_event_bytes=4096, clock=lambda: NOW)
    [out] = stage.process([_Msg("p.signals.raw.nobody", b"{}")])
    assert out.topic == TOPICS.dlq
    assert out.key == letter_key(EMAIL_KEY) and b"example.com" not in (out.key or b"")
    letter = DeadLetter.model_validate_json(out.value)
    assert letter.key == EMAIL_KEY.decode() and letter.offset == 7  # the record is unchanged


class _Failing(StageBase):
    name = "state"

    def process(self, messages: list[_Msg]) -> list[Output]:
        raise ValueError("cannot handle it")


def test_a_stage_poison_record_is_keyed_by_the_digest() -> None:
    runner = StageRunner(_Failing(), {}, group="g", dlq_topic="signals.dlq")  # type: ignore[arg-type]
    [out] = runner._process([_Msg("signals.resolved", b"{}")])  # type: ignore[list-item]
    assert out.topic == "signals.dlq" and out.key == letter_key(EMAIL_KEY)
    assert json.loads(out.value)["key"] == EMAIL_KEY.decode()
