"""Operator pins and split barriers: which records may, or must, be one customer.

- A *barrier* keeps two sets of records in different customers. An operator's
  ``never`` pin is a barrier between two single records (kind ``pin``); a split
  leaves a barrier between the records it moved and those it left (kind
  ``split``), so the next signal carrying a shared identifier does not undo the
  operator's work.
- An ``always`` pin ties two records together; a split that would separate
  them is refused, and an ``always`` pin lifts the split barriers it crosses
  (the operator changed their mind) but never a ``never`` pin.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from dataclasses import dataclass

__all__ = ["Barrier", "PinBook"]


@dataclass(frozen=True)
class Barrier:
    """Records on ``left`` are never one customer with records on ``right``."""

    kind: str  # "pin" | "split"
    left: frozenset[str]
    right: frozenset[str]
    change_id: str


class PinBook:
    """Barriers and ``always`` pins, indexed by record."""

    def __init__(self) -> None:
        self.barriers: dict[int, Barrier] = {}
        self._by_record: dict[str, set[tuple[int, int]]] = {}
        self._always: dict[str, set[str]] = {}
        self._next = 0

    def add_barrier(self, barrier: Barrier) -> None:
        """Keep ``left`` and ``right`` apart from now on."""
        bid, self._next = self._next, self._next + 1
        self.barriers[bid] = barrier
        for side, records in enumerate((barrier.left, barrier.right)):
            for record in records:
                self._by_record.setdefault(record, set()).add((bid, side))

    def add_always(self, a: str, b: str) -> None:
        """``a`` and ``b`` must be one customer."""
        self._always.setdefault(a, set()).add(b)
        self._always.setdefault(b, set()).add(a)

    def barriers_between(self, ours: Set[str], theirs: Set[str]) -> list[Barrier]:
        """Barriers with one side in ``ours`` and the other in ``theirs``, oldest first."""
        small, large = (ours, theirs) if len(ours) <= len(theirs) else (theirs, ours)
        found: set[int] = set()
        for record in small:
            for bid, side in self._by_record.get(record, ()):
                barrier = self.barriers[bid]
                if not (barrier.right if side == 0 else barrier.left).isdisjoint(large):
                    found.add(bid)
        return [self.barriers[bid] for bid in sorted(found)]

    def barrier_between(self, ours: Set[str], theirs: Set[str]) -> Barrier | None:
        """The oldest barrier between ``ours`` and ``theirs``, if any."""
        found = self.barriers_between(ours, theirs)
        return found[0] if found else None

    def lift_splits(self, ours: Set[str], theirs: Set[str]) -> None:
        """Remove the split barriers between ``ours`` and ``theirs`` (pins stay)."""
        for barrier in self.barriers_between(ours, theirs):
            if barrier.kind == "split":
                self._remove(barrier)

    def _remove(self, barrier: Barrier) -> None:
        bid = next(i for i, b in self.barriers.items() if b is barrier)
        del self.barriers[bid]
        for side, records in enumerate((barrier.left, barrier.right)):
            for record in records:
                self._by_record.get(record, set()).discard((bid, side))

    def forget(self, records: Set[str]) -> None:
        """Drop the pins and barriers that name ``records`` (an erasure)."""
        for record in records:
            for bid, _ in self._by_record.pop(record, set()).copy():
                barrier = self.barriers.get(bid)
                if barrier is not None:
                    self._remove(barrier)
            for other in self._always.pop(record, set()):
                self._always.get(other, set()).discard(record)

    def always_closure(self, start: Iterable[str], within: Set[str]) -> set[str]:
        """``start`` and every record of ``within`` tied to it by ``always`` pins."""
        seen = {r for r in start if r in within}
        todo = list(seen)
        while todo:
            for other in self._always.get(todo.pop(), ()):
                if other in within and other not in seen:
                    seen.add(other)
                    todo.append(other)
        return seen

    def always_of(self, record: str) -> set[str]:
        """Records pinned ``always`` to ``record`` directly."""
        return set(self._always.get(record, ()))
