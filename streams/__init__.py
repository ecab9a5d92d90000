"""The stages that move signals between topics, and what they run on.

Its public API is its modules, imported where they are used (importing this
package imports none of them, so a process pays only for what it runs):
``runner`` (the loop every stage runs), ``stages`` (ingest, resolve, state),
``ingest`` (raw event → canonical signal), ``state`` (the pure fold of
customer state), ``topics`` and ``topic_check`` (names, creation, checks),
``kafka`` (clients and fences), ``keylog`` (``privacy.keys``), ``lease``,
``registry`` (contracts on Kafka), ``broker`` (the embedded broker), ``demo``
(synthetic events) and ``errors``.
"""

from __future__ import annotations

__all__ = [
    "broker",
    "demo",
    "errors",
    "ingest",
    "kafka",
    "keylog",
    "lease",
    "registry",
    "runner",
    "stages",
    "state",
    "topic_check",
    "topics",
]
