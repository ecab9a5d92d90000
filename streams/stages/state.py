"""State: resolved signals → ``CustomerState`` and suppression changes.

Each partition's customers live in a ``PartitionStore`` (RocksDB under
``<data_dir>/state/``, a bounded hot cache in memory), owned by whichever
worker holds the partition. The store is checkpointed: it holds the fold of
the input up to an offset. On assignment the stage replays only the records
between that checkpoint and the committed offset; with no store, or one ahead
of the commits (a reset or a lost broker), it starts over from offset 0. So a
restarted or new worker resumes with exactly the state the old one had.

When a checkpoint is safe: the runner commits a batch only after its outputs
are acknowledged, and calls ``process`` again only if that succeeded. So a
``process`` call may first write what the previous calls changed, with their
end offsets (at most about once a second, and on every idle tick);
``on_revoke`` writes nothing. A checkpoint never covers a record whose
outputs (a transfer to another partition, a state) might not be out: a replay
from it would not send them again. (The runner's record-by-record retry of a
failed batch calls ``process`` per record before anything is committed: a
store written then is ahead of the commits, and a restart replays from offset
0 — slower, never wrong.)

Merges cross partitions with two control records (see
``schemas/resolved.py``): the absorbed customer's owner forwards its aggregate
to the survivor's partition, where it is merged; merging is commutative and
idempotent, so the order of arrival does not matter.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson
from confluent_kafka import Consumer, Message, TopicPartition

from signalfold.policy import Policy
from signalfold.policy.reload import PolicyWatcher, next_expiry
from signalfold.schemas import Resolved
from signalfold.schemas.state import Flag
from signalfold.streams.kafka import offset_of, partition_of, read_partition_until
from signalfold.streams.keylog import KeyLog
from signalfold.streams.runner import Output, StageBase
from signalfold.streams.stages.rebuild import start_over
from signalfold.streams.state.aggregate import CustomerAggregate, Published
from signalfold.streams.state.bounds import DEFAULT_BOUNDS, Bounds
from signalfold.streams.state.facts import (
    IdentityKey,
    SignalFacts,
    facts_from_json,
    identity_keys,
)
from signalfold.streams.state.flag_changes import flag_change, keyed
from signalfold.streams.state.store import PartitionStore, UnreadableStore
from signalfold.streams.topics import Topics

__all__ = ["CHECKPOINT_SECONDS", "StateStage"]

#: Longest a busy stage goes without writing its stores (and so the most a restart
#: replays, in time): the idle tick writes them as soon as the stage is quiet.
CHECKPOINT_SECONDS = 1.0

log = logging.getLogger(__name__)


@dataclass
class _Partition:
    store: PartitionStore
    path: Path | None = None
    end: int | None = None  # after the last record ``process`` folded: the next checkpoint
    touched: set[str] = field(default_factory=set)  # changed by a replay
    written: float = field(default_factory=time.monotonic)  # when the store was last written

    @property
    def aggregates(self) -> PartitionStore:
        return self.store

    @property
    def forwards(self) -> dict[str, str]:
        return self.store.forwards


def _signal_for(
    part: _Partition, value: bytes
) -> tuple[str, SignalFacts, list[IdentityKey]] | None:
    """A ``signal`` record for a customer ``part`` holds, decoded for the fold; else ``None``."""
    try:
        record = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None  # the model says what is wrong with it
    if not isinstance(record, dict) or record.get("kind") != "signal":
        return None
    cid, signal = record.get("customer_id"), record.get("signal")
    if not isinstance(cid, str) or not isinstance(signal, dict) or cid in part.forwards:
        return None
    return cid, facts_from_json(signal), identity_keys(record.get("identities") or [])


def _track_expiry(part: _Partition, cid: str, flags: list[Flag]) -> None:
    part.store.set_expiry(cid, next_expiry(flags))


class StateStage(StageBase):
    """See the module docstring. Also re-evaluates customers when a flag expires or the
    policy file is edited (``PolicyWatcher``), on batches and on the runner's idle ticks.

    ``data_dir`` holds the partitions' stores (``None``: in memory, nothing survives
    the process); ``cache_customers`` bounds the customers each keeps in memory.
    ``restored`` says, per partition, how the last assignment began: ``("store",
    n)`` replayed the n records after the store's checkpoint, ``("replay", n)``
    rebuilt from offset 0.
    """

    name = "state"
    wants_idle_ticks = True  # the runner calls process([]) about once a second when idle
    # A failed batch may have deleted a merged customer whose transfer was in its
    # discarded outputs: the runner rewinds the stores to the commits before it
    # retries the records one by one (``StageRunner._process``).
    rewinds_after_failure = True

    def __init__(
        self,
        topics: Topics,
        policy: Policy,
        client: dict[str, str | int],
        *,
        timeline_size: int = 50,
        bounds: Bounds = DEFAULT_BOUNDS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        policy_reload_seconds: float = 2.0,
        data_dir: Path | None = None,
        cache_customers: int = 10_000,
        keys: KeyLog | None = None,
    ) -> None:
        self._topics = topics
        self._keys = keys
        self._policy = policy
        self._watcher = PolicyWatcher(policy, interval=policy_reload_seconds)
        self._client = client
        self._timeline_size = timeline_size
        self._bounds = bounds
        self._clock = clock
        self._data_dir = data_dir
        self._cache = cache_customers
        self._parts: dict[int, _Partition] = {}
        self.restored: dict[int, tuple[str, int]] = {}

    def topics(self) -> list[str]:
        return [self._topics.resolved]

    def _path(self, partition: int) -> Path | None:
        if self._data_dir is None:
            return None
        return self._data_dir / "state" / f"{self._topics.resolved}-{partition}"

    def _open(self, partition: int) -> _Partition:
        path = self._path(partition)
        try:
            store = PartitionStore.open(
                path, cache_customers=self._cache, bounds=self._bounds, sealer=self._keys
            )
        except UnreadableStore as exc:
            assert path is not None  # an in-memory store is always new
            log.warning("state: partition %d: %s; rebuilding it from offset 0", partition, exc)
            PartitionStore.destroy(path)
            store = PartitionStore.open(
                path, cache_customers=self._cache, bounds=self._bounds, sealer=self._keys
            )
        part = self._parts[partition] = _Partition(store, path)
        return part

    def on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in consumer.committed(partitions, timeout=30):
            old = self._parts.pop(tp.partition, None)
            if old is not None:
                old.store.close()
            part = self._open(tp.partition)
            end = tp.offset if tp.offset > 0 else 0
            start = part.store.checkpoint
            if start is None or start > end:
                if start is not None:
                    log.warning(
                        "state: partition %d store is at offset %d, ahead of the commits "
                        "(%d): the topic was reset or the broker lost data; rebuilding it "
                        "from offset 0",
                        tp.partition,
                        start,
                        end,
                    )
                part = self._reopen_empty(part, tp.partition)
                start = 0
            replayed = self._replay(part, tp.topic, tp.partition, start, end)
            how = "replay" if start == 0 else "store"
            self.restored[tp.partition] = (how, replayed)
            if how == "store":
                log.info(
                    "state: partition %d restored from its store at offset %d; "
                    "replayed %d records to %d",
                    tp.partition,
                    start,
                    replayed,
                    end,
                )
            else:
                log.info(
                    "state: partition %d rebuilt from %d records from offset 0 (no store "
                    "to start from)",
                    tp.partition,
                    replayed,
                )

    def _reopen_empty(self, part: _Partition, partition: int) -> _Partition:
        part.store.close()
        if part.path is not None:
            PartitionStore.destroy(part.path)
        return self._open(partition)

    def _replay(self, part: _Partition, topic: str, partition: int, start: int, end: int) -> int:
        """Fold ``[start, end)`` into the store, then compute the flags of whom it changed.

        These records' outputs are out (they are below the commits), so the store is
        written as the replay goes, keeping memory within the cache; but the checkpoint
        moves only at the end, with the flags: a replay cut short starts again from
        ``start`` over a store that already holds some of it (the fold is idempotent).
        """
        replayed = 0
        budget = 120.0 + (end - start) / 1000  # the deadline covers the fold: 1 ms a record
        records = read_partition_until(self._client, topic, partition, end, budget, start=start)
        for message in records:
            self._apply(part, message, emit=None)
            replayed += 1
            if part.store.dirty_customers >= self._cache:  # memory: at most twice the cache
                part.store.commit(None)
        now = self._clock()
        for n, cid in enumerate(sorted(part.touched), 1):  # from 0: every customer
            agg = part.store.get(cid)
            if agg is None:
                continue
            flags = agg.publish(self._policy, now).flags
            part.store.set_flags(cid, keyed(flags))
            _track_expiry(part, cid, flags)
            if n % self._cache == 0:
                part.store.commit(None)
        part.touched.clear()
        part.store.commit(end)
        return replayed

    def on_revoke(self, partitions: list[TopicPartition]) -> None:
        """Close the partitions' stores without writing what the last batch changed.

        Whether that batch's outputs are out is unknown here: the runner also revokes
        after a failed batch (a fatal producer, a stop on error), and a closing consumer
        cannot ask the broker for its commits. The idle tick (``process([])`` about once
        a second) writes it when the stage is quiet; otherwise a restart replays it.
        """
        for tp in partitions:
            part = self._parts.pop(tp.partition, None)
            if part is not None:
                part.store.close()

    def _checkpoint(self, idle: bool) -> None:
        """Write what the previous ``process`` calls changed: their outputs are out.

        At most about once a second while busy (a customer changed by many batches is
        written once; a restart replays at most that second), when the changed
        customers reach half the cache, and on every idle tick.
        """
        now = time.monotonic()
        for part in self._parts.values():
            behind = part.end is not None and part.end != part.store.checkpoint
            if not (part.store.pending or behind):
                continue
            due = idle or now - part.written >= CHECKPOINT_SECONDS
            if due or part.store.dirty_customers >= self._cache // 2:
                part.store.commit(part.end)
                part.written = now

    def process(self, messages: Sequence[Message]) -> list[Output]:
        self._checkpoint(idle=not messages)
        reloaded = self._watcher.poll()
        if reloaded is not None:
            self._policy = reloaded
        if self._keys is not None:
            self._keys.prepare(m.value() for m in messages)  # one key-log read a batch
        out: list[Output] = []
        dirty: dict[int, set[str]] = {}
        durable = self._data_dir is not None
        for message in messages:
            partition = partition_of(message)
            part = self._parts.get(partition) or self._open(partition)
            touched = self._apply(part, message, emit=out)
            if durable:
                part.end = offset_of(message) + 1
            if touched:
                dirty.setdefault(partition, set()).add(touched)
        now = self._clock()
        for partition, customers in dirty.items():
            part = self._parts[partition]
            for cid in sorted(customers):
                agg = part.store.get(cid)
                if agg is not None:
                    self._publish(part, cid, agg.publish(self._policy, now), now, out)
        self._reevaluate(now, out, dirty, everyone=reloaded is not None)
        if self._keys is not None:
            self._keys.publish()  # keys this batch made, before the values they seal
        return out

    def close(self) -> None:
        """Let go of the key log (the stores are closed on revoke)."""
        if self._keys is not None:
            self._keys.close()

    def _seal(self, cid: str, body: bytes) -> bytes:
        """A value about customer ``cid``, sealed with its key (erasure deletes it)."""
        return body if self._keys is None else self._keys.seal_customer(cid, body)

    def _reevaluate(
        self, now: datetime, out: list[Output], done: dict[int, set[str]], *, everyone: bool
    ) -> None:
        """Republish customers whose flags expired by ``now`` or (``everyone``, after a
        policy reload) whose flags the new policy changes."""
        for partition, part in self._parts.items():
            skip = done.get(partition, set())
            if everyone:
                due = [cid for cid in part.store.customer_ids() if cid not in skip]
            else:
                due = [c for c in part.store.due(now) if c not in skip]
            for cid in sorted(due):
                agg = part.store.get(cid)
                if agg is None:
                    part.store.set_expiry(cid, None)
                    continue
                state = agg.publish(self._policy, now)
                if everyone and keyed(state.flags) == part.store.flags(cid):
                    continue
                self._publish(part, cid, state, now, out)

    def _apply(self, part: _Partition, message: Message, emit: list[Output] | None) -> str | None:
        """Fold one record; returns the customer whose state changed, if any.

        A signal for a customer this partition holds (nearly every record) is
        read with ``orjson`` into what the fold needs; control records, signals
        to forward and anything ``orjson`` cannot read take the model.
        """
        cid = self._fold(part, message, emit)
        if cid is not None and emit is None:
            part.touched.add(cid)
        return cid

    def _fold(self, part: _Partition, message: Message, emit: list[Output] | None) -> str | None:
        value = message.value() or b""
        if self._keys is not None:
            opened = self._keys.open(value)
            if opened is None:
                return None  # sealed for someone erased since: gone
            value = opened
        fast = _signal_for(part, value)
        if fast is not None:
            cid, facts, identities = fast
            agg, new = self._customer(part, cid)
            return self._changed(part, cid, agg, agg.fold(facts, identities) or new)
        record = Resolved.from_internal_json(value)
        cid = record.customer_id
        if record.kind == "signal" and record.signal is not None:
            survivor = part.forwards.get(cid)
            if survivor is not None:
                # Sent before the merge reached us: the survivor lives elsewhere.
                if emit is not None:
                    moved = Resolved(
                        kind="signal",
                        customer_id=survivor,
                        signal=record.signal,
                        identities=record.identities,
                    )
                    body = moved.model_dump_json().encode()
                    if self._keys is not None:
                        body = self._keys.seal_records([record.signal.record_id], body)
                    emit.append(Output(self._topics.resolved, survivor.encode(), body))
                return None
            agg, new = self._customer(part, cid)
            return self._changed(part, cid, agg, agg.apply(record.signal, record.identities) or new)
        if record.kind == "merge" and record.into is not None:
            part.store.set_forward(cid, record.into)
            absorbed = part.store.delete(cid)
            part.store.set_flags(cid, None)
            if emit is not None:
                emit.append(Output(self._topics.customer_state, cid.encode(), None))
            if absorbed is not None and emit is not None:
                transfer = Resolved(
                    kind="transfer", customer_id=record.into, transfer=absorbed.to_transfer()
                )
                body = self._seal(record.into, transfer.model_dump_json().encode())
                emit.append(Output(self._topics.resolved, record.into.encode(), body))
            return None
        if record.kind == "erase":
            self._erase(part, record, emit)
            return None
        if record.kind == "rebuild":  # a split: this customer starts over from its own signals
            aggregates: dict[str, CustomerAggregate] = {}
            forwards = {cid: part.forwards[cid]} if cid in part.forwards else {}
            start_over(
                aggregates,
                forwards,
                record,
                timeline_size=self._timeline_size,
                bounds=self._bounds,
            )
            if cid not in forwards:
                part.store.set_forward(cid, None)
            part.store.put(cid, aggregates[cid])
            return cid
        if record.kind == "transfer" and record.transfer is not None:
            survivor = part.forwards.get(cid)
            if survivor is not None:
                # The target was itself absorbed meanwhile (a merge chain): pass it on,
                # or the flags it carries would come back under a dead id.
                if emit is not None:
                    onward = Resolved(
                        kind="transfer", customer_id=survivor, transfer=record.transfer
                    )
                    body = self._seal(survivor, onward.model_dump_json().encode())
                    emit.append(Output(self._topics.resolved, survivor.encode(), body))
                return None
            incoming = CustomerAggregate.from_transfer(record.transfer, self._bounds)
            agg, _ = self._customer(part, cid)
            agg.merge(incoming)
            return self._changed(part, cid, agg, True)
        return None

    def _erase(self, part: _Partition, record: Resolved, emit: list[Output] | None) -> None:
        """Forget an erased customer and every id merged into it; tombstone their states."""
        for cid in (record.customer_id, *record.aliases):
            part.store.delete(cid)
            part.store.set_flags(cid, None)
            part.store.set_expiry(cid, None)
            part.store.set_forward(cid, None)
            part.touched.discard(cid)
            if emit is not None:
                emit.append(Output(self._topics.customer_state, cid.encode(), None))
        return None

    def _customer(self, part: _Partition, cid: str) -> tuple[CustomerAggregate, bool]:
        """The customer's aggregate, and whether it is new (not yet in the store)."""
        agg = part.store.get(cid)
        if agg is not None:
            return agg, False
        return CustomerAggregate(cid, timeline_size=self._timeline_size, bounds=self._bounds), True

    @staticmethod
    def _changed(part: _Partition, cid: str, agg: CustomerAggregate, changed: bool) -> str | None:
        if not changed:
            return None
        part.store.put(cid, agg)
        return cid

    def _publish(
        self, part: _Partition, cid: str, state: Published, now: datetime, out: list[Output]
    ) -> None:
        t = self._topics
        out.append(Output(t.customer_state, cid.encode(), self._seal(cid, state.json)))
        _track_expiry(part, cid, state.flags)
        after, change = flag_change(cid, state.version, now, part.store.flags(cid), state.flags)
        if change is None:
            return
        part.store.set_flags(cid, after)
        body = self._seal(cid, change.model_dump_json().encode())
        out.append(Output(t.suppression_changes, cid.encode(), body))
