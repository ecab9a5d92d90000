"""The loop every stage runs: consume a batch, hand it to the stage, publish, commit.

Delivery is at-least-once: offsets are committed only after everything the
batch produced has been acknowledged by the broker. Effects are idempotent
(signal ids, deterministic change ids), so a batch replayed after a crash
changes nothing downstream.

Broker faults: librdkafka reconnects by itself while the broker is away. A
fatal producer error (an idempotence sequence broken by a broker restart,
fencing) is survived in process: a new producer is built, the consumer goes
back to its committed offsets and the stage rebuilds its state as on a new
assignment, so a batch is either wholly committed or replayed. A broker that
comes back without the data it had (a memory-only broker restarted: topics
gone, or a partition that restarts below what this process already read) is
not followed silently: the stage stops with ``LostData`` naming what is gone.

Why not faust agents: measured here, a faust agent spends ≈300 µs of
framework time per event (≈3,400 events/s), while a confluent-kafka batch loop
round-trips ≈100k events/s. The stages keep faust's model — one consumer group
per stage, partition-owned state rebuilt from Kafka — on the faster client.
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from pydantic import ValidationError

from signalfold.errors import SignalfoldError
from signalfold.streams.errors import StreamsError
from signalfold.streams.kafka import MAX_RECORD_BYTES, is_fence, offset_of, partition_of, topic_of
from signalfold.streams.kafka import consumer as make_consumer
from signalfold.streams.kafka import producer as make_producer
from signalfold.streams.topic_check import TopicSpec, require

__all__ = [
    "GC_THRESHOLDS",
    "MAX_RECORD_BYTES",
    "LostData",
    "Output",
    "Stage",
    "StageBase",
    "StageError",
    "StageRunner",
    "describe",
]

log = logging.getLogger(__name__)

#: The collector's thresholds in a stage worker, as in a serving replica: a full
#: collection walks every tracked object (the partition's customers, the identity
#: graph), and py-spy showed the collector taking 42% of resolve's samples and 19% of
#: state's. Full collections run 100 times less often; young ones as before.
GC_THRESHOLDS = (700, 10, 1000)


@dataclass(frozen=True, slots=True)
class Output:
    """One record a stage wants published."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, str | bytes | None]] | None = field(default=None)


#: Commit errors that mean this member's partitions belong to a new generation.
_GROUP_MOVED_ON = frozenset(
    {
        KafkaError.UNKNOWN_MEMBER_ID,
        KafkaError.ILLEGAL_GENERATION,
        KafkaError.REBALANCE_IN_PROGRESS,
        KafkaError.FENCED_INSTANCE_ID,
    }
)

#: Seconds a commit is retried while the broker is unreachable.
_COMMIT_PATIENCE = 60.0


class LostData(StreamsError):
    """The broker no longer holds what this stage read from it: stop, never start over."""

    def __init__(self, stage: str, what: str) -> None:
        super().__init__(
            f"{stage}: THE BROKER LOST DATA: {what}. A memory-only broker (the embedded "
            "one) that restarted comes back empty; signalfold does not rebuild from nothing "
            "behind your back. Restore the broker's data, or start over deliberately "
            "(`signalfold topics`, then re-send the sources' events)"
        )


class _FatalProducer(StreamsError):
    """The producer hit a fatal error (idempotence sequence, fencing): build a new one."""


class StageError(StreamsError):
    """A stage could not finish a batch; it was not committed and comes back on restart."""


def describe(exc: BaseException) -> str:
    """An error for a log line or a dead letter, without the values it was given.

    pydantic's messages quote the input (identifiers, names); only the field
    paths and what was wrong are kept. signalfold's own errors redact already.
    """
    if isinstance(exc, ValidationError):
        parts = [
            f"{'.'.join(str(p) for p in e['loc']) or 'record'}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        return f"{type(exc).__name__} ({'; '.join(parts[:5])})"
    if isinstance(exc, SignalfoldError):
        return f"{type(exc).__name__}: {exc}"
    return type(exc).__name__


class Stage(Protocol):
    """What the runner needs from a stage; stages hold no Kafka clients of their own.

    Besides its topics and ``process``, a stage declares what else it needs from
    the runner (``StageBase`` holds the defaults, all off):

    - ``wants_idle_ticks``: ``process([])`` about once a second when no record
      comes (time-driven work: flag expiry, a policy reload, an erasure's keys);
    - ``work_after_commit``: ``process([])`` again right after a batch whose
      outputs are acknowledged (work that had to wait for them);
    - ``rewinds_after_failure``: before a failed batch is retried record by
      record, ``on_revoke`` then ``on_assign`` put the stage back at its commits
      (a failed attempt may have changed state a retry cannot redo).
    """

    name: str

    @property
    def wants_idle_ticks(self) -> bool: ...

    @property
    def work_after_commit(self) -> bool: ...

    @property
    def rewinds_after_failure(self) -> bool: ...

    def close(self) -> None:
        """Let go of the stage's own clients (key log, registry reader): it is stopped."""

    def topics(self) -> list[str]: ...

    def on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None: ...

    def on_revoke(self, partitions: list[TopicPartition]) -> None: ...

    def process(self, messages: Sequence[Message]) -> list[Output]: ...


class StageBase:
    """The ``Stage`` capabilities' defaults: a stage that inherits declares only its own
    (a class attribute, or a property where it depends on the stage's state)."""

    @property
    def wants_idle_ticks(self) -> bool:
        return False

    @property
    def work_after_commit(self) -> bool:
        return False

    @property
    def rewinds_after_failure(self) -> bool:
        return False

    def close(self) -> None:
        """Nothing of its own to let go of."""


class StageRunner:
    """Runs one stage in a consumer group until ``stop()`` or SIGINT/SIGTERM."""

    def __init__(
        self,
        stage: Stage,
        client: dict[str, str | int],
        *,
        group: str,
        batch_size: int = 2000,
        linger_ms: int = 5,
        session_timeout_ms: int = 6000,
        dlq_topic: str | None = None,
        assign_all: bool = False,
    ) -> None:
        self._dlq_topic = dlq_topic
        self._assign_all = assign_all
        self.stage = stage
        self._client = client
        self._group = group
        self._batch_size = batch_size
        self._linger = linger_ms / 1000
        self._session_timeout_ms = session_timeout_ms
        self._stopping = threading.Event()
        self.processed = 0
        self._read: dict[tuple[str, int], int] = {}  # last offset read, per partition

    def stop(self) -> None:
        self._stopping.set()

    def install_signal_handlers(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: self.stop())

    def run(self) -> None:
        """Consume, process, publish and commit until stopped.

        On the main thread (``signalfold worker``: the process is the stage's)
        it also tunes the collector (``GC_THRESHOLDS``) and, after every
        assignment, freezes what the rebuild left (imports, the partitions'
        state: long-lived, never garbage) out of the collector's reach. On
        another thread (local mode, tests) the process is not the stage's to tune.
        """
        owns_process = threading.current_thread() is threading.main_thread()
        if owns_process:
            gc.set_threshold(*GC_THRESHOLDS)
        # Its topics must exist: using a missing one would not create it (see streams.kafka).
        named = [t for t in self.stage.topics() if not t.startswith("^")]
        require(self._client, {t: TopicSpec(None, {}) for t in named}, self.stage.name)
        consumer = make_consumer(
            self._client,
            self._group,
            **{
                "session.timeout.ms": self._session_timeout_ms,
                "heartbeat.interval.ms": max(500, self._session_timeout_ms // 6),
                # Pattern subscriptions (ingest) notice a new source topic within seconds.
                "topic.metadata.refresh.interval.ms": 5000,
            },
        )
        producer = make_producer(self._client)

        def on_assign(c: Consumer, partitions: list[TopicPartition]) -> None:
            log.info("%s: assigned %d partitions", self.stage.name, len(partitions))
            for tp in partitions:  # a new owner starts from the commits: not a loss
                self._read.pop((tp.topic, tp.partition), None)
            self.stage.on_assign(c, partitions)
            if owns_process:
                gc.collect()
                gc.freeze()

        def on_revoke(_c: Consumer, partitions: list[TopicPartition]) -> None:
            self.stage.on_revoke(partitions)

        if self._assign_all:
            # Exclusive by other means (resolve's lease): every partition from its committed
            # offset, with no group membership whose dead member a new owner must wait out.
            partitions = [
                TopicPartition(topic, p)
                for topic in self.stage.topics()
                for p in sorted(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
            ]
            consumer.assign(partitions)
            on_assign(consumer, partitions)
        else:
            consumer.subscribe(self.stage.topics(), on_assign=on_assign, on_revoke=on_revoke)
        # Stages with time-driven work (flag expiry, policy reload) get process([]) when idle.
        ticks = self.stage.wants_idle_ticks
        next_tick = time.monotonic() + 1.0
        try:
            while not self._stopping.is_set():
                batch = consumer.consume(num_messages=self._batch_size, timeout=self._linger)
                try:
                    if batch:
                        self._handle(consumer, producer, batch)
                        if self.stage.work_after_commit:
                            # Work that had to wait for this batch's acknowledged outputs
                            # (an erasure's key deletion) runs now, not at the next tick.
                            self._handle(consumer, producer, [])
                    elif ticks and time.monotonic() >= next_tick:
                        next_tick = time.monotonic() + 1.0
                        self._handle(consumer, producer, [])
                except _FatalProducer as exc:
                    producer = self._recover(consumer, producer, exc)
        finally:
            producer.flush(10)
            consumer.close()
            self.stage.close()
            log.info("%s: stopped after %d records", self.stage.name, self.processed)

    def _recover(self, consumer: Consumer, old: Producer, exc: _FatalProducer) -> Producer:
        """A new producer; the consumer back at its commits; the stage's state rebuilt."""
        log.warning(
            "%s: %s; building a new producer, replaying from the commits", self.stage.name, exc
        )
        old.purge()  # what it still held was never acknowledged: the replay re-sends it
        assignment = consumer.assignment()
        self.stage.on_revoke(assignment)
        for tp in consumer.committed(assignment, timeout=30):
            offset = tp.offset if tp.offset >= 0 else 0
            consumer.seek(TopicPartition(tp.topic, tp.partition, offset))
            self._read.pop((tp.topic, tp.partition), None)
        self.stage.on_assign(consumer, assignment)
        return make_producer(self._client)

    def _check_position(self, message: Message) -> None:
        """A partition that goes back below what this process read lost its records."""
        where, offset = (topic_of(message), partition_of(message)), offset_of(message)
        last = self._read.get(where)
        if last is not None and offset <= last:
            raise LostData(
                self.stage.name,
                f"{where[0]}[{where[1]}] went back from offset {last} to {offset}",
            )
        self._read[where] = offset

    def _process(
        self,
        messages: list[Message],
        consumer: Consumer | None = None,
        publish: Callable[[list[Output]], None] | None = None,
    ) -> list[Output]:
        """The stage's outputs; a record it cannot handle goes to the DLQ, not a crash loop.

        When a batch fails, its records are handled one by one and each record that
        still fails becomes a dead letter with the error's type and fields — never
        its values, which may be identifiers. Stage effects are idempotent, so what
        the failed attempt applied is not applied twice; but a stage whose failed
        attempt may have changed its state in ways a retry cannot redo (the state
        stage: a merge deletes the absorbed customer and its transfer is in the
        discarded outputs) says so with ``rewinds_after_failure``, and is rewound to
        its commits first (``on_revoke`` then ``on_assign``: its store's checkpoint
        and the records up to the commits, replayed). ``publish`` sends each record's
        outputs before the next record is handled, so a stage that checkpoints at
        the start of ``process`` never checkpoints past outputs not yet sent.
        """
        try:
            return self.stage.process(messages)
        except Exception as batch_error:
            if self._dlq_topic is None:
                raise StageError(f"{self.stage.name}: {describe(batch_error)}") from None
            log.warning(
                "%s: a batch of %d failed (%s); handling its records one by one",
                self.stage.name,
                len(messages),
                describe(batch_error),
            )
        if consumer is not None and self.stage.rewinds_after_failure:
            assignment = consumer.assignment()
            self.stage.on_revoke(assignment)
            self.stage.on_assign(consumer, assignment)
        outputs: list[Output] = []
        for message in messages:
            try:
                got = self.stage.process([message])
            except Exception as exc:
                where = f"{message.topic()}[{message.partition()}]@{message.offset()}"
                log.error("%s: dead-lettered %s: %s", self.stage.name, where, describe(exc))
                got = [self._dead_letter(message, exc)]
            if publish is None:
                outputs += got
            else:
                publish(got)
        return outputs

    def _dead_letter(self, message: Message, exc: Exception) -> Output:
        return self._letter(
            topic_of(message),
            message.key(),
            message.value(),
            reason=(
                f"stage `{self.stage.name}` could not handle a record of {message.topic()}: "
                f"{describe(exc)}; it was set aside so the stage keeps running — fix the "
                "producer of this record, or report it with this dead letter"
            ),
            expected="a record this stage can handle",
            found=type(exc).__name__,
            kind="invalid_value",
            partition=message.partition(),
            offset=message.offset(),
        )

    def _produce(self, producer: Producer, out: Output, delivered: Any) -> None:
        while True:
            try:
                producer.produce(
                    out.topic,
                    key=out.key,
                    value=out.value,
                    headers=out.headers,
                    on_delivery=delivered,
                )
                return
            except BufferError:
                producer.poll(0.05)

    def _fitting(self, out: Output) -> Output:
        """``out``, or — when it is larger than a record may be — a dead letter saying so."""
        size = len(out.value or b"") + len(out.key or b"")
        if size <= MAX_RECORD_BYTES or self._dlq_topic is None:
            return out
        return self._set_aside(out, f"it is {size} bytes, over {MAX_RECORD_BYTES}")

    def _set_aside(self, out: Output, why: str) -> Output:
        """A bounded dead letter for an output that cannot be published; the stage goes on."""
        size = len(out.value or b"")
        log.error(
            "%s: set aside a %d-byte record for %s: %s", self.stage.name, size, out.topic, why
        )
        return self._letter(
            out.topic,
            out.key,
            out.value,
            reason=(
                f"stage `{self.stage.name}` could not publish a record to {out.topic}: {why}; "
                "it was set aside so the stage keeps running — bound what the record carries "
                "or raise the topic's and the producer's size limits"
            ),
            expected=f"a record of at most {MAX_RECORD_BYTES} bytes",
            found=f"{size} bytes",
            kind="oversized",
        )

    def _letter(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        *,
        reason: str,
        expected: str,
        found: str,
        kind: Literal["invalid_value", "oversized"],
        partition: int | None = None,
        offset: int | None = None,
    ) -> Output:
        """The DLQ record of something this stage set aside (its bytes bounded)."""
        from signalfold.schemas.dlq import DeadLetter, kept_bytes, letter_key

        letter = DeadLetter(
            source=f"internal:{self.stage.name}",
            topic=topic,
            partition=partition,
            offset=offset,
            key=(key or b"").decode("utf-8", errors="backslashreplace")[:200] or None,
            reason=reason,
            expected=expected,
            found=found,
            error_kind=kind,
            at=datetime.now(UTC),
            **kept_bytes(value),
        )
        assert self._dlq_topic is not None
        return Output(self._dlq_topic, letter_key(key), letter.model_dump_json().encode())

    def _handle(self, consumer: Consumer, producer: Producer, batch: list[Message]) -> None:
        messages = []
        for message in batch:
            error = message.error()
            if error is not None:
                if error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    raise LostData(self.stage.name, f"{error.str()} (it existed at start)")
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("%s: consumer error %s", self.stage.name, error.str())
                continue
            self._check_position(message)
            if not is_fence(message):
                messages.append(message)
        failures: list[str] = []
        fatal: list[str] = []
        too_large: list[Output] = []

        def delivered(err: KafkaError | None, msg: Message) -> None:
            if err is None:
                return
            if err.fatal():
                fatal.append(err.str())
            elif err.code() == KafkaError.MSG_SIZE_TOO_LARGE and self._dlq_topic is not None:
                too_large.append(Output(topic_of(msg), msg.key(), msg.value()))
            else:
                failures.append(err.str())

        def publish(outputs: list[Output]) -> None:
            for out in outputs:
                self._produce(producer, self._fitting(out), delivered)
            producer.flush(30)

        try:
            publish(self._process(messages, consumer, publish))
            remaining = producer.flush(30)
        except KafkaException as exc:
            if not exc.args[0].fatal():
                raise
            raise _FatalProducer(f"fatal producer error {exc.args[0].str()}") from None
        except SystemError as exc:
            # A fatal error the client meets inside ``flush`` (a broken idempotence
            # sequence after a broker fault) can surface as a bare SystemError
            # ("returned NULL without setting an exception"), not as KafkaException.
            raise _FatalProducer(f"producer failed inside the client ({exc})") from None
        if fatal:
            raise _FatalProducer(f"fatal producer error {fatal[0]}")
        if too_large and not failures:  # the broker's limit is below ours: set them aside too
            for out in too_large:
                self._produce(producer, self._set_aside(out, "the broker refused it"), delivered)
            remaining = producer.flush(30)
        if remaining or failures:
            # Not committing makes the batch come back after a restart: nothing is lost.
            raise StageError(
                f"{self.stage.name}: {remaining} records unacknowledged, "
                f"{len(failures)} failed ({failures[:1]}); restarting from the last commit"
            )
        offsets: dict[tuple[str, int], int] = {}
        for message in batch:
            if message.error() is None:
                offsets[(topic_of(message), partition_of(message))] = offset_of(message) + 1
        if offsets:
            self._commit(consumer, [TopicPartition(t, p, o) for (t, p), o in offsets.items()])
        self.processed += len(messages)

    def _commit(self, consumer: Consumer, offsets: list[TopicPartition]) -> None:
        """Commit ``offsets``; through a broker restart, or not at all if the group moved on.

        A commit the group refuses (this member's generation is gone after a broker
        restart or a missed session) is not a failure of the batch: the partition's
        owner after the rebalance replays it from the last commit, as after a crash
        between publishing and committing; downstream stages take replays. A commit
        that cannot reach the broker is tried again for ``_COMMIT_PATIENCE`` seconds.
        """
        deadline = time.monotonic() + _COMMIT_PATIENCE
        while True:
            try:
                consumer.commit(offsets=offsets, asynchronous=False)
                return
            except KafkaException as exc:
                error = exc.args[0]
                if error.code() in _GROUP_MOVED_ON:
                    log.warning(
                        "%s: commit refused (%s); the batch is replayed from the last "
                        "commit by the partitions' owner after the rebalance",
                        self.stage.name,
                        error.str(),
                    )
                    return
                if not error.retriable() or time.monotonic() > deadline:
                    raise StageError(
                        f"{self.stage.name}: commit failed ({error.str()}); "
                        "restarting from the last commit"
                    ) from None
                log.warning("%s: commit failed (%s); trying again", self.stage.name, error.str())
                time.sleep(0.5)
