"""What a newly published state changes in a customer's flags: pure, no Kafka.

The state stage keeps each customer's last published flags (keyed
``rule:signal_id``, so the same rule raised by another event is another flag)
and publishes a ``SuppressionChange`` on ``suppression.changes`` only when the
set differs: which rules were raised, which cleared, and the flags now live.
"""

from __future__ import annotations

from datetime import datetime

from signalfold.schemas.state import Flag, SuppressionChange

__all__ = ["Flags", "flag_change", "flag_key", "keyed"]

Flags = dict[str, Flag]  # keyed by ``rule:signal_id``


def flag_key(flag: Flag) -> str:
    """A flag's identity across publishes: its rule and the event that raised it."""
    return f"{flag.rule}:{flag.signal_id}"


def keyed(flags: list[Flag]) -> Flags:
    return {flag_key(f): f for f in flags}


def flag_change(
    customer_id: str,
    version: int,
    now: datetime,
    before: Flags | None,
    flags: list[Flag],
) -> tuple[Flags, SuppressionChange | None]:
    """The flags to keep for the customer, and the change to publish (``None``: none)."""
    after, was = keyed(flags), before or {}
    if was == after:
        return after, None
    change = SuppressionChange(
        customer_id=customer_id,
        state_version=version,
        changed_at=now,
        raised=sorted({after[k].rule for k in after.keys() - was.keys()}),
        cleared=sorted({was[k].rule for k in was.keys() - after.keys()}),
        flags=list(flags),
    )
    return after, change
