"""The composition root: the one place that builds signalfold's parts from settings.

One small builder per part, each in its own module:

- ``topics``: the pipeline's topics (``create_topics``, ``check_topics``), the
  source contracts and this process's key log (``key_log``): what every part
  shares.
- ``stages``: a stage, its runner, and the worker ``signalfold worker`` runs
  (``build_stage``, ``build_runner``, ``build_worker``).
- ``serving``: a serving replica (``build_serving``) and the ways to run one
  (``serve`` until a signal, ``serve_handle`` in a thread).

The CLI (``signalfold/cli.py`` → ``signalfold/commands/``) calls these and
nothing else builds a stage, a store or the app. Tests call them with
overrides (a settings object, a clock, a decide function) instead of patching
internals.
"""

from __future__ import annotations

from signalfold.bootstrap.serving import build_serving, serve, serve_handle
from signalfold.bootstrap.stages import (
    STAGES,
    build_runner,
    build_stage,
    build_worker,
    identity_rules,
)
from signalfold.bootstrap.topics import check_topics, contracts, create_topics, key_log

__all__ = [
    "STAGES",
    "build_runner",
    "build_serving",
    "build_stage",
    "build_worker",
    "check_topics",
    "contracts",
    "create_topics",
    "identity_rules",
    "key_log",
    "serve",
    "serve_handle",
]
