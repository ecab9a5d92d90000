"""Run the ``signalfold`` CLI in-process against one test's settings, capturing output."""

from __future__ import annotations

import pytest

from signalfold.cli import main
from signalfold.settings import Settings

__all__ = ["run_cli"]


def run_cli(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    settings: Settings,
    *args: str,
) -> tuple[int, str]:
    """``signalfold *args`` with the environment pointing at ``settings``; (exit code, stdout)."""
    env = {
        "SIGNALFOLD_KAFKA_BOOTSTRAP": settings.kafka_bootstrap or "",
        "SIGNALFOLD_TOPIC_PREFIX": settings.topic_prefix,
        "SIGNALFOLD_PARTITIONS": str(settings.partitions),
        "SIGNALFOLD_DATA_DIR": str(settings.data_dir),
        "SIGNALFOLD_LOG_LEVEL": "WARNING",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out + captured.err
