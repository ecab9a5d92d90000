"""Links between records, each with its evidence: the answer to "why are these one?".

Every ``linked``, ``merged`` and ``always``-pinned change connects its record
to another record: for an exact identifier, the record that first brought that
identifier; for other evidence (a match weight, a pin), ``other_record_id`` or
the creating record of the customer it joined. ``path`` walks these links
between two records, staying inside one customer, so a link that a split cut
is never part of an answer.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Set
from dataclasses import dataclass
from datetime import datetime

from signalfold.schemas.identity import LinkEvidence

__all__ = ["Link", "LinkBook"]


@dataclass(frozen=True)
class Link:
    """``a`` and ``b`` were joined by ``evidence`` in change ``change_id``."""

    a: str
    b: str
    evidence: LinkEvidence
    change_id: str
    at: datetime


_FORGOTTEN = Link("", "", LinkEvidence(rule="erased"), "erased", datetime.min)


class LinkBook:
    """An adjacency list of links, in the order they were made."""

    def __init__(self) -> None:
        self.links: list[Link] = []
        self._adjacent: dict[str, list[int]] = {}

    def add(
        self, a: str, b: str | None, evidence: LinkEvidence, change_id: str, at: datetime
    ) -> None:
        """Record a link; self-links and links to nothing are ignored."""
        if b is None or a == b:
            return
        self.links.append(Link(a, b, evidence, change_id, at))
        for record in (a, b):
            self._adjacent.setdefault(record, []).append(len(self.links) - 1)

    def forget(self, records: Set[str]) -> None:
        """Drop every link that touches ``records`` (an erasure)."""
        for record in records:
            for i in self._adjacent.pop(record, ()):
                link = self.links[i]
                other = link.b if link.a == record else link.a
                if other in self._adjacent and other not in records:
                    self._adjacent[other] = [j for j in self._adjacent[other] if j != i]
                self.links[i] = _FORGOTTEN

    def of(self, records: Set[str]) -> list[Link]:
        """Links with both ends in ``records``, in the order they were made."""
        ids = {i for r in records for i in self._adjacent.get(r, ())}
        return [self.links[i] for i in sorted(ids) if {self.links[i].a, self.links[i].b} <= records]

    def path(self, start: str, goal: str, within: Set[str]) -> list[Link] | None:
        """The shortest chain of links from ``start`` to ``goal`` through ``within``.

        ``None`` when there is none (different customers, or a split cut them).
        Ties go to the earliest links, so the answer is deterministic.
        """
        if start == goal:
            return []
        came: dict[str, int] = {}
        queue, seen = deque([start]), {start}
        while queue:
            current = queue.popleft()
            for i in self._adjacent.get(current, ()):
                link = self.links[i]
                other = link.b if link.a == current else link.a
                if other in seen or other not in within:
                    continue
                seen.add(other)
                came[other] = i
                if other == goal:
                    return self._walk_back(came, start, goal)
                queue.append(other)
        return None

    def _walk_back(self, came: dict[str, int], start: str, goal: str) -> list[Link]:
        out: list[Link] = []
        current = goal
        while current != start:
            link = self.links[came[current]]
            out.append(link)
            current = link.b if link.a == current else link.a
        return out[::-1]
