"""A record a stage cannot handle is dead-lettered; the rest of the batch goes on."""

from __future__ import annotations

import json
from collections.abc import Sequence

from pydantic import BaseModel

from signalfold.streams.runner import Output, StageBase, StageRunner, describe


class Record:
    def __init__(self, offset: int, value: bytes) -> None:
        self._offset, self._value = offset, value

    def value(self) -> bytes:
        return self._value

    def key(self) -> bytes:
        return b"k"

    def topic(self) -> str:
        return "signals.resolved"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset


class Person(BaseModel):
    email: str
    age: int


class ParsingStage(StageBase):
    """Parses every record; a bad one raises a ValidationError quoting its input."""

    name = "state"

    def __init__(self) -> None:
        self.handled: list[int] = []

    def process(self, messages: Sequence[Record]) -> list[Output]:
        out = []
        for m in messages:
            Person.model_validate_json(m.value())
            self.handled.append(m.offset())
            out.append(Output("customer.state", b"k", m.value()))
        return out


def test_poison_record_is_dead_lettered_without_its_values() -> None:
    stage = ParsingStage()
    runner = StageRunner(stage, {}, group="g", dlq_topic="signals.dlq")  # type: ignore[arg-type]
    good = b'{"email": "a@example.com", "age": 3}'
    poison = b'{"email": "secret.person@example.com", "age": "old"}'
    out = runner._process([Record(1, good), Record(2, poison), Record(3, good)])  # type: ignore[list-item]
    assert [o.topic for o in out] == ["customer.state", "signals.dlq", "customer.state"]
    letter = json.loads(out[1].value or b"")
    assert letter["source"] == "internal:state" and letter["offset"] == 2
    assert "age" in letter["reason"] and "secret.person" not in letter["reason"]
    assert stage.handled.count(3) == 1


def test_describe_keeps_fields_and_drops_values() -> None:
    try:
        Person.model_validate_json(b'{"email": "x@example.com", "age": "old"}')
    except Exception as exc:
        text = describe(exc)
    assert "age" in text and "x@example.com" not in text


def test_an_output_too_large_to_publish_is_set_aside_with_a_bounded_letter() -> None:
    from signalfold.schemas.dlq import EXCERPT_BYTES, letter_key
    from signalfold.streams.runner import MAX_RECORD_BYTES

    runner = StageRunner(ParsingStage(), {}, group="g", dlq_topic="signals.dlq")  # type: ignore[arg-type]
    small = Output("customer.state", b"cus_1", b"{}")
    assert runner._fitting(small) is small
    huge = Output("customer.state", b"cus_2", b"x" * (MAX_RECORD_BYTES + 1))
    out = runner._fitting(huge)
    assert (out.topic, out.key) == ("signals.dlq", letter_key(b"cus_2"))
    assert out.value is not None and len(out.value) < 2 * EXCERPT_BYTES
    letter = json.loads(out.value)
    assert letter["error_kind"] == "oversized" and letter["truncated"] is True
    assert letter["topic"] == "customer.state" and letter["original_bytes"] == MAX_RECORD_BYTES + 1
    assert letter["reason"].startswith("stage `state` could not publish a record to customer.state")
