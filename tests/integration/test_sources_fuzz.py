"""A generated batch of malformed and valid events through the real ingest stage on
the broker: every event is a signal or a dead letter with a reason; nothing crashes."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from raw_events import RawFeed
from topic_view import TopicView

from signalfold.local import LocalPipeline
from signalfold.settings import Settings
from signalfold.streams.demo import SOURCES, generate_demo

SAMPLES = [e for e in generate_demo(people=8, seed=5)]
junk = st.binary(max_size=64) | st.builds(
    lambda d: json.dumps(d).encode(),
    st.dictionaries(
        st.sampled_from(["id", "type", "event", "kind", "at", "user"]),
        st.text(max_size=5) | st.integers(),
        max_size=5,
    ),
)
mutated = st.builds(
    lambda e, cut: e.value[: max(1, len(e.value) * cut // 100)],
    st.sampled_from(SAMPLES),
    st.integers(30, 100),
)
event = st.tuples(st.sampled_from([*SOURCES, "nobody_owns_this"]), junk | mutated)


@settings(
    max_examples=1,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(event, min_size=150, max_size=150))
def test_generated_batch_is_fully_accounted_for(settings: Settings, batch: list) -> None:
    feed = RawFeed(settings)
    with LocalPipeline(settings, stages=("ingest",)) as pipeline:
        from signalfold.streams.topics import ensure_topics

        ensure_topics(settings.kafka_client_config(), [feed.topics.raw("nobody_owns_this")], 3)
        view = TopicView(settings, feed.topics.canonical, feed.topics.dlq)
        try:
            for source, value in batch:
                feed.send(source, "k", value)
            feed.flush()
            total = lambda v: v.count(feed.topics.canonical) + v.count(feed.topics.dlq)  # noqa: E731
            view.wait_for(lambda v: total(v) >= len(batch), what="every event accounted for")
            assert total(view) == len(batch)
            for message in view.records[feed.topics.dlq]:
                letter = json.loads(message.value())
                assert letter["reason"] and letter["error_kind"] and letter["original"] is not None
            stage = pipeline.runners["ingest"].stage
            assert stage.mapped + stage.dead == len(batch)  # type: ignore[attr-defined]
            assert not pipeline.errors
        finally:
            view.close()
