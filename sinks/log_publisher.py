"""Publishing a replica's decision-log rows to ``decisions.log``, and reading them back.

``KafkaLogPublisher.publish`` hands rows to librdkafka (its own threads do
the network); ``sync`` waits until every row delivered so far has been read
back by this replica's materializer, so a query sees the replica's own
answers.

Rows are kept until the broker acknowledges them: they record answers a
caller was already given and cannot be recomputed. A chunk that could not be
delivered (the broker away past ``message.timeout.ms``) is logged — never with
its identifiers — and sent again on the next ``publish`` or ``sync``; after a
fatal producer error (an idempotence sequence a broker restart broke, a
fenced producer) a new producer is built and everything unacknowledged is
sent again. A chunk whose acknowledgement was lost may so land twice; rows
carry their decision id, which tells the copies apart.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from functools import partial
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message

from signalfold.streams.kafka import Config, offset_of, partition_of
from signalfold.streams.kafka import producer as make_producer

__all__ = ["KafkaLogPublisher"]

log = logging.getLogger(__name__)

# (topic partition → offset it must reach, timeout) → whether it got there in time
WaitApplied = Callable[[dict[int, int], float], bool]


#: What a producer call raises when the producer failed. A fatal error the client
#: raises while one of our delivery callbacks runs (``flush`` after a broker fault:
#: "unknown producer id") comes out of confluent-kafka as a ``SystemError``
#: ("… returned a result with an exception set"), not as the ``KafkaException``.
_FAILED = (KafkaException, SystemError)


class KafkaLogPublisher:
    """Chunks of rows → ``topic``; ``wait_applied`` says when they are read back."""

    def __init__(
        self, client: Config, topic: str, wait_applied: WaitApplied, **overrides: Any
    ) -> None:
        self._config = {"linger.ms": 20, **overrides}
        self._client = client
        self._producer = make_producer(client, **self._config)
        self._topic = topic
        self._wait_applied = wait_applied
        # Reentrant: librdkafka runs delivery callbacks (``_done``, which takes it) when a
        # replaced producer is collected, and the collector may run while it is held.
        self._lock = threading.RLock()
        self._delivered: dict[int, int] = {}  # partition → next offset after our last row
        self._unacked: dict[int, tuple[bytes, bytes]] = {}  # chunk number → (key, value)
        self._failed: list[int] = []  # chunks to send again
        self._fatal = False
        self._next = 0

    @property
    def unacknowledged(self) -> int:
        """Chunks handed to the producer (or kept for a retry) the broker has not confirmed."""
        with self._lock:
            return len(self._unacked)

    def publish(self, key: bytes, chunks: list[bytes]) -> None:
        """Queue ``chunks`` (rows as JSON lines) under ``key`` (one replica: one partition)."""
        self._retry()
        for value in chunks:
            with self._lock:
                number, self._next = self._next, self._next + 1
                self._unacked[number] = (key, value)
            self._produce(number, key, value)
        try:
            self._producer.poll(0)
        except _FAILED:
            with self._lock:
                self._fatal = True

    def _produce(self, number: int, key: bytes, value: bytes) -> None:
        while True:
            try:
                self._producer.produce(
                    self._topic, value=value, key=key, on_delivery=partial(self._done, number)
                )
                return
            except BufferError:  # the local queue is full: let deliveries drain it
                # A fatal error raised here is raised again by the produce, handled below.
                with contextlib.suppress(*_FAILED):
                    self._producer.poll(0.1)
            except _FAILED as exc:  # fatal: this producer takes nothing more
                with self._lock:
                    self._fatal = True
                    self._failed.append(number)
                log.error("decision-log producer failed (%s); a new one will resend", exc)
                return

    def _retry(self) -> None:
        """Send again what failed; after a fatal error, through a new producer."""
        with self._lock:
            fatal, self._fatal = self._fatal, False
            if fatal:  # everything the old producer held is lost with it
                self._failed = sorted(self._unacked)
            again, self._failed = self._failed, []
            chunks = [(n, *self._unacked[n]) for n in again if n in self._unacked]
        if fatal:
            old, self._producer = self._producer, make_producer(self._client, **self._config)
            old.purge()  # its deliveries report as purged: nothing of it counts any more
            with contextlib.suppress(*_FAILED):  # a fatal producer may raise it again
                old.flush(0)  # let it report them now, here, and go
            log.warning("decision log: new producer; resending %d chunks", len(chunks))
        for number, key, value in chunks:
            self._produce(number, key, value)

    def _done(self, number: int, err: KafkaError | None, msg: Message) -> None:
        with self._lock:
            if err is None:
                self._unacked.pop(number, None)
                partition, offset = partition_of(msg), offset_of(msg)
                if offset + 1 > self._delivered.get(partition, 0):
                    self._delivered[partition] = offset + 1
                return
            if err.code() == KafkaError._PURGE_QUEUE:
                return  # a replaced producer's queue: ``_retry`` resends these
            self._fatal = self._fatal or err.fatal()
            self._failed.append(number)
        log.error(
            "a decision-log chunk was not delivered to %s (%s); kept to send again",
            self._topic,
            err.name(),
        )

    def _flush(self, timeout: float) -> None:
        """Flush; a fatal error on the way gets a new producer and a second try."""
        for _ in range(2):
            self._retry()
            try:
                self._producer.flush(timeout)
                return
            except _FAILED as exc:
                log.error("decision-log producer failed (%s); a new one will resend", exc)
                with self._lock:
                    self._fatal = True

    def sync(self, timeout: float) -> bool:
        """Deliver what is queued, then wait until the materializer has read it back."""
        self._flush(timeout)
        with self._lock:
            targets = dict(self._delivered)
        return self._wait_applied(targets, timeout)

    def close(self) -> None:
        """Deliver what is queued (up to 10 s), then let the producer go."""
        self._flush(10)
        if self.unacknowledged:
            log.error("%d decision-log chunks were not delivered at shutdown", self.unacknowledged)
        del self._producer  # its threads stop now, not whenever this object is collected
