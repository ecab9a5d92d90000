"""docs/architecture.md stays true: the files it names exist, the functions it names are defined."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAP = ROOT / "docs" / "architecture.md"
#: Import-style prefixes the map uses for folders (``signalfold.sinks`` is ``sinks/``).
FOLDERS = ("schemas", "identity", "policy", "streams", "sinks", "privacy", "signalfold", "tests")


def code_spans(text: str) -> list[str]:
    return re.findall(r"`([^`]+)`", text)


def named_files(text: str) -> list[str]:
    return [s for s in code_spans(text) if re.fullmatch(r"[\w./-]+\.(py|yaml|md)", s) and "/" in s]


def named_callables(text: str) -> list[str]:
    """``Name.method`` or ``function(...)`` spans: what the path says is called."""
    found = []
    for span in code_spans(text):
        m = re.fullmatch(r"([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)?)\(.*\)", span) or re.fullmatch(
            r"([A-Z]\w*\.[a-z_]\w*)", span
        )
        if m:
            found.append(m.group(1))
    return found


def sources() -> str:
    return "\n".join(
        p.read_text(encoding="utf-8")
        for folder in FOLDERS[:-1]
        for p in (ROOT / folder).rglob("*.py")
    )


def defined(name: str, text: str) -> bool:
    *owner, last = name.split(".")
    if owner and not re.search(rf"\bclass {owner[0]}\b", text):
        return False
    return bool(re.search(rf"\b(def|class) {last}\b", text))


def test_every_file_the_map_names_exists() -> None:
    text = MAP.read_text(encoding="utf-8")
    names = named_files(text)
    assert len(names) > 40, "the map names too few files to be the map"
    missing = []
    for name in names:
        here = [ROOT / name] + [ROOT / f / name for f in FOLDERS]
        here += [ROOT / f / "stages" / name for f in ("streams",)]
        here += [ROOT / "streams" / "state" / name, ROOT / "streams" / "ingest" / name]
        if not any(p.exists() for p in here):
            missing.append(name)
    assert not missing, f"docs/architecture.md names files that do not exist: {missing}"


def test_every_function_on_the_path_is_defined() -> None:
    text = MAP.read_text(encoding="utf-8")
    path = text[text.index("## The path of a ticket") :]
    names = named_callables(path)
    assert len(names) > 10, names
    code = sources()
    stale = [n for n in names if not defined(n, code)]
    assert not stale, f"docs/architecture.md calls what is not defined: {stale}"


def test_a_stale_name_is_caught() -> None:
    code = "class Checks:\n    def answer(self): ...\n"
    assert defined("Checks.answer", code)
    assert not defined("Checks.decide", code)
    assert not defined("Nobody.answer", code)
    assert named_callables("`map_event(contract, raw)` and `Checks.single`") == [
        "map_event",
        "Checks.single",
    ]


def test_the_path_opens_eight_files_that_exist() -> None:
    text = MAP.read_text(encoding="utf-8")
    path = text[text.index("## The path of a ticket, in eight files") :]
    path = path[: path.index("\n## ")] if "\n## " in path else path
    bold = re.findall(r"\*\*`([\w/]+\.py)`\*\*", path)
    assert len(bold) == 8 and len(set(bold)) == 8, bold
    assert all((ROOT / name).is_file() for name in bold), bold
