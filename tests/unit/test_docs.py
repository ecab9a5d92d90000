"""The README's settings table and the Settings model must not drift apart."""

from __future__ import annotations

import re
from pathlib import Path

from signalfold.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_documented_in_the_readme() -> None:
    documented = set(re.findall(r"^\| `(SIGNALFOLD_[A-Z_]+)` \|", README.read_text(), re.M))
    expected = {f"SIGNALFOLD_{name.upper()}" for name in Settings.model_fields}
    assert expected - documented == set(), "settings missing from the README table"
    assert documented - expected == set(), "README documents settings that do not exist"


def test_readme_shows_both_commands() -> None:
    text = README.read_text()
    assert "make run" in text and "make test" in text
