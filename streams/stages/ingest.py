"""Ingest: raw source events → canonical signals, or dead letters with the reason.

Every raw record produces exactly one output: a canonical signal keyed by its
record id, or a ``DeadLetter`` carrying the original bytes. So the count of
raw events always equals canonical + DLQ.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from confluent_kafka import Consumer, Message, TopicPartition

from signalfold.schemas.contract import SourceContract
from signalfold.streams.ingest.errors import MappingError, unknown_source_error
from signalfold.streams.ingest.mapping import dead_letter, map_event
from signalfold.streams.runner import Output
from signalfold.streams.topics import Topics

__all__ = ["IngestStage"]

log = logging.getLogger(__name__)


class IngestStage:
    name = "ingest"

    def __init__(
        self,
        contracts: dict[str, SourceContract],
        topics: Topics,
        *,
        max_event_bytes: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._topics = topics
        self._by_topic = {topics.raw(c.name): c for c in contracts.values()}
        self._max = max_event_bytes
        self._clock = clock
        self.mapped = 0
        self.dead = 0

    def topics(self) -> list[str]:
        """Every raw topic, by pattern: a topic no contract claims still reaches the DLQ."""
        return ["^" + re.escape(self._topics.raw("")) + ".+"]

    def on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Stateless: nothing to rebuild."""

    def on_revoke(self, partitions: list[TopicPartition]) -> None:
        """Stateless: nothing to drop."""

    def process(self, messages: Sequence[Message]) -> list[Output]:
        now = self._clock()
        out: list[Output] = []
        for message in messages:
            raw = message.value() or b""
            contract = self._by_topic.get(message.topic())
            try:
                if contract is None:
                    source = message.topic().removeprefix(self._topics.raw(""))
                    raise unknown_source_error(source, [c.name for c in self._by_topic.values()])
                signal = map_event(contract, raw, received_at=now, max_bytes=self._max)
            except MappingError as err:
                self.dead += 1
                letter = dead_letter(
                    err,
                    source=contract.name if contract else None,
                    contract_version=contract.version if contract else None,
                    topic=message.topic(),
                    partition=message.partition(),
                    offset=message.offset(),
                    key=message.key(),
                    raw=raw,
                    at=now,
                )
                log.info("dead letter from %s: %s", message.topic(), err.kind)
                out.append(
                    Output(self._topics.dlq, message.key(), letter.model_dump_json().encode())
                )
                continue
            self.mapped += 1
            out.append(
                Output(
                    self._topics.canonical,
                    signal.record_id.encode(),
                    signal.model_dump_json().encode(),
                )
            )
        return out
