"""Fixtures shared by every layer: the real embedded broker and isolated settings."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from signalfold.settings import Settings
from signalfold.streams.broker import EmbeddedBroker


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    """One Tansu broker for the session; tests isolate themselves by topic prefix."""
    with EmbeddedBroker() as running:
        yield running


@pytest.fixture
def settings(broker: EmbeddedBroker, tmp_path: Path) -> Settings:
    """Settings for one test: its own topic prefix, data dir and API port."""
    from signalfold.streams.broker import free_port

    return Settings(
        kafka_bootstrap=broker.bootstrap,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
        partitions=3,
        data_dir=tmp_path,
        api_port=free_port(),
        batch_linger_ms=5,
        # Tansu answers a JoinGroup after about half the session timeout, and a killed
        # member is noticed after all of it: 3 s instead of the default 6 s makes each
        # join 2 s instead of 3 s and each takeover 3 s sooner (heartbeats every 0.5 s).
        kafka_session_timeout_ms=3000,
    )
