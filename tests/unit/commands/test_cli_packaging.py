"""The install is quiet about packages, and ``make clean`` removes what the project makes."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_every_folder_shipped_in_the_package_is_a_listed_package() -> None:
    """setuptools warns about a folder it can import but was not told about
    (``signalfold.identity.model``); every one is listed, with its data files."""
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed, roots = set(tool["packages"]), tool["package-dir"]
    for package, folder in roots.items():
        for sub in (ROOT / folder).rglob("*"):
            if not sub.is_dir() or sub.name == "__pycache__":
                continue
            rel = sub.relative_to(ROOT / folder).parts
            name = ".".join((package, *rel))
            if not any(name == r or name.startswith(f"{r}.") for r in roots if r != package):
                assert name in listed, f"{sub} is importable as `{name}` but not listed"
    data = tool["package-data"]
    assert data["signalfold.identity.model"] == ["*.json", "*.html"]
    for package, patterns in data.items():
        folder = ROOT / roots.get(package, package.replace(".", "/"))
        if package not in roots:
            parent = max((r for r in roots if package.startswith(f"{r}.")), key=len)
            folder = ROOT / roots[parent] / package.removeprefix(f"{parent}.").replace(".", "/")
        assert any(any(folder.glob(p)) for p in patterns), (package, folder)


def test_make_clean_removes_every_ignored_artifact(tmp_path: Path) -> None:
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    made = [
        ".venv/bin/python",
        ".data/logs/ingest.log",
        ".pytest_cache/v/x",
        ".ruff_cache/x",
        ".mypy_cache/3.11/x.json",
        ".hypothesis/examples/x",
        "build/lib/x.py",
        "dist/signalfold-0.1.0.whl",
        "signalfold.egg-info/PKG-INFO",
        "bench/identity/results/e2e.json",
        "bench/results/run.tmp",
        "signalfold/__pycache__/cli.cpython-311.pyc",
        "streams/ingest/__pycache__/replay.cpython-311.pyc",
        "tests/stray.pyc",
    ]
    kept = ["signalfold/cli.py", "bench/identity/e2e.py", "bench/results/keep.md"]
    for rel in made + kept:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    done = subprocess.run(["make", "clean"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert left == sorted(["Makefile", *kept])
    # every pattern git ignores is one of the artifacts above
    ignored = [p.rstrip("/") for p in (ROOT / ".gitignore").read_text().split()]
    paths = [q for m in made for q in (Path(m), *Path(m).parents) if str(q) != "."]
    unmade = [p for p in ignored if not any(q.match(p) for q in paths)]
    assert not unmade, f"add to `make clean` and to this test: {unmade}"
