"""A lease held through Kafka itself: whoever the group assigns partition 0 of a
one-partition topic holds it.

Every contender joins the same consumer group on the lease topic; the broker's
group protocol gives the one partition to exactly one live member. When the
holder dies (even ``kill -9``) the broker drops it after the session timeout
and hands the partition to another member; no external lock service, no clock
agreement. The lease topic carries no records: membership is the lease.

The group uses the cooperative-sticky assignor, so a contender joining (a new
standby) does not take the partition away from the holder: an eager rebalance
would revoke it from everyone and could give it to the newcomer.

``held`` is read from the thread that does the work; a background thread polls
the group (rebalance callbacks run only inside ``poll``) and calls
``on_lost`` when the partition is revoked or the session is lost.

Example::

    lease = Lease(client, "identity.lease", "signalfold-resolve-lease", session_timeout_ms=6000)
    lease.start()
    if lease.wait(timeout=30):
        ...  # the owner's work; check ``lease.held`` between units of work
    lease.close()
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from typing import Protocol

from confluent_kafka import Consumer, KafkaError, TopicPartition

from signalfold.streams.kafka import consumer as make_consumer
from signalfold.streams.runner import LostData

__all__ = ["Lease", "LeasedRunner"]

log = logging.getLogger(__name__)


class Lease:
    """Membership of a consumer group on a one-partition topic; partition 0 is the lease."""

    def __init__(
        self,
        client: dict[str, str | int],
        topic: str,
        group: str,
        *,
        session_timeout_ms: int = 6000,
        on_lost: Callable[[], None] = lambda: None,
    ) -> None:
        self.topic = topic
        self._client = client
        self._group = group
        self._session_timeout_ms = session_timeout_ms
        self.on_lost = on_lost
        self._held = threading.Event()
        self._closing = threading.Event()
        #: Why the lease can no longer be had: its topic went from the broker (a memory-only
        #: broker that came back empty). A standby must say so, not stand by forever.
        self.gone: str | None = None
        self._thread: threading.Thread | None = None

    @property
    def held(self) -> bool:
        return self._held.is_set()

    def start(self) -> Lease:
        """Join the group in a background thread; returns at once."""
        consumer = make_consumer(
            self._client,
            self._group,
            **{
                "session.timeout.ms": self._session_timeout_ms,
                "heartbeat.interval.ms": max(300, self._session_timeout_ms // 6),
                "partition.assignment.strategy": "cooperative-sticky",
                # A lease topic that vanishes is noticed within seconds (see ``gone``).
                "topic.metadata.refresh.interval.ms": 5000,
            },
        )
        consumer.subscribe(
            [self.topic], on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._revoked
        )
        self._thread = threading.Thread(
            target=self._poll, args=(consumer,), name="signalfold-lease", daemon=True
        )
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the lease is held (True) or ``timeout`` passes (False)."""
        return self._held.wait(timeout)

    def close(self) -> None:
        """Leave the group; a holder's partition goes to another member at once."""
        self._closing.set()
        if self._thread is not None:
            self._thread.join(15)

    def _poll(self, consumer: Consumer) -> None:
        try:
            while not self._closing.is_set():
                # No records: this serves heartbeats' rebalance callbacks, and errors.
                message = consumer.poll(0.2)
                error = message.error() if message is not None else None
                if error is not None and error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    self.gone = error.str()
                    break
        finally:
            consumer.close()
            self._release()

    def _assigned(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if any(p.topic == self.topic for p in partitions):
            log.info("lease %s: held", self.topic)
            self._held.set()
        elif not self._held.is_set():
            log.info("lease %s: held by another member; standing by", self.topic)

    def _revoked(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if any(p.topic == self.topic for p in partitions):
            self._release()

    def _release(self) -> None:
        if self._held.is_set():
            self._held.clear()
            if self._closing.is_set():
                log.info("lease %s: released", self.topic)
            else:
                log.warning("lease %s: lost", self.topic)
            self.on_lost()


class _Runner(Protocol):
    def run(self) -> None: ...

    def stop(self) -> None: ...


class LeasedRunner:
    """Runs a stage only while holding ``lease``; otherwise ``follow`` keeps it warm.

    A standby calls ``follow(seconds)`` in a loop (it tails the log the owner
    writes). On taking the lease it builds a fresh runner (``make_runner``) and
    runs it; losing the lease stops that runner after the batch in hand (whose
    outputs are idempotent), and the process goes back to following. Same
    interface as ``StageRunner``: ``run``, ``stop``, ``install_signal_handlers``.
    """

    def __init__(
        self, lease: Lease, make_runner: Callable[[], _Runner], follow: Callable[[float], object]
    ) -> None:
        self.lease = lease
        self._make_runner = make_runner
        self._follow = follow
        self._stopping = threading.Event()
        self._runner: _Runner | None = None
        self._lock = threading.RLock()  # stop() may run in a signal handler on this thread

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()
            if self._runner is not None:
                self._runner.stop()

    def install_signal_handlers(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: self.stop())

    def run(self) -> None:
        self.lease.on_lost = self._lost
        self.lease.start()
        try:
            while not self._stopping.is_set():
                if self.lease.gone is not None:
                    raise LostData("resolve", f"{self.lease.gone} (it existed at start)")
                if not self.lease.held:
                    self._follow(0.2)
                    continue
                with self._lock:
                    if self._stopping.is_set():
                        break
                    runner = self._runner = self._make_runner()
                    if not self.lease.held:  # lost in between: ``_lost`` found no runner
                        self._runner = None
                        continue
                log.info("lease %s: taking over", self.lease.topic)
                try:
                    runner.run()
                finally:
                    with self._lock:
                        self._runner = None
                if not self._stopping.is_set():
                    log.warning("lease %s: standing by again", self.lease.topic)
        finally:
            self.lease.close()

    def _lost(self) -> None:
        with self._lock:
            if self._runner is not None:
                self._runner.stop()
