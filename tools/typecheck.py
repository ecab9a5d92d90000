"""Run mypy on signalfold's sources under their installed module names.

``[tool.setuptools.package-dir]`` maps the import names onto folders
(``signalfold.schemas`` is ``schemas/``, ``signalfold.policy`` is ``policy/``…),
and the editable install reaches them through an import hook, which mypy cannot
follow. So this script lays the same mapping out as a tree of symlinks to the
sources (``.mypy_cache/layout/signalfold/schemas`` -> ``schemas/``), rebuilt on
every run, and runs mypy on it; mypy reads the sources themselves through the
links, and the paths it prints are turned back into the sources' own
(``schemas/signal.py:12: error: …``). What is checked and how strictly is
``[tool.mypy]`` in pyproject.toml.

Usage, from the project root (``make test`` runs it):

    .venv/bin/python tools/typecheck.py [mypy options]
"""

from __future__ import annotations

import os
import shutil
import sys
import tomllib
from pathlib import Path

from mypy import api

ROOT = Path(__file__).resolve().parent.parent
LAYOUT = Path(".mypy_cache", "layout")


def package_folders(pyproject: Path) -> dict[str, Path]:
    """Each package pyproject maps to a folder of its own, to that folder."""
    setuptools = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]
    return {name: Path(folder) for name, folder in setuptools.get("package-dir", {}).items()}


def lay_out(folders: dict[str, Path], layout: Path) -> dict[str, str]:
    """Build the installed layout as symlinks under ``layout``.

    Returns each linked path's prefix (as mypy prints it) to the source path
    it stands for, longest first.
    """
    shutil.rmtree(layout, ignore_errors=True)
    prefixes: dict[str, str] = {}
    for name in sorted(folders, key=lambda n: n.count(".")):
        place = layout.joinpath(*name.split("."))
        source = folders[name].resolve()
        if place.is_symlink():  # a folder of that name in the parent: never write into it
            raise SystemExit(f"{name}: mapped to {source} and also a folder of its parent")
        place.mkdir(parents=True, exist_ok=True)
        # Link each entry, not the folder: a mapped subpackage goes in beside them.
        for entry in sorted(source.iterdir()):
            if entry.name != "__pycache__" and not (place / entry.name).exists():
                (place / entry.name).symlink_to(entry)
        prefixes[f"{place}{os.sep}"] = f"{os.path.relpath(source)}{os.sep}"
    return dict(sorted(prefixes.items(), key=lambda item: -len(item[0])))


def to_sources(text: str, prefixes: dict[str, str]) -> str:
    """mypy's output with every linked path replaced by the source path."""
    lines = []
    for line in text.splitlines(keepends=True):
        for linked, source in prefixes.items():
            if line.startswith(linked):
                line = source + line[len(linked) :]
                break
        lines.append(line)
    return "".join(lines)


def main(argv: list[str]) -> int:
    os.chdir(ROOT)
    prefixes = lay_out(package_folders(ROOT / "pyproject.toml"), LAYOUT)
    stdout, stderr, status = api.run([*argv])
    sys.stdout.write(to_sources(stdout, prefixes))
    sys.stderr.write(to_sources(stderr, prefixes))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
