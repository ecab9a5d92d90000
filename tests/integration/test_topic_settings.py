"""signalfold refuses to run on topics made with other settings, and says which."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from signalfold.bootstrap import build_worker, create_topics
from signalfold.settings import Settings
from signalfold.streams.broker import EmbeddedBroker
from signalfold.streams.topic_check import TopicsNotReady
from signalfold.streams.topics import Topics

pytestmark = pytest.mark.integration


def test_a_topic_with_another_partition_count_or_retention_is_refused_by_name(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}."
    made = Settings(kafka_bootstrap=broker.bootstrap, topic_prefix=prefix, partitions=2,
                    data_dir=tmp_path)  # fmt: skip
    topics = Topics(prefix)
    # Someone made identity.changes by hand: four partitions, a week's retention.
    admin = AdminClient(dict(made.kafka_client_config()))
    week = {"retention.ms": "604800000"}
    for future in admin.create_topics(
        [NewTopic(topics.identity_changes, 4, 1, config=week)]
    ).values():
        future.result()
    with pytest.raises(TopicsNotReady) as caught:
        create_topics(made)
    text = str(caught.value)
    assert f"{topics.identity_changes}: expected 1 partitions, found 4" in text
    assert "expected retention.ms=-1, found 604800000" in text
    # A deployment read with another SIGNALFOLD_PARTITIONS: every worker refuses.
    fresh = made.model_copy(update={"topic_prefix": f"u{uuid.uuid4().hex[:8]}."})
    create_topics(fresh)
    with pytest.raises(TopicsNotReady, match=r"expected 5 partitions, found 2"):
        build_worker("state", fresh.model_copy(update={"partitions": 5}))
