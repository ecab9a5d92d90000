"""Versioned registers: the building block that makes the fold order-insensitive.

A register holds one value together with the version ``(occurred_at, signal_id)``
of the event that wrote it. Joining two registers keeps the greater version
(last-writer-wins) or, for first-writer-wins fields such as a ticket's opening,
the smaller one. Both joins are commutative, associative and idempotent, so a
map of registers is a join-semilattice: folding any permutation of a set of
signals, or merging aggregates in any grouping, gives the same result.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple

__all__ = ["Register", "RegisterMap", "join_into", "register_from_json", "register_to_json"]


class Register(NamedTuple):
    """A value and the version of the event that wrote it.

    ``value`` is a flat dict of JSON-safe values, so registers travel as-is in a
    transfer. Two registers with the same version were written by the same
    signal and therefore hold the same value.
    """

    at: datetime
    signal_id: str
    value: dict[str, Any]

    @property
    def version(self) -> tuple[datetime, str]:
        return (self.at, self.signal_id)


RegisterMap = dict[str, Register]


def join_into(target: RegisterMap, key: str, reg: Register, *, first_wins: bool = False) -> bool:
    """Write ``reg`` into ``target[key]`` if it wins; return whether anything changed."""
    current = target.get(key)
    if current is not None:
        if current.version == reg.version:
            return False
        newer = reg.version > current.version
        if newer == first_wins:
            return False
    target[key] = reg
    return True


def register_to_json(reg: Register) -> list[Any]:
    """``[iso time, signal_id, value]``: the transfer shape of a register."""
    return [reg.at.isoformat(), reg.signal_id, reg.value]


def register_from_json(data: list[Any]) -> Register:
    """Inverse of :func:`register_to_json`; times come back in UTC."""
    at, signal_id, value = data
    return Register(datetime.fromisoformat(at).astimezone(UTC), str(signal_id), dict(value))
