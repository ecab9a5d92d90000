"""Keeps an identity graph current by tailing the resolve stage's own log.

A resolve worker that does not hold the lease (a hot standby, see
``streams/lease.py``) follows ``identity.changes`` as the owner publishes it,
and ``signals.canonical`` for the Splink matcher's record store (a record's
row is its first signal, stored once the graph knows the record, as a rebuild
stores it: a backlog not yet resolved must be scored when it is). When it takes
over, ``catch_up`` reads both to fences written just then (Tansu's watermark
points at the start of the last batch, so "the end" is a fence, as in
``streams.kafka.read_to_end``): the graph is the one the dead owner left, and
the new owner resumes from the committed offsets without rebuilding from zero.

The owner uses the same follower: its first ``catch_up`` is the rebuild from
offset 0. Applying a change twice is a no-op (``IdentityGraph.apply``), so the
owner's own changes, read back later, change nothing.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable

import orjson
from confluent_kafka import Consumer, KafkaException, Message, Producer, TopicPartition

from signalfold.identity.graph import IdentityGraph
from signalfold.identity.probabilistic import restore_rows
from signalfold.schemas import IdentityChange, Signal
from signalfold.streams.errors import StreamsError
from signalfold.streams.kafka import (
    FENCE_HEADER,
    consume_ready,
    consumer,
    fence_producer,
    is_fence,
)
from signalfold.streams.keylog import KeyLog
from signalfold.streams.runner import LostData
from signalfold.streams.topics import Topics

__all__ = ["GraphFollower"]

log = logging.getLogger(__name__)


class GraphFollower:
    """An identity graph fed from ``identity.changes`` (and canonical rows for Splink)."""

    def __init__(
        self,
        client: dict[str, str | int],
        topics: Topics,
        graph_factory: Callable[[], IdentityGraph],
        *,
        region: str,
        rows: bool,
        keys: KeyLog | None = None,
    ) -> None:
        self._client = client
        self._keys = keys
        self._changes = topics.identity_changes
        self._followed = [self._changes] + ([topics.canonical] if rows else [])
        self._region = region
        self.graph = graph_factory()
        self.applied = 0
        self._reader: Consumer | None = None
        self._fences: Producer | None = None
        self._partitions: list[TopicPartition] = []
        self._paused = False
        self._seen: set[bytes] = set()  # canonical keys (records) met so far
        self._unresolved: dict[bytes, bytes] = {}  # first signal of records the graph lacks
        self._ready: list[bytes] = []

    def poll(self, timeout: float) -> int:
        """Apply what arrived within ``timeout`` seconds (a standby's loop); returns how many."""
        reader = self._open()
        if self._paused:
            reader.resume(self._partitions)
            self._paused = False
        handled = 0
        batch = reader.consume(num_messages=5000, timeout=timeout)
        if self._keys is not None:
            self._keys.prepare(m.value() for m in batch if m.error() is None)
        for message in batch:
            if self._check(message) and not is_fence(message):
                self.handle(message)
                handled += 1
        self.store_rows()
        return handled

    def catch_up(self, timeout: float = 60.0) -> int:
        """Read everything published until now, up to fences; returns the changes applied.

        Then the reader pauses: an owner publishes the changes itself. ``timeout``
        bounds a wait without progress, not the whole read (a first catch-up reads
        the log from the start).
        """
        started, before = time.monotonic(), self.applied
        reader = self._open()
        if self._paused:
            reader.resume(self._partitions)
        fence = uuid.uuid4().hex.encode()
        fences = self._fences or fence_producer(self._client)
        for tp in self._partitions:
            fences.produce(
                tp.topic,
                key=b"",
                value=b"",
                partition=tp.partition,
                headers=[(FENCE_HEADER, fence)],
            )
        if fences.flush(10) != 0:
            self._lost(reader)
            raise StreamsError(f"could not write catch-up fences to {', '.join(self._followed)}")
        waiting = {(tp.topic, tp.partition) for tp in self._partitions}
        deadline = time.monotonic() + timeout
        while waiting:
            if time.monotonic() > deadline:
                raise StreamsError(
                    f"catching up {', '.join(sorted(t for t, _ in waiting))}: no progress for "
                    f"{timeout:.0f}s; check the broker, then restart the worker"
                )
            batch = consume_ready(reader, 5000, 0.2)
            if self._keys is not None:
                self._keys.prepare(m.value() for m in batch if m.error() is None)
            for message in batch:
                if not self._check(message):
                    continue
                deadline = time.monotonic() + timeout
                if is_fence(message):
                    if dict(message.headers() or []).get(FENCE_HEADER) == fence:
                        waiting.discard((message.topic(), message.partition()))
                    continue
                self.handle(message)
        self.store_rows()
        reader.pause(self._partitions)
        self._paused = True
        log.info(
            "resolve: caught up %d changes in %.2fs (%d in all)",
            self.applied - before,
            time.monotonic() - started,
            self.applied,
        )
        return self.applied - before

    def _lost(self, reader: Consumer) -> None:
        """Raise ``LostData`` if the followed topics are gone (a memory broker back empty)."""
        try:
            present = reader.list_topics(timeout=5).topics
        except KafkaException:  # unreachable: not a loss we can tell
            return
        gone = [t for t in self._followed if t not in present]
        if gone:
            raise LostData("resolve", f"{', '.join(gone)} no longer exist on the broker")

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._fences is not None:
            self._fences.flush(10)
            self._fences = None

    def _open(self) -> Consumer:
        if self._reader is None:
            reader = consumer(self._client, None)
            for topic in self._followed:
                meta = reader.list_topics(topic, timeout=10).topics[topic]
                self._partitions += [TopicPartition(topic, p, 0) for p in sorted(meta.partitions)]
            reader.assign(self._partitions)
            self._reader = reader
            self._fences = fence_producer(self._client)  # connected before a takeover needs it
        return self._reader

    def _check(self, message: Message) -> bool:
        error = message.error()
        if error is None:
            return True
        log.warning("resolve follower: consumer error %s", error.str())
        return False

    def handle(self, message: Message) -> None:
        """Fold one record of ``identity.changes`` or ``signals.canonical`` (no fences).

        Rows wait in memory until ``store_rows``, so a batch is stored at once.
        """
        if message.topic() == self._changes:
            value = self._unseal(message.value())
            if value is None:
                return  # sealed for someone erased since: gone from the graph too
            change = IdentityChange.model_validate_json(value)
            self.graph.apply(change)
            self.applied += 1
            key = change.record_id.encode()
            if key in self._unresolved and self.graph.customer_of_record(change.record_id):
                self._ready.append(self._unresolved.pop(key))
            return
        key = message.key() or b""  # canonical is keyed by record
        if key in self._seen:
            return  # a record's row is its first signal
        self._seen.add(key)
        value = self._unseal(message.value())
        if value is None:
            return
        record_id = _record_id(value) if self._keys else key.decode()
        if self.graph.customer_of_record(record_id):
            self._ready.append(value)
        else:
            self._unresolved[record_id.encode()] = value

    def _unseal(self, value: bytes | None) -> bytes | None:
        if self._keys is None:
            return value or b""
        return self._keys.open(value or b"")

    def store_rows(self) -> None:
        """Store the rows of the records the graph now knows in the matcher."""
        if self._ready:
            signals = (Signal.from_internal_json(v) for v in self._ready)
            restore_rows(self.graph.matcher, signals, region=self._region)
            self._ready = []


def _record_id(canonical: bytes) -> str:
    fields = orjson.loads(canonical)
    return f"{fields['source']}:{fields['record_key']}"
