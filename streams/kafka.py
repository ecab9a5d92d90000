"""Kafka clients configured once, and the few protocol tricks signalfold relies on.

``read_to_end`` does not trust the high watermark: Tansu reports the start of
the last batch + 1, so a reader that stops at the watermark can miss the tail.
It writes a fence record to every partition and reads until it has seen them
all. Consumers of a fenced topic skip records with the ``signalfold.fence``
header (see ``is_fence``).

No client of signalfold's creates a topic by using it
(``allow.auto.create.topics=false``): a broker would create it with its own
defaults (partitions, no retention rule), and after a memory-only broker
restarts empty, a stage would quietly recreate what it reads and start from
nothing. Topics are created with their settings by ``signalfold topics`` /
``signalfold run`` (``streams.topics.ensure_topics``), and a stage refuses to
run without them (``streams.topic_check``).
"""

from __future__ import annotations

import ctypes
import signal
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from signalfold.streams.errors import NotARecord, StreamsError

__all__ = [
    "DEFAULT_FETCH_WAIT_MS",
    "FENCE_HEADER",
    "FETCH_WAIT",
    "MAX_RECORD_BYTES",
    "admin",
    "consume_ready",
    "consumer",
    "die_with_parent",
    "fence_producer",
    "is_fence",
    "offset_of",
    "partition_of",
    "producer",
    "read_partition_until",
    "read_to_end",
    "topic_of",
]

FENCE_HEADER = "signalfold.fence"

Config = dict[str, str | int]

#: signalfold's own key in a client config (``Settings.kafka_client_config``), not
#: librdkafka's: the consumers' ``fetch.wait.max.ms``, set only when configured.
FETCH_WAIT = "signalfold.fetch.wait.max.ms"

#: How long a consumer's fetch waits for data. Tansu holds a fetch on a quiet
#: partition for the whole wait, so on the embedded broker this bounds each hop.
DEFAULT_FETCH_WAIT_MS = 20

#: The largest record signalfold publishes (key + value). librdkafka's default
#: ``message.max.bytes`` is 1,000,000 including framing, as is Kafka's default
#: ``max.message.bytes``; a stage sets a larger output aside on the DLQ instead,
#: and the API refuses a command that would not fit.
MAX_RECORD_BYTES = 900_000


def _librdkafka(client: Mapping[str, Any]) -> dict[str, Any]:
    """``client`` without signalfold's own keys, as librdkafka takes it."""
    return {k: v for k, v in client.items() if not k.startswith("signalfold.")}


def admin(client: Mapping[str, Any]) -> AdminClient:
    """An admin client on ``client`` (signalfold's own keys left out)."""
    return AdminClient(_librdkafka(client))


def producer(client: Config, **overrides: Any) -> Producer:
    """A producer tuned for low latency with small batches.

    Idempotence keeps per-partition order through retries: the identity log is
    rebuilt by applying it in order, so a retry must never reorder it (Tansu
    supports idempotent producers, as Apache Kafka does).
    """
    return Producer(
        {
            **_librdkafka(client),
            "linger.ms": 2,
            "enable.idempotence": True,
            "acks": "all",
            "compression.type": "none",
            "queue.buffering.max.messages": 1_000_000,
            "allow.auto.create.topics": False,
            **overrides,
        }
    )


def fence_producer(client: Config) -> Producer:
    """A producer for read-to-end fences only: :func:`producer` without idempotence.

    An idempotent producer's first delivery waits for its producer id, which
    librdkafka asks for on a 500 ms timer: half a second for every short-lived
    fence writer (each ``read_to_end``, each catch-up). A fence needs none of
    what idempotence gives: it is one record per partition, readers key on its
    id and skip every fence, so a retried duplicate or a reorder is harmless,
    and records acknowledged before it are still before it (``acks=all``).
    """
    return producer(client, **{"enable.idempotence": False})


def consumer(client: Config, group: str | None, **overrides: Any) -> Consumer:
    """A consumer that commits only what signalfold says it has handled."""
    config: dict[str, Any] = {
        **_librdkafka(client),
        "group.id": group or f"signalfold-reader-{uuid.uuid4().hex}",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "fetch.wait.max.ms": int(client.get(FETCH_WAIT, DEFAULT_FETCH_WAIT_MS)),
        "enable.partition.eof": False,
        "allow.auto.create.topics": False,
        **overrides,
    }
    return Consumer(config)


def is_fence(message: Message) -> bool:
    """True for the internal read-to-end markers; every consumer skips them."""
    headers = message.headers()
    if not headers:
        return False
    pairs = headers.items() if isinstance(headers, dict) else headers
    return any(name == FENCE_HEADER for name, _ in pairs)


# A record's position. confluent-kafka types each Optional because the consumer's
# error events are messages too; a record (``error()`` is None) always has all three.


def topic_of(message: Message) -> str:
    """The topic of a consumed (or delivered) record."""
    topic = message.topic()
    if topic is None:
        raise NotARecord("topic", message.error())
    return topic


def partition_of(message: Message) -> int:
    """The partition of a consumed (or delivered) record."""
    partition = message.partition()
    if partition is None:
        raise NotARecord("partition", message.error())
    return partition


def offset_of(message: Message) -> int:
    """The offset of a consumed (or delivered) record."""
    offset = message.offset()
    if offset is None:
        raise NotARecord("offset", message.error())
    return offset


def _check(message: Message) -> bool:
    error = message.error()
    if error is None:
        return True
    if error.code() == KafkaError._PARTITION_EOF:
        return False
    raise StreamsError(
        f"kafka error on {message.topic()}: {error.str()}; check the broker "
        "(SIGNALFOLD_KAFKA_BOOTSTRAP) and that the topic exists (`signalfold topics`)"
    )


def read_to_end(
    client: Config, topic: str, handle: Callable[[Message], None], timeout: float = 60.0
) -> int:
    """Feed every record of ``topic`` to ``handle``, up to a fence written just now."""
    probe = Consumer({**_librdkafka(client), "group.id": "signalfold-meta"})
    try:
        meta = probe.list_topics(topic, timeout=10)
    finally:
        probe.close()  # one per call: left open, a caller's every read leaked one
    partitions = sorted(meta.topics[topic].partitions)
    fence = uuid.uuid4().hex.encode()
    prod = fence_producer(client)
    for partition in partitions:
        prod.produce(
            topic, key=b"", value=b"", partition=partition, headers=[(FENCE_HEADER, fence)]
        )
    if prod.flush(10) != 0:
        raise StreamsError(
            f"could not write read-to-end fences to {topic} within 10s; check the broker "
            "(SIGNALFOLD_KAFKA_BOOTSTRAP) and that this client may produce to the topic"
        )
    reader = consumer(client, None)
    reader.assign([TopicPartition(topic, p, 0) for p in partitions])
    pending, count = set(partitions), 0
    deadline = time.monotonic() + timeout
    try:
        while pending:
            if time.monotonic() > deadline:
                raise StreamsError(
                    f"reading {topic} to its end took over {timeout:.0f}s; the broker is slow "
                    "or unreachable: check it, then run the command again"
                )
            for message in consume_ready(reader, 5000, 0.2):
                if not _check(message):
                    continue
                if is_fence(message):
                    if dict(message.headers() or []).get(FENCE_HEADER) == fence:
                        pending.discard(message.partition())
                    continue
                handle(message)
                count += 1
    finally:
        reader.close()
    return count


def read_partition_until(
    client: Config,
    topic: str,
    partition: int,
    end: int,
    timeout: float = 120.0,
    *,
    start: int = 0,
) -> Iterator[Message]:
    """Yield the records of one partition with offsets in ``[start, end)``.

    ``end`` is a committed offset, so the records are known to exist: no
    watermark is consulted. ``start`` is where a checkpointed store left off.
    """
    if end <= max(start, 0):
        return
    reader = consumer(client, None)
    reader.assign([TopicPartition(topic, partition, max(start, 0))])
    deadline = time.monotonic() + timeout
    try:
        while True:
            if time.monotonic() > deadline:
                raise StreamsError(
                    f"replaying {topic}[{partition}] to offset {end} took over {timeout:.0f}s; "
                    "check the broker, then restart the stage"
                )
            for message in consume_ready(reader, 5000, 0.2):
                if not _check(message):
                    continue
                if offset_of(message) >= end:
                    return
                if not is_fence(message):
                    yield message
                if offset_of(message) >= end - 1:
                    return
    finally:
        reader.close()


def die_with_parent() -> None:
    """``preexec_fn`` for child processes: SIGTERM them if the parent dies (Linux)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def consume_ready(consumer: Consumer, limit: int, wait: float) -> list[Message]:
    """Up to ``limit`` messages, as soon as there is one: waits at most ``wait`` seconds
    for the first, then takes only what is already fetched.

    ``Consumer.consume(limit, wait)`` sits out the whole ``wait`` unless ``limit``
    messages are queued, which a reader of a quiet topic pays on every event.
    """
    first = consumer.consume(1, wait)
    if not first or limit <= 1:
        return first
    return first + consumer.consume(limit - 1, 0)
