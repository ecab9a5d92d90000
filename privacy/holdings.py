"""Which raw-source offsets still hold an erased person (``signalfold erase-report``).

Raw source topics are the sources' data: signalfold reads them and never edits
them, so an erasure cannot reach them. What it can do is tell the operator
where the person still is. After an erasure signalfold keeps, about the person,
only what names no one: the keyed ids (kids) of their records, on the
``erased`` identity change, and the keyed hashes of their identifiers, on the
do-not-contact list. ``RawHoldings`` takes those and looks at raw events one by
one: an event holds the person when its record's kid is one of theirs or one of
its identifiers, normalised as resolution normalises it, hashes to one of
theirs. An event its contract cannot map is judged by its raw key alone (the
record kid of ``source:key``), the way its dead letter was sealed.

Pure: the command feeds it events it read; nothing here touches Kafka.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from signalfold.identity.errors import InvalidIdentifier
from signalfold.identity.normalize import normalize_identifier
from signalfold.privacy.sealing import SubjectIds
from signalfold.schemas.signal import Signal

__all__ = ["ErasedPerson", "RawHoldings", "ranges"]


@dataclass(frozen=True)
class ErasedPerson:
    """What outlives an erasure that can still recognise the person's raw events."""

    request_id: str
    record_kids: frozenset[bytes] = frozenset()
    identifier_hashes: frozenset[str] = frozenset()

    @property
    def empty(self) -> bool:
        return not self.record_kids and not self.identifier_hashes


@dataclass
class RawHoldings:
    """Raw offsets, per topic and partition, whose event holds ``person``.

    Example::

        holdings = RawHoldings(person, ids, region_for=lambda source: "GB")
        holdings.check(signal, "raw.support", 0, 17)
        holdings.offsets  # {("raw.support", 0): [17]}
    """

    person: ErasedPerson
    ids: SubjectIds
    region_for: Callable[[str], str]
    offsets: dict[tuple[str, int], list[int]] = field(default_factory=lambda: defaultdict(list))
    read: int = 0

    def check(self, signal: Signal, topic: str, partition: int, offset: int) -> bool:
        """Note ``signal`` (mapped from the raw event at that offset) if it holds the person."""
        self.read += 1
        held = self._holds_record(signal.record_id) or self._holds_identifier(signal)
        if held:
            self.offsets[(topic, partition)].append(offset)
        return held

    def check_unmapped(
        self, source: str, raw_key: bytes | None, topic: str, partition: int, offset: int
    ) -> bool:
        """Note an event its contract could not map if its raw key is one of the person's."""
        self.read += 1
        if not raw_key:
            return False
        try:
            key = raw_key.decode()
        except UnicodeDecodeError:
            return False
        held = self._holds_record(f"{source}:{key}")
        if held:
            self.offsets[(topic, partition)].append(offset)
        return held

    def _holds_record(self, record_id: str) -> bool:
        return (
            bool(self.person.record_kids) and self.ids.record(record_id) in self.person.record_kids
        )

    def _holds_identifier(self, signal: Signal) -> bool:
        if not self.person.identifier_hashes:
            return False
        region = self.region_for(signal.source)
        for identifier in signal.identifiers:
            try:
                key = normalize_identifier(identifier, region=region).key
            except InvalidIdentifier:
                continue
            if self.ids.identifier_hash(key) in self.person.identifier_hashes:
                return True
        return False


def ranges(offsets: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted offsets as inclusive runs: ``[3, 4, 5, 9]`` → ``[(3, 5), (9, 9)]``."""
    out: list[tuple[int, int]] = []
    for offset in sorted(set(offsets)):
        if out and offset == out[-1][1] + 1:
            out[-1] = (out[-1][0], offset)
        else:
            out.append((offset, offset))
    return out
