"""Dead letters past ``SIGNALFOLD_RETENTION_DEAD_LETTERS``, as ``signalfold dlq`` treats them.

Retention counts from when a letter was written: its record's timestamp, as a
broker counts it. A broker that enforces ``retention.ms`` deletes a
partition's oldest letters; Tansu on memory storage keeps every one, and
answers a ListOffsets by time with offset 0 whatever the time. So ``dlq``
reads the topic and finds, per partition, the first record still within
retention; every record before it counts as deleted, as a broker deletes a
prefix of the log. ``inspect`` shows none of those, and ``replay`` first moves
its consumer group's committed offset past them, as a broker's deletion moves
a consumer to the earliest offset left.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta

from confluent_kafka import Message, TopicPartition

from signalfold.streams.kafka import consumer, offset_of, partition_of, read_to_end

__all__ = ["Expired", "first_kept", "read_expired", "skip_expired"]

Client = dict[str, str | int]


def first_kept(records: Iterable[tuple[int, int, int]], cutoff_ms: int) -> dict[int, int]:
    """Per partition, the offset where retention starts keeping: the first record of
    ``(partition, offset, timestamp_ms)`` written at or after ``cutoff_ms``; a partition
    whose records all expired maps to its last offset + 1. Only partitions with an
    expired record are present.

    Example::

        first_kept([(0, 0, 100), (0, 1, 900), (1, 5, 950)], cutoff_ms=500)  # {0: 1}
    """
    kept: dict[int, int] = {}
    expired: dict[int, int] = {}
    for partition, offset, stamp in sorted(records):
        if partition in kept:
            continue
        if stamp >= cutoff_ms:
            kept[partition] = offset
        else:
            expired[partition] = offset + 1
    return {p: kept.get(p, end) for p, end in expired.items()}


class Expired:
    """A topic's records read once, split at retention: ``kept`` and ``gone``.

    ``ends`` maps each partition with expired records to where retention starts keeping.
    """

    def __init__(self, messages: list[Message], cutoff: datetime | None) -> None:
        stamps = [(partition_of(m), offset_of(m), m.timestamp()[1]) for m in messages]
        cutoff_ms = int(cutoff.timestamp() * 1000) if cutoff is not None else 0
        self.ends = first_kept(stamps, cutoff_ms) if cutoff is not None else {}
        self.kept: list[Message] = []
        self.gone: list[Message] = []
        for m in messages:
            (self.gone if offset_of(m) < self.ends.get(partition_of(m), 0) else self.kept).append(m)

    def gone_values(self) -> set[bytes]:
        """The values of the expired records (to tell a letter read elsewhere is one)."""
        return {m.value() or b"" for m in self.gone}


def read_expired(client: Client, topic: str, retention: timedelta | None, now: datetime) -> Expired:
    """Read ``topic`` to its end and split it at retention (``None``: nothing expires)."""
    messages: list[Message] = []
    read_to_end(client, topic, messages.append)
    return Expired(messages, None if retention is None else now - retention)


def skip_expired(
    client: Client, group: str, topic: str, expired: Expired, source: str | None = None
) -> int:
    """Commit ``expired.ends`` for ``group`` where it has not read that far; returns how
    many expired letters (of ``source``, if given) it skips that would have been replayed."""
    if not expired.ends:
        return 0
    reader = consumer(client, group)
    try:
        done = {
            tp.partition: max(tp.offset, 0)
            for tp in reader.committed([TopicPartition(topic, p) for p in expired.ends], timeout=10)
        }
        ahead = [TopicPartition(topic, p, end) for p, end in expired.ends.items() if end > done[p]]
        if ahead:
            reader.commit(offsets=ahead, asynchronous=False)
    finally:
        reader.close()
    skipped = [m for m in expired.gone if offset_of(m) >= done[partition_of(m)]]
    if source is not None:
        skipped = [m for m in skipped if json.loads(m.value() or b"{}").get("source") == source]
    return len(skipped)
