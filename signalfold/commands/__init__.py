"""CLI subcommands, one module per group; each exposes ``register(subparsers)``.

A new group (``identity``, ``sources``, ``dlq`` …) is a new module listed in
``GROUPS``; ``signalfold/cli.py`` never grows. ``dlq_retention`` says which dead
letters count as deleted by retention (for ``signalfold dlq``).
"""

from __future__ import annotations

from signalfold.commands._progress import Progress, interactive

__all__ = ["GROUPS", "Progress", "interactive"]

GROUPS = (
    "signalfold.commands.pipeline",
    "signalfold.commands.topics",  # adds `topics tail` under pipeline's `topics`
    "signalfold.commands.sources",
    "signalfold.commands.dlq",
    "signalfold.commands.keys",
    "signalfold.commands.identity",
    "signalfold.commands.export",
    "signalfold.commands.erase",
    "signalfold.commands.erase_report",
)
