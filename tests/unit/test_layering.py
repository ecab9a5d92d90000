"""Which package may import which: the layering docs/architecture.md draws.

Read from the sources' import statements (``ast``), so a lazy import inside a
function counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: What ``sinks/`` may use of ``streams/``: the transport it reads and writes
#: topics with (clients and fences, topic names, the key log), never a stage,
#: the runner, the fold or the decision logic.
SINKS_MAY_USE = {
    "signalfold.streams.kafka",
    "signalfold.streams.topics",
    "signalfold.streams.keylog",
}
#: Pure library packages: no Kafka, no HTTP, no stages, no serving.
PURE = ("schemas", "identity", "policy", "privacy")
FORBIDDEN_IN_PURE = (
    "signalfold.streams",
    "signalfold.sinks",
    "signalfold.bootstrap",
    "confluent_kafka",
    "fastapi",
)


def imports(folder: str, root: Path = ROOT) -> list[tuple[str, str]]:
    """(file, module) for every import under ``folder``."""
    found = []
    for path in sorted((root / folder).rglob("*.py")):
        name = str(path.relative_to(root))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.append((name, node.module))
            elif isinstance(node, ast.Import):
                found += [(name, alias.name) for alias in node.names]
    return found


def test_sinks_use_only_the_transport_of_streams() -> None:
    wrong = [
        (file, module)
        for file, module in imports("sinks")
        if module.startswith("signalfold.streams") and module not in SINKS_MAY_USE
    ]
    assert not wrong, f"sinks import streams beyond its transport: {wrong}"


def test_sinks_never_import_the_composition_root() -> None:
    wrong = [(f, m) for f, m in imports("sinks") if m.startswith("signalfold.bootstrap")]
    assert not wrong, wrong


@pytest.mark.parametrize("folder", PURE)
def test_pure_packages_stay_pure(folder: str) -> None:
    wrong = [(f, m) for f, m in imports(folder) if m.startswith(FORBIDDEN_IN_PURE)]
    assert not wrong, f"{folder}/ imports what a pure library must not: {wrong}"


def test_the_check_sees_a_lazy_import(tmp_path: Path) -> None:
    """A function-level import is found: the check is not blind to the common case."""
    (tmp_path / "sinks").mkdir()
    source = "import os\n\ndef f():\n    from signalfold.streams.runner import StageRunner\n"
    (tmp_path / "sinks" / "x.py").write_text(source)
    assert imports("sinks", tmp_path) == [
        ("sinks/x.py", "os"),
        ("sinks/x.py", "signalfold.streams.runner"),
    ]
