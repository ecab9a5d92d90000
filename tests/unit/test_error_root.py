"""Every exception signalfold defines derives from the one root, ``SignalfoldError``."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import tomllib
from pathlib import Path

from signalfold.errors import SignalfoldError

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]


def defined_exceptions() -> list[type[BaseException]]:
    found: list[type[BaseException]] = []
    for name in PACKAGES:
        package = importlib.import_module(name)
        modules = [name] + [f"{name}.{m.name}" for m in pkgutil.iter_modules(package.__path__)]
        for module_name in modules:
            module = importlib.import_module(module_name)
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if issubclass(cls, BaseException) and cls.__module__ == module_name:
                    found.append(cls)
    return found


def test_every_exception_derives_from_the_root() -> None:
    found = defined_exceptions()
    assert len(found) > 20  # the walk reached the mapped packages (schemas/, streams/ ...)
    strays = sorted(
        f"{c.__module__}.{c.__qualname__}" for c in found if not issubclass(c, SignalfoldError)
    )
    assert not strays, f"derive these from SignalfoldError (or its package's root): {strays}"
