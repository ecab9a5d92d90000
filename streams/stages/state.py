"""State: resolved signals → ``CustomerState`` and suppression changes.

Each partition's customers live in memory, owned by whichever worker holds the
partition. On assignment a partition is rebuilt by replaying its input up to
the committed offset, so a restarted or new worker resumes with exactly the
state the old one had. Merges cross partitions with two control records (see
``schemas/resolved.py``): the absorbed customer's owner forwards its aggregate
to the survivor's partition, where it is merged; merging is commutative and
idempotent, so the order of arrival does not matter.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
from confluent_kafka import Consumer, Message, TopicPartition

from signalfold.schemas import Resolved
from signalfold.schemas.state import Flag, SuppressionChange
from signalfold.streams.kafka import read_partition_until
from signalfold.streams.policy import Policy
from signalfold.streams.policy.reload import PolicyWatcher, next_expiry
from signalfold.streams.runner import Output
from signalfold.streams.stages.rebuild import start_over
from signalfold.streams.state.aggregate import CustomerAggregate, Published
from signalfold.streams.state.bounds import DEFAULT_BOUNDS, Bounds
from signalfold.streams.state.facts import (
    IdentityKey,
    SignalFacts,
    facts_from_json,
    identity_keys,
)
from signalfold.streams.topics import Topics

__all__ = ["StateStage"]

log = logging.getLogger(__name__)


@dataclass
class _Partition:
    aggregates: dict[str, CustomerAggregate] = field(default_factory=dict)
    forwards: dict[str, str] = field(default_factory=dict)
    flags: dict[str, dict[str, Flag]] = field(default_factory=dict)
    expiries: dict[str, datetime] = field(default_factory=dict)


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


def _flag_key(flag: Flag) -> str:
    return f"{flag.rule}:{flag.signal_id}"


def _track_expiry(part: _Partition, cid: str, flags: list[Flag]) -> None:
    expiry = next_expiry(flags)
    if expiry is None:
        part.expiries.pop(cid, None)
    else:
        part.expiries[cid] = expiry


class StateStage:
    """See the module docstring. Also re-evaluates customers when a flag expires or the
    policy file is edited (``PolicyWatcher``), on batches and on the runner's idle ticks."""

    name = "state"
    wants_idle_ticks = True  # the runner calls process([]) about once a second when idle

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
    ) -> None:
        self._topics = topics
        self._policy = policy
        self._watcher = PolicyWatcher(policy, interval=policy_reload_seconds)
        self._client = client
        self._timeline_size = timeline_size
        self._bounds = bounds
        self._clock = clock
        self._parts: dict[int, _Partition] = {}

    def topics(self) -> list[str]:
        return [self._topics.resolved]

    def on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        committed = consumer.committed(partitions, timeout=30)
        for tp in committed:
            part = self._parts[tp.partition] = _Partition()
            end = tp.offset if tp.offset > 0 else 0
            replayed = 0
            for message in read_partition_until(self._client, tp.topic, tp.partition, end):
                self._apply(part, message, emit=None)
                replayed += 1
            now = self._clock()
            for cid, agg in part.aggregates.items():
                flags = agg.publish(self._policy, now).flags
                part.flags[cid] = {_flag_key(f): f for f in flags}
                _track_expiry(part, cid, flags)
            log.info("state: partition %d rebuilt from %d records", tp.partition, replayed)

    def on_revoke(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self._parts.pop(tp.partition, None)

    def process(self, messages: Sequence[Message]) -> list[Output]:
        reloaded = self._watcher.poll()
        if reloaded is not None:
            self._policy = reloaded
        out: list[Output] = []
        dirty: dict[int, set[str]] = {}
        for message in messages:
            part = self._parts.setdefault(message.partition(), _Partition())
            touched = self._apply(part, message, emit=out)
            if touched:
                dirty.setdefault(message.partition(), set()).add(touched)
        now = self._clock()
        for partition, customers in dirty.items():
            part = self._parts[partition]
            for cid in sorted(customers):
                agg = part.aggregates.get(cid)
                if agg is not None:
                    self._publish(part, cid, agg.publish(self._policy, now), now, out)
        self._reevaluate(now, out, dirty, everyone=reloaded is not None)
        return out

    def _reevaluate(
        self, now: datetime, out: list[Output], done: dict[int, set[str]], *, everyone: bool
    ) -> None:
        """Republish customers whose flags expired by ``now`` or (``everyone``, after a
        policy reload) whose flags the new policy changes."""
        for partition, part in self._parts.items():
            skip = done.get(partition, set())
            if everyone:
                due = [cid for cid in part.aggregates if cid not in skip]
            else:
                due = [c for c, at in part.expiries.items() if at <= now and c not in skip]
            for cid in sorted(due):
                agg = part.aggregates.get(cid)
                if agg is None:
                    part.expiries.pop(cid, None)
                    continue
                state = agg.publish(self._policy, now)
                if everyone and {_flag_key(f): f for f in state.flags} == part.flags.get(cid):
                    continue
                self._publish(part, cid, state, now, out)

    def _apply(self, part: _Partition, message: Message, emit: list[Output] | None) -> str | None:
        """Fold one record; returns the customer whose state changed, if any.

        A signal for a customer this partition holds (nearly every record) is
        read with ``orjson`` into what the fold needs; control records, signals
        to forward and anything ``orjson`` cannot read take the model.
        """
        value = message.value() or b""
        fast = _signal_for(part, value)
        if fast is not None:
            cid, facts, identities = fast
            agg = part.aggregates.get(cid)
            if agg is None:
                agg = part.aggregates[cid] = CustomerAggregate(
                    cid, timeline_size=self._timeline_size, bounds=self._bounds
                )
            return cid if agg.fold(facts, identities) else None
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
                    emit.append(
                        Output(
                            self._topics.resolved,
                            survivor.encode(),
                            moved.model_dump_json().encode(),
                        )
                    )
                return None
            agg = part.aggregates.get(cid)
            if agg is None:
                agg = part.aggregates[cid] = CustomerAggregate(
                    cid, timeline_size=self._timeline_size, bounds=self._bounds
                )
            return cid if agg.apply(record.signal, record.identities) else None
        if record.kind == "merge" and record.into is not None:
            part.forwards[cid] = record.into
            absorbed = part.aggregates.pop(cid, None)
            part.flags.pop(cid, None)
            if emit is not None:
                emit.append(Output(self._topics.customer_state, cid.encode(), None))
            if absorbed is not None and emit is not None:
                transfer = Resolved(
                    kind="transfer", customer_id=record.into, transfer=absorbed.to_transfer()
                )
                emit.append(
                    Output(
                        self._topics.resolved,
                        record.into.encode(),
                        transfer.model_dump_json().encode(),
                    )
                )
            return None
        if record.kind == "rebuild":  # a split: this customer starts over from its own signals
            return start_over(
                part.aggregates,
                part.forwards,
                record,
                timeline_size=self._timeline_size,
                bounds=self._bounds,
            )
        if record.kind == "transfer" and record.transfer is not None:
            survivor = part.forwards.get(cid)
            if survivor is not None:
                # The target was itself absorbed meanwhile (a merge chain): pass it on,
                # or the flags it carries would come back under a dead id.
                if emit is not None:
                    onward = Resolved(
                        kind="transfer", customer_id=survivor, transfer=record.transfer
                    )
                    emit.append(
                        Output(
                            self._topics.resolved,
                            survivor.encode(),
                            onward.model_dump_json().encode(),
                        )
                    )
                return None
            incoming = CustomerAggregate.from_transfer(record.transfer, self._bounds)
            agg = part.aggregates.get(cid)
            if agg is None:
                agg = part.aggregates[cid] = CustomerAggregate(
                    cid, timeline_size=self._timeline_size, bounds=self._bounds
                )
            agg.merge(incoming)
            return cid
        return None

    def _publish(
        self, part: _Partition, cid: str, state: Published, now: datetime, out: list[Output]
    ) -> None:
        t = self._topics
        out.append(Output(t.customer_state, cid.encode(), state.json))
        _track_expiry(part, cid, state.flags)
        before = part.flags.get(cid, {})
        after = {_flag_key(f): f for f in state.flags}
        if before == after:
            return
        part.flags[cid] = after
        change = SuppressionChange(
            customer_id=cid,
            state_version=state.version,
            changed_at=now,
            raised=sorted({after[k].rule for k in after.keys() - before.keys()}),
            cleared=sorted({before[k].rule for k in before.keys() - after.keys()}),
            flags=list(state.flags),
        )
        out.append(Output(t.suppression_changes, cid.encode(), change.model_dump_json().encode()))
