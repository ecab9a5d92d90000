"""Every package states its public API in ``__all__``, and every name in it exists."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
# Folders of data files only (no Python, so no API to state).
DATA_ONLY = {"signalfold.defaults", "signalfold.defaults.contracts", "signalfold.identity.model"}


def public(package: ModuleType, name: str) -> object:
    """``name`` of ``package``: an attribute, or else a submodule of that name."""
    if hasattr(package, name):
        return getattr(package, name)
    try:
        return importlib.import_module(f"{package.__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{package.__name__}.{name}":
            raise
        pytest.fail(f"{package.__name__}.__all__ names {name!r}, which it does not have")


@pytest.mark.parametrize("name", sorted(set(PACKAGES) - DATA_ONLY))
def test_every_name_in_all_exists(name: str) -> None:
    package = importlib.import_module(name)
    names = getattr(package, "__all__", None)
    assert isinstance(names, list), f"{name}/__init__.py declares no __all__ list"
    assert len(set(names)) == len(names), f"{name}.__all__ repeats a name"
    for entry in names:
        assert isinstance(entry, str), (name, entry)
        assert public(package, entry) is not None, (name, entry)
        assert not entry.startswith("_") or entry == "__version__", (name, entry)


def test_data_only_packages_hold_no_python() -> None:
    for name in DATA_ONLY:
        folder = Path(importlib.import_module(name).__path__[0])
        assert not list(folder.glob("*.py")), f"{name} has Python now: give it an __all__"


def test_a_missing_name_fails() -> None:
    package = importlib.import_module("signalfold.streams")
    with pytest.raises(pytest.fail.Exception, match="does not have"):
        public(package, "no_such_module")
