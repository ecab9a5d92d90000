"""What leaves the pipeline: a serving replica, its HTTP API, the client for surfaces.

Its public API is its modules, imported where they are used (importing this
package imports none of them: ``client`` needs no FastAPI or DuckDB): ``serve``
(a replica's composition root), ``api`` and the ``routes_*`` modules (HTTP),
``checks`` (the one answer path of a check), ``materializer`` → ``view`` and
``store`` (topics into memory and DuckDB), ``decision_log`` (published to
Kafka by ``log_publisher``), ``retention``, ``auth``, ``pii``, ``status``, the
request and response models (``models``, ``decision_models``), ``client`` (for
surfaces), ``local`` (decisions inside a bot's process), ``base`` (the shape
every sink shares) and ``errors``.
"""

from __future__ import annotations

__all__ = [
    "api",
    "auth",
    "base",
    "checks",
    "client",
    "decision_log",
    "decision_models",
    "errors",
    "local",
    "log_publisher",
    "materializer",
    "models",
    "pii",
    "retention",
    "routes_decisions",
    "routes_erasure",
    "routes_identity",
    "routes_privacy",
    "serve",
    "status",
    "store",
    "view",
]
