"""A test-side view of topics: everything read so far, and bounded waits on it.

Values come opened (``privacy/sealing.py``): what a stage with the keys reads. A
value whose key was deleted (an erased person's) reads as ``None``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Message, TopicPartition

from signalfold.bootstrap import key_log
from signalfold.settings import Settings
from signalfold.streams.kafka import consumer, is_fence

__all__ = ["TopicView"]


class Opened:
    """A consumed message with its value opened; the ``Message`` methods tests use."""

    def __init__(self, message: Message, value: bytes | None) -> None:
        self._m, self._value = message, value
        self.sealed = message.value()

    def value(self) -> bytes | None:
        return self._value

    def __getattr__(self, name: str) -> Any:
        return getattr(self._m, name)


class TopicView:
    """Reads topics from offset 0 in a thread; ``latest`` keeps the last value per key."""

    def __init__(self, settings: Settings, *topics: str) -> None:
        self._keys = key_log(settings)
        self._names: dict[bytes, bytes] = {}  # index message key → the identifier key
        self._reader = consumer(settings.kafka_client_config(), None)
        assignment = []
        for topic in topics:
            meta = self._reader.list_topics(topic, timeout=10).topics[topic]
            assignment += [TopicPartition(topic, p, 0) for p in meta.partitions]
        self._reader.assign(assignment)
        self.records: dict[str, list[Opened]] = {t: [] for t in topics}
        self.latest: dict[str, dict[bytes, bytes | None]] = {t: {} for t in topics}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for m in self._reader.consume(1000, 0.05):
                if m.error() is not None or is_fence(m):
                    continue
                opened = Opened(m, self._keys.open(m.value()))
                key = self._plain_key(m.topic(), m.key() or b"", opened.value())
                with self._lock:
                    self.records[m.topic()].append(opened)
                    self.latest[m.topic()][key] = opened.value()

    def _plain_key(self, topic: str, key: bytes, value: bytes | None) -> bytes:
        """``identity.index`` is keyed by a keyed hash of the identifier; ``latest`` by it."""
        if not topic.endswith("identity.index") or key.startswith(b"customer:"):
            return key
        if value is not None:
            self._names[key] = json.loads(value)["key"].encode()
        return self._names.get(key, key)

    def wait_for(
        self, predicate: Callable[[TopicView], Any], timeout: float = 60, what: str = ""
    ) -> Any:
        """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                result = predicate(self)
            if result:
                return result
            time.sleep(0.05)
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what or predicate}")

    def count(self, topic: str) -> int:
        return len(self.records[topic])

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._reader.close()
        self._keys.close()
