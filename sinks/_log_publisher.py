"""Publishing a replica's decision-log rows to ``decisions.log``, and reading them back.

``KafkaLogPublisher.publish`` hands rows to librdkafka (its own threads do
the network); ``sync`` waits until every row delivered so far has been read
back by this replica's materializer, so a query sees the replica's own
answers. A chunk that cannot be delivered is logged as an error (never with
its identifiers), not dropped silently.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from confluent_kafka import KafkaError, Message

from signalfold.streams.kafka import Config
from signalfold.streams.kafka import producer as make_producer

__all__ = ["KafkaLogPublisher"]

log = logging.getLogger(__name__)

# (topic partition → offset it must reach, timeout) → whether it got there in time
WaitApplied = Callable[[dict[int, int], float], bool]


class KafkaLogPublisher:
    """Chunks of rows → ``topic``; ``wait_applied`` says when they are read back."""

    def __init__(self, client: Config, topic: str, wait_applied: WaitApplied) -> None:
        self._producer = make_producer(client, **{"linger.ms": 20})
        self._topic = topic
        self._wait_applied = wait_applied
        self._lock = threading.Lock()
        self._delivered: dict[int, int] = {}  # partition → next offset after our last row

    def publish(self, key: bytes, chunks: list[bytes]) -> None:
        """Queue ``chunks`` (rows as JSON lines) under ``key`` (one replica: one partition)."""
        produce, topic, on_delivery = self._producer.produce, self._topic, self._on_delivery
        for value in chunks:
            while True:
                try:
                    produce(topic, value=value, key=key, on_delivery=on_delivery)
                    break
                except BufferError:  # the local queue is full: let deliveries drain it
                    self._producer.poll(0.1)
        self._producer.poll(0)

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            log.error("a decision-log chunk was not delivered to %s: %s", self._topic, err)
            return
        partition, offset = msg.partition(), msg.offset()
        with self._lock:
            if offset + 1 > self._delivered.get(partition, 0):
                self._delivered[partition] = offset + 1

    def sync(self, timeout: float) -> bool:
        """Deliver what is queued, then wait until the materializer has read it back."""
        self._producer.flush(timeout)
        with self._lock:
            targets = dict(self._delivered)
        return self._wait_applied(targets, timeout)

    def close(self) -> None:
        """Deliver what is queued (up to 10 s), then let the producer go."""
        remaining = self._producer.flush(10)
        if remaining:
            log.error("%d decision-log chunks were not delivered at shutdown", remaining)
        del self._producer  # its threads stop now, not whenever this object is collected
