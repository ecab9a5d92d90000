"""A resolve worker whose lease topic vanishes (a memory-only broker came back empty)
stops with LostData instead of standing by forever with nobody owning the graph."""

from __future__ import annotations

import threading
import time

import pytest

from signalfold.streams.broker import EmbeddedBroker, free_port
from signalfold.streams.lease import Lease, LeasedRunner
from signalfold.streams.runner import LostData
from signalfold.streams.topics import ensure_topics

pytestmark = pytest.mark.integration


class _Owner:
    """Stands in for the resolve stage's runner: runs until stopped."""

    def __init__(self) -> None:
        self.stopped = threading.Event()

    def run(self) -> None:
        self.stopped.wait()

    def stop(self) -> None:
        self.stopped.set()


def test_a_vanished_lease_topic_is_lost_data_not_a_silent_standby() -> None:
    port = free_port()
    client: dict[str, str | int] = {"bootstrap.servers": f"127.0.0.1:{port}"}
    broker = EmbeddedBroker(port=port).start()
    try:
        ensure_topics(client, ["identity.lease"], 1, ordered={"identity.lease"})
        lease = Lease(client, "identity.lease", "g-lease", session_timeout_ms=6000)
        runner = LeasedRunner(lease, _Owner, lambda seconds: time.sleep(seconds))
        failures: list[BaseException] = []

        def run() -> None:
            try:
                runner.run()
            except BaseException as exc:  # the test reads it
                failures.append(exc)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        assert lease.wait(60), "the lone worker takes the lease"
        broker.stop(grace=0)
        broker = EmbeddedBroker(port=port).start()  # memory storage: empty
        thread.join(90)
        assert not thread.is_alive()
        assert failures and isinstance(failures[0], LostData)
        assert "identity.lease" in str(failures[0]) and "THE BROKER LOST DATA" in str(failures[0])
    finally:
        broker.stop()
