"""The consumer loop of ``serve``: topics → ``ServingView`` (memory) + ``Store`` (DuckDB).

Every replica rebuilds from Kafka alone: no consumer group, every partition of
the five serving topics (``customer.state``, ``identity.index``,
``signals.resolved``, ``identity.changes``, ``privacy.do_not_contact``) assigned
from offset 0. Messages with a ``signalfold.fence`` header are internal
read-to-end markers and are skipped. Each consumed batch is applied to the
view under one lock and flushed to DuckDB before the next poll, so a write is
visible within one poll timeout (~100 ms).

With a ``DecisionLogTable``, the ``decisions.log`` topic (every replica's
answers) is read into it too; readiness does not wait for that audit trail,
and ``wait_applied`` tells a query when this replica's own rows are in.

``caught_up`` turns true once every partition has been read up to a fence
record this replica wrote at start: everything that existed then has been
applied. The high watermark is not trusted for that (Tansu's can point one
batch short of the true end), so a replica never reports ready — and never
answers "unknown customer" for someone whose state sits in the last batch —
before it has really replayed.

After that, readiness keeps telling the truth (``unready``): every couple of
seconds the thread asks the broker for the serving topics' metadata. A broker
that does not answer for ``broker_timeout`` seconds, serving topics gone from
it (a memory-only broker that restarted empty), or a replica more than
``max_lag`` records behind the partitions' ends (the broker's high watermarks
as the last fetches saw them) make the replica unready, with the reason;
``/v1/health`` (liveness) stays up meanwhile.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import duckdb
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from signalfold.schemas.erasure import DoNotContact
from signalfold.sinks._index_names import IndexNames
from signalfold.sinks._tables import change_row, signal_row
from signalfold.sinks.decision_log import DecisionLogTable
from signalfold.sinks.errors import ConsumerFailed, TopicMissing
from signalfold.sinks.retention import StoreRetention
from signalfold.sinks.store import Store
from signalfold.sinks.view import ServingView
from signalfold.streams.kafka import (
    FENCE_HEADER,
    consume_ready,
    fence_producer,
    is_fence,
    offset_of,
    partition_of,
    topic_of,
)
from signalfold.streams.kafka import consumer as make_consumer
from signalfold.streams.keylog import KeyLog
from signalfold.streams.topics import Topics

__all__ = ["Materializer"]

log = logging.getLogger(__name__)

_ALIAS_PREFIX = "customer:"


@dataclass
class _Erased:
    """The erasures a batch carries: deleted from the store once, at the batch's end."""

    customers: set[str] = field(default_factory=set)
    requests: dict[str, str] = field(default_factory=dict)  # request id → when


class Materializer:
    """Consumes the serving topics in a background thread into a view and a store.

    Example::

        m = Materializer(settings.kafka_client_config(), Topics(prefix), view, store)
        m.start()
        m.wait_caught_up(30)
        ...
        m.stop()
    """

    def __init__(
        self,
        client_config: dict[str, str | int],
        topics: Topics,
        view: ServingView,
        store: Store,
        *,
        batch_size: int = 2000,
        poll_timeout: float = 0.1,
        decision_log: DecisionLogTable | None = None,
        max_lag: int = 10_000,
        broker_timeout: float = 10.0,
        retention: StoreRetention | None = None,
        keys: KeyLog | None = None,
    ) -> None:
        self._client_config = client_config
        self._topics = topics
        self._keys = keys
        self._names = [
            topics.customer_state,
            topics.identity_index,
            topics.resolved,
            topics.identity_changes,
            topics.do_not_contact,
        ]
        self._index_names = IndexNames()
        self.erasures: dict[str, str] = {}  # request id → when this replica applied it
        self._view = view
        self._store = store
        self._log_table = decision_log
        self._log_topic = topics.decisions_log if decision_log is not None else None
        self._log_read = threading.Condition()  # notified when decision-log rows are in
        self._log_positions: dict[int, int] = {}  # partition → offset after rows inserted
        self._batch_size = batch_size
        self._poll_timeout = poll_timeout
        self._stop = threading.Event()
        self._caught_up = threading.Event()
        self._thread: threading.Thread | None = None
        self._targets: dict[tuple[str, int], int] = {}
        self._fence = b""
        self._positions: dict[tuple[str, int], int] = {}
        self.applied = 0
        self.skipped = 0
        self.error: BaseException | None = None
        self._max_lag, self._broker_timeout = max_lag, broker_timeout
        self._probed = self._answered = time.monotonic()  # last probe; last broker answer
        self._gone: list[str] = []  # serving topics the broker no longer has
        self._lag = 0
        # Rows past their topic's retention go (sinks/retention.py), once caught up.
        self._retention = retention or StoreRetention(client_config, topics, store, decision_log)

    @property
    def unready(self) -> str | None:
        """Why this replica, caught up once, should not answer now (``None``: it may)."""
        silent = time.monotonic() - self._answered
        if silent > self._broker_timeout:
            return f"broker unreachable for {silent:.0f}s; answers would be stale"
        if self._gone:
            return (
                f"serving topics gone from the broker ({', '.join(self._gone)}): it lost its "
                "data (a memory-only broker restarted?)"
            )
        if self._lag > self._max_lag:
            return f"behind by {self._lag} records (more than {self._max_lag})"
        return None

    @property
    def caught_up(self) -> bool:
        """Whether every partition reached the end offset seen at start (advisory)."""
        return self._caught_up.is_set()

    @property
    def alive(self) -> bool:
        """Whether the consumer thread runs (false before ``start``, after ``stop`` or a crash)."""
        return self._thread is not None and self._thread.is_alive()

    def wait_caught_up(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds for ``caught_up``; returns it."""
        return self._caught_up.wait(timeout)

    def start(self) -> None:
        """Assign every partition from offset 0 and start consuming in a thread."""
        # A throwaway group id (librdkafka insists on one); assign() never joins or commits.
        consumer = make_consumer(self._client_config, None)
        try:
            self._assign(consumer)
        except BaseException:
            consumer.close()
            raise
        self._thread = threading.Thread(
            target=self._run, args=(consumer,), name="signalfold-materializer", daemon=True
        )
        self._thread.start()

    def _assign(self, consumer: Consumer) -> None:
        metadata = consumer.list_topics(timeout=10)
        assignment: list[TopicPartition] = []
        for name in self._names + ([self._log_topic] if self._log_topic else []):
            topic = metadata.topics.get(name)
            if topic is None or topic.error is not None:
                raise TopicMissing(
                    f"topic {name!r} does not exist on the broker; start the pipeline "
                    "(or create topics with `signalfold topics`) before `serve`"
                )
            for partition in sorted(topic.partitions):
                assignment.append(TopicPartition(name, partition, OFFSET_BEGINNING))
        self._write_fences([tp for tp in assignment if tp.topic != self._log_topic])
        consumer.assign(assignment)
        log.info("serving from %d partitions of %d topics", len(assignment), len(self._names))

    def _write_fences(self, assignment: list[TopicPartition]) -> None:
        """Mark the current end of every partition; readiness waits to read them all."""
        self._fence = uuid.uuid4().hex.encode()
        prod = fence_producer(self._client_config)
        for tp in assignment:
            prod.produce(
                tp.topic,
                key=b"",
                value=b"",
                partition=tp.partition,
                headers=[(FENCE_HEADER, self._fence)],
            )
        if prod.flush(10) != 0:
            raise TopicMissing(
                "could not write readiness fences to the serving topics; check the broker "
                "(SIGNALFOLD_KAFKA_BOOTSTRAP) and that this client may produce to them"
            )
        self._targets = {(tp.topic, tp.partition): 0 for tp in assignment}

    def stop(self, timeout: float = 10.0) -> None:
        """Stop consuming, flush what was read and join the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self, consumer: Consumer) -> None:
        try:
            while not self._stop.is_set():
                messages = consume_ready(consumer, self._batch_size, self._poll_timeout)
                if messages:
                    self._apply(messages)
                self._check_caught_up()
                if time.monotonic() - self._probed >= 2.0:
                    self._probe(consumer)
                self._retention.tick(self._caught_up.is_set())
        except BaseException as exc:
            self.error = exc
            log.exception("materializer stopped on an error; the replica is no longer ready")
        finally:
            consumer.close()

    def _apply(self, messages: list[Message]) -> None:
        if self._keys is not None:
            self._keys.prepare(m.value() for m in messages if m.error() is None)
        states: list[tuple[str, bytes | None]] = []
        index: list[tuple[str, str | None]] = []
        aliases: list[tuple[str, str | None]] = []
        erased = _Erased()
        logged: list[bytes] = []
        log_ends: dict[int, int] = {}  # decisions.log partition → offset after its last read
        applied = skipped = 0
        for msg in messages:
            err = msg.error()
            if err is not None:
                if err.fatal():
                    raise ConsumerFailed(
                        f"fatal consumer error: {err}; this replica stopped reading and is "
                        "not ready: restart it (it rebuilds from the topics)"
                    )
                if err.code() != KafkaError._PARTITION_EOF:
                    log.warning("consumer error: %s", err)
                continue
            topic, partition = topic_of(msg), partition_of(msg)
            self._positions[(topic, partition)] = offset_of(msg) + 1
            if is_fence(msg):
                if dict(msg.headers() or []).get(FENCE_HEADER) == self._fence:
                    self._targets.pop((topic, partition), None)
                continue
            if topic == self._log_topic:
                if value := msg.value():
                    logged.append(value)
                log_ends[partition] = offset_of(msg) + 1
                continue
            try:
                self._route(msg, topic, states, index, aliases, erased)
                applied += 1
            except (ValueError, KeyError, TypeError) as exc:
                skipped += 1
                log.warning(
                    "skipped malformed message on %s[%d]@%d: %s",
                    topic,
                    msg.partition(),
                    msg.offset(),
                    type(exc).__name__,
                )
        self._view.apply(states=states, index=index, aliases=aliases)
        self._store.flush()
        if erased.customers:  # one delete for the batch's erasures, after its rows landed
            self._store.erase(sorted(erased.customers))
        self.erasures.update(erased.requests)  # applied only once the rows are gone
        if self._log_table is not None and log_ends:
            written, bad = self._insert_logged(logged)
            applied, skipped = applied + written, skipped + bad
            with self._log_read:  # a query waiting for its own rows may go on now
                self._log_positions.update(log_ends)
                self._log_read.notify_all()
        self.applied += applied
        self.skipped += skipped

    def _insert_logged(self, chunks: list[bytes]) -> tuple[int, int]:
        """Insert decision-log chunks; one that does not parse is skipped, not fatal.

        Returns (chunks written, chunks skipped).
        """
        assert self._log_table is not None
        try:
            self._log_table.insert(chunks)
            return len(chunks), 0
        except duckdb.Error:
            pass
        bad = 0
        for chunk in chunks:  # find the bad ones: the rest still land
            try:
                self._log_table.insert([chunk])
            except duckdb.Error as exc:
                bad += 1
                log.warning("skipped a malformed decision-log chunk: %s", type(exc).__name__)
        return len(chunks) - bad, bad

    def wait_applied(self, targets: dict[int, int], timeout: float) -> bool:
        """Block until each ``decisions.log`` partition was read up to its target offset.

        ``targets`` maps partition → the offset just after a row this replica
        published; ``False`` if not reached within ``timeout`` seconds.
        """

        def reached() -> bool:
            return all(self._log_positions.get(p, 0) >= o for p, o in targets.items())

        with self._log_read:
            return self._log_read.wait_for(reached, timeout)

    def _route(
        self,
        msg: Message,
        topic: str,
        states: list[tuple[str, bytes | None]],
        index: list[tuple[str, str | None]],
        aliases: list[tuple[str, str | None]],
        erased: _Erased,
    ) -> None:
        key = (msg.key() or b"").decode()
        value = msg.value()
        if self._keys is not None and value is not None:
            value = self._keys.open(value)  # None: sealed for someone erased since
        if topic == self._topics.customer_state:
            states.append((key, value))
        elif topic == self._topics.identity_index:
            customer_id = None if value is None else str(json.loads(value)["customer_id"])
            if key.startswith(_ALIAS_PREFIX):
                aliases.append((key[len(_ALIAS_PREFIX) :], customer_id))
            elif self._keys is None:
                index.append((key, customer_id))
            else:  # keyed by a hash of the identifier; the sealed value names it
                entry = json.loads(value) if value is not None else None
                plain = self._index_names.plain(key, entry)
                if plain is not None:
                    index.append((plain, customer_id))
        elif topic == self._topics.do_not_contact:
            held = None if value is None else DoNotContact.model_validate_json(value)
            self._view.hold(key, None if held is None else held.flag())
            if held is not None:
                self.erasures.setdefault(held.request_id, held.since.isoformat())
        elif value is None:
            return
        elif topic == self._topics.resolved:
            record: dict[str, Any] = json.loads(value)
            if record["kind"] == "signal" and record.get("signal"):
                self._store.signals.add(signal_row(record))
            elif record["kind"] == "erase":
                erased.customers.add(record["customer_id"])
        elif topic == self._topics.identity_changes:
            # Aliases come from identity.index alone: a merged id can found a customer
            # again (a re-clustering split), and only the index's latest entry says so;
            # merge records on other topics arrive in no fixed order with it.
            change = json.loads(value)
            if change["kind"] == "erased":
                erased.customers.update([change["customer_id"], *change.get("absorbed_ids", ())])
                erased.requests[change["signal_id"]] = change["at"]
            else:
                self._store.identity_changes.add(change_row(change))

    def _probe(self, consumer: Consumer) -> None:
        """Ask the broker for the serving topics; measure how far behind this replica is."""
        self._probed = time.monotonic()
        try:
            metadata = consumer.list_topics(timeout=2)
        except KafkaException:
            return  # unanswered: ``unready`` counts the silence
        self._answered = time.monotonic()
        self._gone = [n for n in self._names if n not in metadata.topics]
        lag = 0
        for (topic, partition), position in self._positions.items():
            if topic == self._log_topic:
                continue
            try:
                _, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), cached=True
                )
            except KafkaException:
                continue
            lag += max(0, high - position) if high >= 0 else 0
        self._lag = lag

    def _check_caught_up(self) -> None:
        if self._caught_up.is_set():
            return
        if not self._targets:  # every partition read up to this replica's fence
            log.info("caught up: %d messages applied", self.applied)
            self._caught_up.set()
