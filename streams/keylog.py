"""The key log: every subject's key versions on ``privacy.keys``, followed by each process.

One partition, compacted, keyed by key version (20 bytes: the subject's kid and
4 random bytes), the value the 32-byte key; a tombstone deletes a version
(erasure). Every process that seals or opens values (``privacy.sealing``)
holds a ``KeyLog``: it reads the log to its end at start, then takes what is
new whenever it meets an envelope it has no key for, and before erasing.

Keys a writer makes are published, and their delivery awaited, before the
values they seal (``publish``), so a reader that meets a version it has never
seen and then reads the log to its end either finds it or finds it deleted.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
import uuid
from collections.abc import Iterable

import orjson
from confluent_kafka import Message, TopicPartition

from signalfold.errors import SignalfoldError
from signalfold.privacy.sealing import VERSION_BYTES, Keyring, SubjectIds, is_sealed
from signalfold.schemas.dlq import DeadLetter
from signalfold.streams.kafka import (
    FENCE_HEADER,
    Config,
    consume_ready,
    consumer,
    fence_producer,
    is_fence,
    producer,
)

__all__ = ["KeyLog", "KeyLogError", "open_letter", "seal_letter"]

log = logging.getLogger(__name__)

#: The key of the record that names the deployment's secret (a MAC of a constant under
#: it): a process started with another secret would seal under other subject ids.
FINGERPRINT = b"signalfold.secret-fingerprint"


class KeyLogError(SignalfoldError):
    """The key log could not be read or written; nothing was sealed or erased."""


class KeyLog:
    """A process's view of ``privacy.keys``: its ``Keyring``, kept current.

    Example::

        keys = KeyLog(client, topics.privacy_keys, SubjectIds(secret))
        sealed = keys.seal([keys.ids.record("crm:003A")], body)
        keys.publish()  # before producing ``sealed``
        keys.open(sealed) == body
    """

    def __init__(self, client: Config, topic: str, ids: SubjectIds) -> None:
        self.ring = Keyring()
        self.ids = ids
        self._client, self._topic = client, topic
        self._reader = consumer(client, None)
        self._reader.assign([TopicPartition(topic, 0, 0)])
        self._producer = producer(client)  # key versions and tombstones: in order
        # Fences apart: the idempotent producer's first delivery waits ~0.5 s for its id,
        # which a catch-up at start-up need not (see ``fence_producer``).
        self._fences = fence_producer(client)
        self._lock = threading.RLock()  # a replica seals and opens from several threads
        self._fingerprint: bytes | None = None  # the deployment secret's, as the log has it
        self.catch_up()
        mine = ids.fingerprint()
        if self._fingerprint is None:  # the first process of this deployment
            self._producer.produce(topic, key=FINGERPRINT, value=mine, partition=0)
            self._producer.flush(10)
        elif self._fingerprint != mine:
            self.close()
            raise KeyLogError(
                f"{topic}: this process's PII secret differs from the one the deployment's "
                "keys were made with; every process must use the same one: set "
                "SIGNALFOLD_PII_HASH_KEY to it (or share the data dir's pii-hash.key)"
            )

    def close(self) -> None:
        """Let go of the reader (once; a second call does nothing)."""
        if getattr(self, "_closed", False):
            return
        self._closed = True
        self._reader.close()
        self._producer.flush(10)

    def seal(self, kids: Iterable[bytes], plain: bytes) -> bytes:
        return self.ring.seal(kids, plain)

    def seal_records(self, record_ids: Iterable[str | None], plain: bytes) -> bytes:
        """``plain`` about these records (``source:key``): unreadable once any is erased."""
        return self.ring.seal([self.ids.record(r) for r in record_ids if r], plain)

    def seal_customer(self, customer_id: str, plain: bytes) -> bytes:
        return self.ring.seal([self.ids.customer(customer_id)], plain)

    def index_key(self, identifier_key: str) -> bytes:
        """The message key of an identifier's index entry: a keyed hash, not the value."""
        return self.ids.index(identifier_key).hex().encode()

    def record_key(self, record_id: str) -> bytes:
        """The message key of a record's values: its kid in hex, not its name."""
        return self.ids.record(record_id).hex().encode()

    def open(self, value: bytes | None) -> bytes | None:
        """The plain value, or ``None`` if a key it needs was deleted (erased)."""
        plain = self.ring.open(value)
        if plain is None and value is not None and self.ring.missing(value):
            self.catch_up()
            plain = self.ring.open(value)
        return plain

    def prepare(self, values: Iterable[bytes | None]) -> None:
        """Make sure the keys a batch of values needs are known: at most one catch-up.

        Keys are published before what they seal, so they are usually fetched by
        the time their values arrive; ``poll`` takes them without waiting, and the
        log is read to its end (a fence round trip) only if some are still missing.
        """
        ring = self.ring
        needed = [v for v in values if v is not None and is_sealed(v)]
        if not needed or not any(ring.missing(v) for v in needed):
            return
        self.poll()
        if any(ring.missing(v) for v in needed):
            self.catch_up()

    def publish(self, timeout: float = 30.0) -> None:
        """Publish the key versions sealing made, and wait until the broker has them."""
        if self.ring.made:
            with self._lock:
                self._publish(timeout)

    def delete(self, kids: Iterable[bytes], timeout: float = 30.0) -> int:
        """Delete every version of ``kids`` (tombstones, acknowledged); how many went."""
        with self._lock:
            return self._delete(list(kids), timeout)

    def catch_up(self, timeout: float = 60.0) -> None:
        """Read the log to a fence written just now: every key published before is known."""
        with self._lock:
            self._catch_up(timeout)

    def _publish(self, timeout: float) -> None:
        made, self.ring.made = self.ring.made, []
        if not made:
            return
        for version, key in made:
            self._producer.produce(self._topic, key=version, value=key, partition=0)
        if self._producer.flush(timeout) != 0:
            self.ring.made = made + self.ring.made
            raise KeyLogError(
                f"{self._topic}: {len(made)} new keys not acknowledged within {timeout:.0f}s; "
                "the values they seal were not published (is the broker up?)"
            )

    def _delete(self, kids: list[bytes], timeout: float) -> int:
        self._catch_up(60.0)
        versions = [v for kid in kids for v in self.ring.versions(kid)]
        for version in versions:
            self._producer.produce(self._topic, key=version, value=None, partition=0)
        if self._producer.flush(timeout) != 0:
            raise KeyLogError(
                f"{self._topic}: deleting {len(versions)} keys not acknowledged within "
                f"{timeout:.0f}s; the erasure did not happen (is the broker up?)"
            )
        for version in versions:
            self.ring.forget(version)
        return len(versions)

    def poll(self) -> None:
        """Take what the log has now, without waiting (learns deletions)."""
        with self._lock:
            for message in self._reader.consume(num_messages=10_000, timeout=0):
                self._apply(message)

    def _catch_up(self, timeout: float) -> None:
        fence = uuid.uuid4().hex.encode()
        self._fences.produce(
            self._topic, key=b"", value=b"", partition=0, headers=[(FENCE_HEADER, fence)]
        )
        if self._fences.flush(10) != 0:
            raise KeyLogError(f"could not write a read-to-end fence to {self._topic}")
        deadline = time.monotonic() + timeout
        reached = False
        while not reached:
            if time.monotonic() > deadline:
                raise KeyLogError(f"reading {self._topic} to its end took over {timeout:.0f}s")
            # Every record the call returns is applied, those after the fence too: the
            # reader's position has moved past them, no later read would see them again.
            for message in consume_ready(self._reader, 10_000, 0.2):
                if is_fence(message):
                    reached |= dict(message.headers() or []).get(FENCE_HEADER) == fence
                    continue
                self._apply(message)

    def _apply(self, message: Message) -> None:
        if message.error() is not None:
            raise KeyLogError(f"{self._topic}: {message.error()}")
        if is_fence(message):
            return
        version = message.key() or b""
        if version == FINGERPRINT:
            self._fingerprint = message.value()
            return
        if len(version) != VERSION_BYTES:
            log.warning(
                "%s: a record with a %d-byte key is no key version", self._topic, len(version)
            )
            return
        value = message.value()
        if value is None:
            self.ring.forget(version)
        else:
            self.ring.learn(version, value)


def seal_letter(letter: DeadLetter, keys: KeyLog | None) -> DeadLetter:
    """``letter`` with its original bytes and raw key sealed for the record ``source:key``.

    A letter with no raw key names no record: it stays as it is, bounded by the
    dead letters' retention (``SIGNALFOLD_RETENTION_DEAD_LETTERS``).
    """
    if keys is None or letter.sealed or not letter.key:
        return letter
    record = [f"{letter.source}:{letter.key}"]

    def sealed(plain: bytes) -> str:
        return base64.b64encode(keys.seal_records(record, plain)).decode("ascii")

    update: dict[str, object] = {
        "original": sealed(base64.b64decode(letter.original)),
        "key": sealed(letter.key.encode()),
        "sealed": True,
    }
    if letter.found is not None:  # what was found is the event's own content
        told = orjson.dumps({"found": letter.found, "reason": letter.reason})
        update["found"] = sealed(told)
        update["reason"] = letter.reason.replace(letter.found, "(sealed with the record's key)")
    return letter.model_copy(update=update)


def open_letter(letter: DeadLetter, keys: KeyLog | None) -> DeadLetter | None:
    """``letter`` as it was before ``seal_letter``; ``None`` if its person was erased."""
    if not letter.sealed:
        return letter
    if keys is None:
        return None
    original = keys.open(base64.b64decode(letter.original))
    key = keys.open(base64.b64decode(letter.key or ""))
    if original is None or key is None:
        return None
    opened: dict[str, object] = {
        "original": base64.b64encode(original).decode("ascii"),
        "key": key.decode(),
        "sealed": False,
    }
    if letter.found is not None:
        told = keys.open(base64.b64decode(letter.found))
        if told is None:
            return None
        opened |= orjson.loads(told)
    return letter.model_copy(update=opened)
