"""A broker that comes back without its data is not followed silently.

The embedded broker keeps everything in memory: killed and started again on
the same port, it is empty. Stages must not recreate what they read (no
auto-creation) nor start over from nothing: they stop with ``LostData``,
naming what is gone, and a new stage refuses to start until topics are made
deliberately.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from signalfold.local import LocalPipeline
from signalfold.settings import Settings
from signalfold.streams.broker import EmbeddedBroker, free_port
from signalfold.streams.runner import LostData, StageRunner
from signalfold.streams.topic_check import TopicsNotReady, problems, specs
from signalfold.streams.topics import Topics
from signalfold.supervisor import feed_demo, wait_folded

pytestmark = pytest.mark.integration


# The stages' threads end by raising LostData on purpose; LocalPipeline.errors holds it.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_stages_stop_loudly_when_the_broker_restarts_empty(tmp_path: Path) -> None:
    port = free_port()
    settings = Settings(
        kafka_bootstrap=f"127.0.0.1:{port}",
        topic_prefix=f"t{uuid.uuid4().hex[:8]}.",
        partitions=2,
        data_dir=tmp_path,
        api_port=free_port(),
    )
    first = EmbeddedBroker(port=port).start()
    pipeline = LocalPipeline(settings).start()
    try:
        _, good = feed_demo(settings, people=10, bad=False)
        assert wait_folded(settings, good, threading.Event(), timeout=120)
        first.stop(grace=0)  # memory storage: everything it held is gone
        second = EmbeddedBroker(port=port).start()
        try:
            deadline = time.monotonic() + 90
            while len(pipeline.errors) < len(pipeline.runners) and time.monotonic() < deadline:
                time.sleep(0.5)
            assert pipeline.errors and all(isinstance(e, LostData) for e in pipeline.errors)
            assert "THE BROKER LOST DATA" in str(pipeline.errors[0])
            topics = Topics(settings.topic_prefix)
            present = AdminClient({"bootstrap.servers": second.bootstrap}).list_topics(timeout=10)
            assert not [t for t in present.topics if t.startswith(settings.topic_prefix)], (
                "no stage recreated a topic by using it"
            )
            # A stage started now refuses to run on the empty broker, and says why.
            with pytest.raises(TopicsNotReady, match=r"signals\.canonical: missing"):
                StageRunner.run(pipeline.runners["resolve"])
            wanted = specs(
                topics.pipeline(), partitions=2, ordered=topics.ordered(),
                kept=topics.kept(), compacted=topics.compacted(),
            )  # fmt: skip
            assert len(problems(settings.kafka_client_config(), wanted)) == len(wanted)
        finally:
            pipeline.stop()
            second.stop()
    finally:
        first.stop()
