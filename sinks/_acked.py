"""One record sent from a request and acknowledged by the broker before the answer.

The erasure and identity-command routes answer 202 only once the broker holds
the record; otherwise 503 with the one error shape, saying what was not
recorded. One producer per sender, made on first use.
"""

from __future__ import annotations

import threading
from typing import Any

from fastapi import HTTPException

from signalfold.settings import Settings
from signalfold.sinks.errors import refusal

__all__ = ["AckedSender"]


class AckedSender:
    """``send(topic, key, value)``: produce and wait for the acknowledgement, or 503."""

    def __init__(self, settings: Settings, what: str, consequence: str) -> None:
        self._settings = settings
        self._what, self._consequence = what, consequence  # for the 503's wording
        self._producer: Any = None
        self.lock = threading.RLock()  # held by ``send``; a caller may hold it around more

    def send(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        from signalfold.streams.kafka import producer

        with self.lock:
            if self._producer is None:
                self._producer = producer(self._settings.kafka_client_config())
            try:
                self._producer.produce(topic, key=key, value=value)
            except BufferError:  # the producer's queue is full: the broker is not taking them
                raise self._unavailable() from None
            if self._producer.flush(10):
                raise self._unavailable()

    def _unavailable(self) -> HTTPException:
        return refusal(
            503,
            "broker_unavailable",
            [],
            None,
            f"the broker to acknowledge the {self._what}",
            "no acknowledgement",
            self._consequence,
        )
