"""Raw events in each shipped source's own shape, for the integration tests."""

from __future__ import annotations

import json
from datetime import datetime

from confluent_kafka import Producer

from signalfold.settings import Settings
from signalfold.streams.kafka import producer
from signalfold.streams.topics import Topics

__all__ = ["RawFeed", "marketing", "sales", "support"]


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def marketing(event_id: str, event: str, email: str, at: datetime, **extra: object) -> dict:
    return {
        "id": event_id,
        "event": event,
        "email": email,
        "ts": _iso(at),
        "campaign": {"id": "cmp_1", "subject": "Hello"},
        "contact": {"first_name": "Jane", "last_name": "Doe"},
        **extra,
    }


def sales(
    event_id: str, obj: str, action: str, contact: dict, at: datetime, **extra: object
) -> dict:
    return {
        "id": event_id,
        "object": obj,
        "action": action,
        "occurredAt": int(at.timestamp() * 1000),
        "contact": contact,
        **extra,
    }


def support(
    event_id: str, kind: str, requester: dict, ticket: dict, at: datetime, **extra: object
) -> dict:
    return {
        "id": event_id,
        "type": kind,
        "created": at.strftime("%d/%m/%Y %H:%M:%S"),
        "requester": requester,
        "ticket": ticket,
        **extra,
    }


class RawFeed:
    """Produces raw events onto ``signals.raw.<source>`` for one test's topics."""

    def __init__(self, settings: Settings) -> None:
        self.topics = Topics(settings.topic_prefix)
        self._producer: Producer = producer(settings.kafka_client_config())
        self.sent = 0

    def send(self, source: str, key: str, event: dict | bytes) -> None:
        value = event if isinstance(event, bytes) else json.dumps(event).encode()
        self._producer.produce(self.topics.raw(source), key=key.encode(), value=value)
        self.sent += 1

    def flush(self) -> None:
        assert self._producer.flush(10) == 0
