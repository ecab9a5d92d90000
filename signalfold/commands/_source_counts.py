"""Per-source counts for ``signalfold sources list``, read from the topics themselves.

- received: records on the source's raw topic (``<prefix>signals.raw.<source>``),
  counted by reading it to a fence (Tansu's high watermark is not trusted);
- mapped: distinct signal ids of the source on ``signals.canonical`` (ingest
  redeliveries and replays of an event that already mapped count once);
- dead-lettered: distinct raw records (topic, partition, offset) of the source
  whose latest dead letter has not been replayed yet (``dlq replay`` commits
  its progress as a consumer group: a letter before that offset was replayed,
  and one that failed again left a newer letter behind). So a fixed and
  replayed source shows 0, and one bad event redelivered twice shows 1;
- warned: distinct signal ids of the source on ``signals.warnings`` (mapped
  events that left out an optional trait; they are counted in mapped too).

Reading the raw topics writes one fence record per partition to each of
them; consumers skip fences.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import TopicPartition

from signalfold.schemas.dlq import DeadLetter
from signalfold.streams.kafka import consumer, read_to_end
from signalfold.streams.topics import Topics

__all__ = ["SourceCounts", "source_counts", "unresolved_letters"]

Client = dict[str, str | int]
Coordinates = tuple[str, int | None, int | None]


@dataclass
class SourceCounts:
    """Received, mapped, dead-lettered and warned counts by source (see the module docstring)."""

    received: Counter[str] = field(default_factory=Counter)
    mapped: Counter[str] = field(default_factory=Counter)
    dead: Counter[str] = field(default_factory=Counter)
    warned: Counter[str] = field(default_factory=Counter)

    def sources(self) -> set[str]:
        """Every source seen on any of the topics."""
        return set(self.received) | set(self.mapped) | set(self.dead) | set(self.warned)


def _committed(client: Client, group: str, topic: str, parts: list[int]) -> dict[int, int]:
    """The offsets ``group`` committed on ``topic`` (partitions without one are absent)."""
    reader = consumer(client, group)
    try:
        done = reader.committed([TopicPartition(topic, p) for p in parts], timeout=10)
    finally:
        reader.close()
    return {tp.partition: tp.offset for tp in done if tp.offset >= 0}


def unresolved_letters(
    client: Client, topics: Topics, parts: list[int] | None = None
) -> list[DeadLetter]:
    """The latest dead letter of each raw record (topic, partition, offset) that
    ``dlq replay`` has not replayed yet (see the module docstring), oldest first."""
    if parts is None:
        meta = consumer(client, None)
        try:
            parts = sorted(meta.list_topics(topics.dlq, timeout=10).topics[topics.dlq].partitions)
        finally:
            meta.close()
    latest: dict[Coordinates, tuple[tuple[Any, int], int, int, DeadLetter]] = {}

    def handle(message: Any) -> None:
        letter = DeadLetter.model_validate_json(message.value() or b"")
        where: Coordinates = (letter.topic, letter.partition, letter.offset)
        if letter.offset is None:  # no raw coordinates: the letter itself is the record
            where = (topics.dlq, message.partition(), message.offset())
        entry = ((letter.at, message.offset()), message.partition(), message.offset())
        if where not in latest or entry[0] > latest[where][0]:
            latest[where] = (*entry, letter)

    read_to_end(client, topics.dlq, handle)
    group = f"{topics.prefix}signalfold-dlq-replay"
    replayed = _committed(client, group, topics.dlq, parts)
    by_source: dict[str, dict[int, int]] = {}
    out: list[tuple[tuple[Any, int], DeadLetter]] = []
    for at, partition, offset, letter in latest.values():
        if letter.source not in by_source:
            by_source[letter.source] = _committed(
                client, f"{group}.{letter.source}", topics.dlq, parts
            )
        done = max(replayed.get(partition, 0), by_source[letter.source].get(partition, 0))
        if offset >= done:
            out.append((at, letter))
    return [letter for _at, letter in sorted(out, key=lambda item: item[0])]


def _distinct_signals(client: Client, topic: str, keys: Any = None) -> Counter[str]:
    """Distinct ``signal_id`` values per ``source`` of the JSON records on ``topic``."""
    ids: dict[str, set[str]] = {}

    def seen(message: Any) -> None:
        value = keys.open(message.value()) if keys is not None else message.value()
        if value is None:
            return  # sealed for someone erased since
        body = json.loads(value)
        ids.setdefault(body["source"], set()).add(body["signal_id"])

    read_to_end(client, topic, seen)
    return Counter({source: len(found) for source, found in ids.items()})


def _quiet(_what: str) -> None:
    pass


def source_counts(
    client: Client, topics: Topics, on_step: Callable[[str], None] = _quiet, keys: Any = None
) -> SourceCounts:
    """Read the raw topics, ``signals.canonical``, ``signals.dlq`` and ``signals.warnings``
    and count per source; ``on_step`` hears which topic is being read (a spinner's text).

    ``keys`` opens the sealed canonical signals; an erased person's are not counted.
    """
    meta = consumer(client, None)
    try:
        existing = meta.list_topics(timeout=10).topics
    finally:
        meta.close()
    counts = SourceCounts()
    raw_prefix = topics.raw("")
    for topic in sorted(t for t in existing if t.startswith(raw_prefix)):
        on_step(f"reading {topic}")
        counts.received[topic.removeprefix(raw_prefix)] = read_to_end(
            client, topic, lambda _m: None
        )
    if topics.canonical in existing:
        on_step(f"reading {topics.canonical}")
        counts.mapped.update(_distinct_signals(client, topics.canonical, keys))
    if topics.warnings in existing:
        on_step(f"reading {topics.warnings}")
        counts.warned.update(_distinct_signals(client, topics.warnings))
    if topics.dlq in existing:
        on_step(f"reading {topics.dlq}")
        parts = sorted(existing[topics.dlq].partitions)
        counts.dead.update(letter.source for letter in unresolved_letters(client, topics, parts))
    return counts
