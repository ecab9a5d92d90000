"""Run the ``signalfold`` CLI against one test's settings: in-process, or as a subprocess."""

from __future__ import annotations

import sys

import pytest

from signalfold.cli import main
from signalfold.settings import Settings

__all__ = ["CLI", "cli_env", "run_cli"]

# ``signalfold`` as a child process of this interpreter (no console script needed).
CLI = [sys.executable, "-c", "import sys; from signalfold.cli import main; sys.exit(main())"]


def cli_env(settings: Settings) -> dict[str, str]:
    """The ``SIGNALFOLD_*`` variables that point a CLI process at ``settings``."""
    return {
        "SIGNALFOLD_KAFKA_BOOTSTRAP": settings.kafka_bootstrap or "",
        "SIGNALFOLD_TOPIC_PREFIX": settings.topic_prefix,
        "SIGNALFOLD_PARTITIONS": str(settings.partitions),
        "SIGNALFOLD_KAFKA_SESSION_TIMEOUT_MS": str(settings.kafka_session_timeout_ms),
        "SIGNALFOLD_DATA_DIR": str(settings.data_dir),
        "SIGNALFOLD_API_PORT": str(settings.api_port),
        "SIGNALFOLD_LOG_LEVEL": "WARNING",
    }


def run_cli(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    settings: Settings,
    *args: str,
) -> tuple[int, str]:
    """``signalfold *args`` with the environment pointing at ``settings``; (exit code, stdout)."""
    for name, value in cli_env(settings).items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out + captured.err
