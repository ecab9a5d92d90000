"""The pure fold of resolved signals into customer state (no Kafka in here).

``CustomerAggregate`` is what the ``state`` stage keeps per customer in its
table; ``CustomerAggregate.to_state`` produces the published ``CustomerState``.
"""

from __future__ import annotations

from signalfold.streams.state.aggregate import CustomerAggregate

__all__ = ["CustomerAggregate"]
