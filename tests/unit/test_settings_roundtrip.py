"""Settings read back their own JSON and env form, as a child process is given them.

bench.decisions hands each server ``Settings.model_dump_json()``; before the
retention fields had a serializer, pydantic wrote ``P30D`` for the default
``retention_dead_letters``, the retention validator refused it, and no server started.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta

import pytest

from signalfold.settings import Settings

RETENTIONS = ("retention_history", "retention_decisions", "retention_dead_letters")


@pytest.fixture(autouse=True)
def _no_signalfold_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The settings under test come from the test alone, not from the shell running it."""
    for name in list(os.environ):
        if name.startswith("SIGNALFOLD_"):
            monkeypatch.delenv(name)


def _cases() -> list[Settings]:
    return [
        Settings(),
        Settings(retention_history="90d", retention_decisions="400d", retention_dead_letters="1w"),
        Settings(
            retention_history="12h", retention_decisions="52w", retention_dead_letters="forever"
        ),
    ]


@pytest.mark.parametrize("settings", _cases(), ids=["defaults", "days", "hours-weeks-forever"])
def test_json_is_read_back_as_the_same_settings(settings: Settings) -> None:
    dumped = settings.model_dump_json()
    assert Settings.model_validate_json(dumped) == settings
    assert Settings.model_validate(settings.model_dump(mode="json")) == settings


@pytest.mark.parametrize("settings", _cases(), ids=["defaults", "days", "hours-weeks-forever"])
def test_env_form_is_read_back_as_the_same_settings(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for field, value in settings.model_dump(mode="json").items():
        if value is not None:
            monkeypatch.setenv(f"SIGNALFOLD_{field.upper()}", str(value))
    assert Settings() == settings


def test_retention_is_written_as_the_readme_documents_it() -> None:
    written = json.loads(Settings(retention_history="2w").model_dump_json())
    assert {field: written[field] for field in RETENTIONS} == {
        "retention_history": "2w",
        "retention_decisions": "forever",
        "retention_dead_letters": "30d",
    }
    # Python-mode dumps keep the values code works with.
    assert Settings().model_dump()["retention_dead_letters"] == timedelta(days=30)
