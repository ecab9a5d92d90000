"""The largest events a producer can send do not stop ingest: they are set aside with a
bounded dead letter, and the next event folds."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from raw_events import RawFeed, marketing
from topic_view import TopicView

from signalfold.bootstrap import key_log
from signalfold.local import LocalPipeline
from signalfold.schemas.dlq import EXCERPT_BYTES, DeadLetter
from signalfold.settings import Settings
from signalfold.streams.keylog import open_letter
from signalfold.streams.topics import Topics

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
#: Just under librdkafka's default message.max.bytes (1,000,000 with framing).
LARGEST = 990_000


@pytest.fixture
def pipeline(settings: Settings) -> Iterator[LocalPipeline]:
    with LocalPipeline(settings, stages=("ingest",)) as running:
        yield running
    assert not running.errors


def test_the_largest_event_is_set_aside_and_the_next_one_maps(
    settings: Settings, pipeline: LocalPipeline
) -> None:
    t = Topics(settings.topic_prefix)
    view = TopicView(settings, t.canonical, t.dlq)
    feed = RawFeed(settings)
    big = json.dumps(
        marketing("huge", "email_sent", "big@example.com", T0, padding="x" * LARGEST)
    ).encode()[:LARGEST]
    feed.send("marketing", "huge", big)
    feed.send("marketing", "ok", marketing("after", "email_sent", "after@example.com", T0))
    feed.flush()
    try:
        view.wait_for(lambda v: v.count(t.canonical) == 1 and v.count(t.dlq) == 1, 60, "both")
        (letter_msg,) = view.records[t.dlq]
        # Its original bytes and key are sealed with the record's key; opened, they are these.
        sealed = DeadLetter.model_validate_json(letter_msg.value())
        assert sealed.sealed and big[:100] not in letter_msg.value()
        opened = open_letter(sealed, key_log(settings))
        assert opened is not None
        letter = opened.model_dump(mode="json")
        assert letter["error_kind"] == "oversized"
        assert letter["truncated"] is True and letter["original_bytes"] == len(big)
        assert letter["original_sha256"] == hashlib.sha256(big).hexdigest()
        assert base64.b64decode(letter["original"]) == big[:EXCERPT_BYTES]
        assert (letter["topic"], letter["offset"]) == (t.raw("marketing"), 0)
        assert len(letter_msg.value()) < 200_000
        (signal,) = view.records[t.canonical]
        assert json.loads(signal.value())["source_event_id"] == "after"
    finally:
        view.close()
