"""Ingest: raw source events → canonical signals, or dead letters with the reason.

Every raw record produces exactly one output: a canonical signal keyed by its
record (the record's subject id; the value sealed with the record's key, see
``privacy/sealing.py``), or a ``DeadLetter`` carrying the original bytes. So
the count of raw events always equals canonical + DLQ. A signal that mapped without an
optional trait that did not fit is also accompanied by one ``FieldWarning``
per dropped trait on ``signals.warnings`` (keyed by signal id): a side note,
not a second outcome.

Contracts can change while the stage runs: given a ``ContractTail`` (see
``streams/registry.py``) it takes newly registered contracts between batches,
and reads the registry to its end before dead-lettering an event whose topic
no known contract claims, so an event sent right after ``sources register``
is never lost to a race.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol

from confluent_kafka import Consumer, Message, TopicPartition

from signalfold.schemas.contract import SourceContract
from signalfold.schemas.dlq import letter_key
from signalfold.schemas.signal import Signal
from signalfold.streams.ingest.errors import DroppedTrait, MappingError, unknown_source_error
from signalfold.streams.ingest.mapping import dead_letter, field_warning, map_event
from signalfold.streams.kafka import topic_of
from signalfold.streams.keylog import KeyLog, seal_letter
from signalfold.streams.runner import Output, StageBase
from signalfold.streams.topics import Topics

__all__ = ["ContractSource", "IngestStage"]

log = logging.getLogger(__name__)


class ContractSource(Protocol):
    """Where live contract updates come from (``registry.ContractTail`` in production)."""

    def poll(self) -> list[SourceContract]: ...

    def catch_up(self) -> list[SourceContract]: ...

    def close(self) -> None: ...


class IngestStage(StageBase):
    name = "ingest"
    # process([]) about once a second when idle: a registration is taken even while no
    # event flows, so the next event of its source is mapped with it.
    wants_idle_ticks = True

    def __init__(
        self,
        contracts: dict[str, SourceContract],
        topics: Topics,
        *,
        max_event_bytes: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        updates: ContractSource | None = None,
        catch_up_every: float = 1.0,
        keys: KeyLog | None = None,
    ) -> None:
        self._topics = topics
        self._keys = keys
        self._by_topic = {topics.raw(c.name): c for c in contracts.values()}
        self._max = max_event_bytes
        self._clock = clock
        self._updates = updates
        self._catch_up_every = catch_up_every
        self._caught_up = float("-inf")
        self._caught_up_ms = 0  # wall clock of the last catch-up, to compare with event times
        self.mapped = 0
        self.dead = 0
        self.warned = 0
        self.by_source: Counter[tuple[str, str]] = Counter()  # (source, mapped|dead|warned)

    @property
    def contracts(self) -> dict[str, SourceContract]:
        """The contracts in use now, by source name."""
        return {c.name: c for c in self._by_topic.values()}

    def use(self, contract: SourceContract) -> None:
        """Start mapping ``contract``'s topic with it (a new source or a new version)."""
        topic = self._topics.raw(contract.name)
        old = self._by_topic.get(topic)
        if old is not None and old.version > contract.version:
            return
        if old is None or old.version != contract.version or old != contract:
            log.info(
                "ingest: source %s now at contract version %d", contract.name, contract.version
            )
        self._by_topic[topic] = contract

    def close(self) -> None:
        """Let go of the key log and the registry reader."""
        if self._keys is not None:
            self._keys.close()
        if self._updates is not None:
            self._updates.close()

    def topics(self) -> list[str]:
        """Every raw topic, by pattern: a topic no contract claims still reaches the DLQ."""
        return ["^" + re.escape(self._topics.raw("")) + ".+"]

    def on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Stateless: nothing to rebuild."""

    def on_revoke(self, partitions: list[TopicPartition]) -> None:
        """Stateless: nothing to drop."""

    def _contract_for(self, topic: str, produced_ms: int = 0) -> SourceContract | None:
        """``topic``'s contract; for a topic with none, the registry is read to its end
        at most once a ``catch_up_every``, or at once for an event produced after the
        last read (a contract registered just before it must map it)."""
        contract = self._by_topic.get(topic)
        due = time.monotonic() - self._caught_up >= self._catch_up_every
        due = due or produced_ms > self._caught_up_ms
        if contract is None and self._updates is not None and due:
            self._caught_up = time.monotonic()
            self._caught_up_ms = int(time.time() * 1000)
            for registered in self._updates.catch_up():
                self.use(registered)
            contract = self._by_topic.get(topic)
        return contract

    def process(self, messages: Sequence[Message]) -> list[Output]:
        if self._updates is not None:
            for update in self._updates.poll():
                self.use(update)
        now = self._clock()
        out: list[Output] = []
        for message in messages:
            raw = message.value() or b""
            topic = topic_of(message)
            kind, produced_ms = message.timestamp()
            contract = self._contract_for(topic, produced_ms if kind else 0)
            dropped: list[DroppedTrait] = []
            try:
                if contract is None:
                    source = topic.removeprefix(self._topics.raw(""))
                    raise unknown_source_error(source, [c.name for c in self._by_topic.values()])
                signal = map_event(
                    contract, raw, received_at=now, max_bytes=self._max, dropped=dropped
                )
            except MappingError as err:
                self.dead += 1
                self.by_source[(err.source, "dead")] += 1
                letter = dead_letter(
                    err,
                    source=contract.name if contract else None,
                    contract_version=contract.version if contract else None,
                    topic=topic,
                    partition=message.partition(),
                    offset=message.offset(),
                    key=message.key(),
                    raw=raw,
                    at=now,
                )
                log.info("dead letter from %s: %s", message.topic(), err.kind)
                dlq_key = (
                    letter_key(message.key())
                    if self._keys is None
                    else self._keys.ids.letter_key(message.key())
                )
                letter = seal_letter(letter, self._keys)
                out.append(Output(self._topics.dlq, dlq_key, letter.model_dump_json().encode()))
                continue
            self.mapped += 1
            self.by_source[(contract.name, "mapped")] += 1
            out.append(self._canonical(signal))
            if dropped:
                self.warned += 1
                self.by_source[(contract.name, "warned")] += 1
                out += self._warnings(contract, signal, dropped, message, now)
        if self._keys is not None:
            self._keys.publish()  # the keys of new records, before what they seal
        return out

    def _canonical(self, signal: Signal) -> Output:
        """The signal sealed with its record's key, keyed by the record's kid (no name)."""
        body = signal.model_dump_json().encode()
        if self._keys is None:
            return Output(self._topics.canonical, signal.record_id.encode(), body)
        key = self._keys.record_key(signal.record_id)
        return Output(
            self._topics.canonical, key, self._keys.seal_records([signal.record_id], body)
        )

    def _warnings(
        self,
        contract: SourceContract,
        signal: Signal,
        dropped: list[DroppedTrait],
        message: Message,
        now: datetime,
    ) -> list[Output]:
        out = []
        for trait in dropped:
            warning = field_warning(
                trait,
                signal,
                contract_version=contract.version,
                topic=topic_of(message),
                partition=message.partition(),
                offset=message.offset(),
                at=now,
            )
            log.info(
                "warning from %s: trait %s dropped (%s)", message.topic(), trait.trait, trait.kind
            )
            key = signal.signal_id.encode()
            out.append(Output(self._topics.warnings, key, warning.model_dump_json().encode()))
        return out
