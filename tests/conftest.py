"""Fixtures shared by every layer: the real embedded broker and isolated settings."""

from __future__ import annotations

import subprocess
import sys
import time
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


@pytest.fixture
def object_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An S3 bucket on a moto server process, and the AWS_* variables Tansu reads for it."""
    import boto3

    from signalfold.streams.broker import free_port

    port = free_port()
    with open(tmp_path / "s3.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        endpoint = f"http://127.0.0.1:{port}"
        env = {
            "AWS_ENDPOINT": endpoint,
            "AWS_ACCESS_KEY_ID": "signalfold-test",
            "AWS_SECRET_ACCESS_KEY": "signalfold-test",
            "AWS_DEFAULT_REGION": "eu-west-2",
            "AWS_ALLOW_HTTP": "true",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name=env["AWS_DEFAULT_REGION"])
        deadline = time.monotonic() + 30
        while True:
            try:
                s3.create_bucket(
                    Bucket="tansu",
                    CreateBucketConfiguration={"LocationConstraint": env["AWS_DEFAULT_REGION"]},
                )
                break
            except Exception:  # the server is still starting
                assert time.monotonic() < deadline and proc.poll() is None, "moto did not start"
                time.sleep(0.2)
        yield "s3://tansu/"
    finally:
        proc.kill()
        proc.wait(10)
