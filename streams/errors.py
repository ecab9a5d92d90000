"""Failures the streams package reports on purpose, under ``StreamsError``.

Each message names the stage or topic, what was expected, what was found and
what to do next. ``signalfold.streams.ingest.errors`` holds ingest's own
(a raw event that does not fit its contract).
"""

from __future__ import annotations

from signalfold.errors import SignalfoldError

__all__ = ["NotARecord", "StreamsError"]


class StreamsError(SignalfoldError):
    """Root of the errors the stages, the runner and the Kafka helpers raise on purpose."""


class NotARecord(StreamsError):
    """A consumed message without a topic, partition or offset: an error event, not a record.

    confluent-kafka returns the consumer's error events (a partition's end, a
    broker gone) as messages too; only those lack a record's position.
    """

    def __init__(self, missing: str, error: object) -> None:
        super().__init__(
            f"a consumed message has no {missing}: it is the consumer's error event "
            f"({error}), not a record; skip messages whose error() is set before "
            "reading their position"
        )
