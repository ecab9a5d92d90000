"""A test-side view of topics: everything read so far, and bounded waits on it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Message, TopicPartition

from signalfold.settings import Settings
from signalfold.streams.kafka import consumer, is_fence

__all__ = ["TopicView"]


class TopicView:
    """Reads topics from offset 0 in a thread; ``latest`` keeps the last value per key."""

    def __init__(self, settings: Settings, *topics: str) -> None:
        self._reader = consumer(settings.kafka_client_config(), None)
        assignment = []
        for topic in topics:
            meta = self._reader.list_topics(topic, timeout=10).topics[topic]
            assignment += [TopicPartition(topic, p, 0) for p in meta.partitions]
        self._reader.assign(assignment)
        self.records: dict[str, list[Message]] = {t: [] for t in topics}
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
                with self._lock:
                    self.records[m.topic()].append(m)
                    self.latest[m.topic()][m.key() or b""] = m.value()

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
