"""Every package states its public API in ``__all__``, and every name in it exists.

Tests and benches use only that API: no private module (``_x.py``) or name (``_x``).
"""

from __future__ import annotations

import ast
import importlib
import re
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


#: Folders of code that uses signalfold from outside: only through public names.
USERS = ("tests", "bench")
#: A whole string that is a dotted signalfold path (``mock.patch``, ``import_module``).
DOTTED = re.compile(r"signalfold(\.\w+)+")


def _private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def private_uses(folder: Path) -> list[str]:
    """``file:line: name`` for each private signalfold module or name a file under ``folder``
    imports (at the top or inside a function) or names in a dotted string."""
    found: list[tuple[str, int, str]] = []
    for path in sorted(folder.rglob("*.py")):
        where = path.relative_to(folder.parent)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                names = [node.value] if DOTTED.fullmatch(node.value) else []
            for name in names:
                parts = name.split(".")
                if parts[0] == "signalfold" and any(map(_private, parts[1:])):
                    found.append((str(where), getattr(node, "lineno", 0), name))
    return [f"{file}:{line}: {name}" for file, line, name in sorted(found)]


@pytest.mark.parametrize("folder", USERS)
def test_tests_and_benches_use_only_public_names(folder: str) -> None:
    wrong = private_uses(ROOT / folder)
    assert not wrong, (
        f"{folder}/ reaches private signalfold modules or names: {wrong}. Import the name from "
        "a public module of its package (re-export it there and list it in __all__), or test "
        "through the public function that uses it."
    )


def test_the_check_sees_each_way_of_reaching_a_private_name(tmp_path: Path) -> None:
    """Top-level and lazy imports, private modules and names, patch targets; public ones pass."""
    (tmp_path / "tests").mkdir()
    source = (
        "import os\n"
        "import signalfold.sinks.store\n"
        "from signalfold import __version__\n"
        "from signalfold.streams.topics import Topics\n"
        "import signalfold.sinks._tables\n"
        "from signalfold.streams.state._kv import RocksKV\n"
        "from signalfold.streams.topics import _config\n"
        "\n"
        "def test_f(monkeypatch):\n"
        "    from signalfold.sinks._fast_check import FastFront\n"
        "    monkeypatch.setattr('signalfold.sinks._resolve.identifier_key', len)\n"
        "    monkeypatch.setattr('signalfold.sinks.store.open_store', len)\n"
    )
    (tmp_path / "tests" / "test_x.py").write_text(source)
    assert private_uses(tmp_path / "tests") == [
        "tests/test_x.py:5: signalfold.sinks._tables",
        "tests/test_x.py:6: signalfold.streams.state._kv.RocksKV",
        "tests/test_x.py:7: signalfold.streams.topics._config",
        "tests/test_x.py:10: signalfold.sinks._fast_check.FastFront",
        "tests/test_x.py:11: signalfold.sinks._resolve.identifier_key",
    ]
