"""Dead letters: group them by cause, and replay them through the current contracts.

``replay`` reads ``signals.dlq`` from the offsets a consumer group
(``<prefix>signalfold-dlq-replay``) last committed, up to a fence written now,
re-maps each letter's original bytes with the active contract of its source,
and produces a canonical signal (with its warnings, when it maps without an
optional trait) — or a new dead letter, keeping the original topic,
partition and offset — then commits. So a second replay starts after
the first and duplicates nothing; a letter that fails again is a new record
that the next replay (after the next fix) will try. Signal ids are stable, so
an event that had reached ``signals.canonical`` some other way is harmless.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, TypeVar

from confluent_kafka import Message, TopicPartition

from signalfold.schemas.contract import SourceContract
from signalfold.schemas.dlq import DeadLetter, FieldWarning
from signalfold.schemas.signal import Signal
from signalfold.streams.errors import StreamsError
from signalfold.streams.ingest.errors import DroppedTrait, MappingError, unknown_source_error
from signalfold.streams.ingest.mapping import dead_letter, field_warning, map_event
from signalfold.streams.kafka import (
    FENCE_HEADER,
    consumer,
    is_fence,
    offset_of,
    partition_of,
    producer,
)
from signalfold.streams.keylog import KeyLog, open_letter, seal_letter
from signalfold.streams.topics import Topics

__all__ = ["ReplayResult", "group_by_cause", "replay", "replay_letter"]

Client = dict[str, str | int]
Cause = tuple[str, str, str, str]  # source, kind, field, expected


class _SetAside(Protocol):
    """What dead letters and warnings share: grouped by the same cause."""

    @property
    def source(self) -> str: ...
    @property
    def error_kind(self) -> str: ...
    @property
    def field(self) -> str | None: ...
    @property
    def expected(self) -> str | None: ...


Letter = TypeVar("Letter", bound=_SetAside)


def group_by_cause(letters: Iterable[Letter]) -> list[tuple[Cause, list[Letter]]]:
    """Dead letters (or warnings) grouped by (source, kind, field, expected), largest first."""
    groups: dict[Cause, list[Letter]] = {}
    for letter in letters:
        cause = (letter.source, letter.error_kind, letter.field or "-", letter.expected or "-")
        groups.setdefault(cause, []).append(letter)
    return sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))


@dataclass
class ReplayResult:
    """What a replay did: letters read, signals produced, letters that failed again."""

    read: int = 0
    mapped: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)

    def lines(self) -> list[str]:
        out = [
            f"replayed {self.read} dead letter(s): {sum(self.mapped.values())} to the canonical "
            f"topic, {sum(self.failed.values())} back to the DLQ"
        ]
        out += [f"  mapped {source}: {n}" for source, n in sorted(self.mapped.items())]
        out += [f"  failed again {cause}: {n}" for cause, n in sorted(self.failed.items())]
        return out


def replay_letter(
    letter: DeadLetter,
    contracts: dict[str, SourceContract],
    *,
    now: datetime,
    max_bytes: int,
    warnings: list[FieldWarning] | None = None,
) -> Signal | DeadLetter:
    """The canonical signal of one letter under ``contracts``, or its new dead letter.

    A signal that mapped without an optional trait appends its warnings to
    ``warnings`` when given (with the letter's original coordinates).
    """
    if letter.truncated:  # an excerpt cannot be replayed: say where the whole event is
        where = f"{letter.topic}[{letter.partition}]@{letter.offset}"
        note = (
            f"; the letter keeps an excerpt of the {letter.original_bytes}-byte event — "
            f"re-send it from {where} (sha256 {letter.original_sha256}) once "
            "SIGNALFOLD_MAX_EVENT_BYTES allows it"
        )
        reason = letter.reason if note in letter.reason else letter.reason + note
        return letter.model_copy(update={"reason": reason, "at": now})
    raw = base64.b64decode(letter.original)
    contract = contracts.get(letter.source)
    dropped: list[DroppedTrait] = []
    try:
        if contract is None:
            raise unknown_source_error(letter.source, list(contracts))
        signal = map_event(contract, raw, received_at=now, max_bytes=max_bytes, dropped=dropped)
    except MappingError as err:
        again = dead_letter(
            err,
            source=letter.source,
            contract_version=contract.version if contract else None,
            topic=letter.topic,
            partition=letter.partition,
            offset=letter.offset,
            key=letter.key,
            raw=raw,
            at=now,
        )
        return again
    if warnings is not None:
        for trait in dropped:
            warnings.append(
                field_warning(
                    trait,
                    signal,
                    contract_version=contract.version,
                    topic=letter.topic,
                    partition=letter.partition,
                    offset=letter.offset,
                    at=now,
                )
            )
    return signal


def replay(
    client: Client,
    topics: Topics,
    contracts: dict[str, SourceContract],
    *,
    now: datetime,
    max_bytes: int,
    source: str | None = None,
    timeout: float = 60,
    on_letter: Callable[[DeadLetter, Signal | DeadLetter], None] | None = None,
    keys: KeyLog | None = None,
) -> ReplayResult:
    """Replay the dead letters not replayed yet (of ``source`` only, when given).

    With ``keys``, sealed letters are opened (those of erased people are skipped:
    gone) and what the replay writes is sealed as ingest seals it.
    """
    group = f"{topics.prefix}signalfold-dlq-replay" + (f".{source}" if source else "")
    reader = consumer(client, group)
    meta = reader.list_topics(topics.dlq, timeout=10).topics[topics.dlq]
    parts = sorted(meta.partitions)
    committed = reader.committed([TopicPartition(topics.dlq, p) for p in parts], timeout=10)
    fence = uuid.uuid4().hex.encode()
    prod = producer(client)
    for p in parts:
        prod.produce(topics.dlq, key=b"", value=b"", partition=p, headers=[(FENCE_HEADER, fence)])
    if prod.flush(10):
        raise StreamsError(f"could not write read-to-end fences to {topics.dlq}")
    reader.assign([TopicPartition(topics.dlq, tp.partition, max(tp.offset, 0)) for tp in committed])
    result, pending = ReplayResult(), set(parts)
    ends: dict[int, int] = {}
    deadline = time.monotonic() + timeout
    failures: list[str] = []

    def delivered(err: object, _m: Message) -> None:
        if err is not None:
            failures.append(str(err))

    try:
        while pending:
            if time.monotonic() > deadline:
                raise StreamsError(f"replaying {topics.dlq} took over {timeout:.0f}s")
            for message in reader.consume(num_messages=1000, timeout=0.2):
                if message.error() is not None:
                    continue
                ends[partition_of(message)] = offset_of(message) + 1
                if is_fence(message):
                    if dict(message.headers() or []).get(FENCE_HEADER) == fence:
                        pending.discard(partition_of(message))
                    continue
                opened = open_letter(DeadLetter.model_validate_json(message.value() or b""), keys)
                if opened is None:
                    continue  # sealed for someone erased since: gone
                letter = opened
                if source is not None and letter.source != source:
                    continue
                if letter.source.startswith("internal:"):
                    continue  # a stage's poison record, not a source event: no contract maps it
                result.read += 1
                warnings: list[FieldWarning] = []
                value = replay_letter(
                    letter, contracts, now=now, max_bytes=max_bytes, warnings=warnings
                )
                if on_letter is not None:
                    on_letter(letter, value)
                if isinstance(value, Signal):
                    result.mapped[letter.source] += 1
                    key: bytes | None = value.record_id.encode()
                    topic = topics.canonical
                    body = value.model_dump_json().encode()
                    if keys is not None:
                        key = keys.record_key(value.record_id)
                        body = keys.seal_records([value.record_id], body)
                else:
                    result.failed[f"{letter.source}/{value.error_kind}"] += 1
                    key, topic = message.key(), topics.dlq
                    body = seal_letter(value, keys).model_dump_json().encode()
                if keys is not None:
                    keys.publish()  # before what they seal
                prod.produce(topic, key=key, value=body, on_delivery=delivered)
                for warning in warnings:
                    body = warning.model_dump_json().encode()
                    key = warning.signal_id.encode()
                    prod.produce(topics.warnings, key=key, value=body, on_delivery=delivered)
                prod.poll(0)
        if prod.flush(30) or failures:
            raise StreamsError(
                f"replay: {len(failures)} record(s) not acknowledged ({failures[:1]}); nothing "
                "was committed, run the replay again"
            )
        if ends:
            reader.commit(
                offsets=[TopicPartition(topics.dlq, p, o) for p, o in ends.items()],
                asynchronous=False,
            )
    finally:
        reader.close()
    return result
