"""How much of one customer a published state keeps: bounded by configuration.

No customer's state may outgrow what Kafka carries (a record is at most
``streams.runner.MAX_RECORD_BYTES``): text is cut with a marker, closed
tickets and orders beyond the latest few leave the state (they stay in the
unified history, served from the timeline API). What the flags read is never
what is trimmed: every open ticket stays, and the latest returned orders are
kept apart from the rest, so a recent defective return is always there.
Settings: ``SIGNALFOLD_STATE_TEXT_CHARS``, ``SIGNALFOLD_STATE_CLOSED_TICKETS``,
``SIGNALFOLD_STATE_ORDERS``, ``SIGNALFOLD_STATE_RETURNED_ORDERS``.
"""

from __future__ import annotations

from dataclasses import dataclass

from signalfold.errors import ConfigError

__all__ = ["DEFAULT_BOUNDS", "Bounds"]


@dataclass(frozen=True)
class Bounds:
    """The most a published state keeps of each unbounded thing a source can send."""

    text_chars: int = 1_000  # a ticket subject, a trait, a return reason
    closed_tickets: int = 20  # the latest by close time; every open one stays
    orders: int = 50  # the latest placed that were not returned
    returned_orders: int = 50  # the latest returned (what defective_return reads)

    def __post_init__(self) -> None:
        for name in ("text_chars", "closed_tickets", "orders", "returned_orders"):
            if getattr(self, name) < 1:
                raise ConfigError(
                    f"state bound {name}: expected at least 1, found {getattr(self, name)}; "
                    f"set SIGNALFOLD_STATE_{name.upper()} to 1 or more"
                )


DEFAULT_BOUNDS = Bounds()
