"""How every subcommand presents itself in ``--help``: a one-line summary and examples."""

from __future__ import annotations

import argparse
import textwrap
from typing import Any

__all__ = ["add_command"]


def add_command(
    sub: Any, name: str, summary: str, *examples: str, description: str | None = None
) -> argparse.ArgumentParser:
    """A subparser whose ``--help`` says what it does (``summary``, or the longer
    ``description``, one paragraph) and ends with ``examples``, one command line each.

    ``add_command(sub, "topics", "create missing topics", "signalfold topics")``
    """
    lines = "\n".join(f"  {example}" for example in examples)
    return sub.add_parser(
        name,
        help=summary,
        description=textwrap.fill(description or f"{summary[0].upper()}{summary[1:]}.", 79),
        epilog=f"example{'s' if len(examples) > 1 else ''}:\n{lines}" if examples else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
