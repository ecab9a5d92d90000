"""How reporting commands print: lines for people by default, one JSON document with ``--json``.

A command builds its report as plain data once, and renders the lines for
people from that same data, so the two outputs never disagree.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from typing import Any

__all__ = ["add_json_flag", "emit"]


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    """Give ``parser`` the ``--json`` option every reporting command shares."""
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document on stdout instead of text (for scripts and jq)",
    )


def emit(args: argparse.Namespace, data: Any, lines: Iterable[str]) -> None:
    """Print ``data`` as JSON when ``--json`` was given, else ``lines``."""
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    else:
        text = "\n".join(lines)
        if text:
            print(text)
