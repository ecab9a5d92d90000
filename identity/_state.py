"""The identity graph's state and the one way it changes: applying an ``IdentityChange``.

``IdentityGraph.resolve`` decides, this module applies. Because resolving
applies its own changes through ``GraphState.apply``, a fresh state that applies
the published log in order is the same state, by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from signalfold.identity.errors import IdentityError
from signalfold.schemas.identity import IdentityChange, IndexEntry

__all__ = ["Customer", "GraphState", "Record"]


@dataclass
class Record:
    """A source record (``source:record_key``) and the strong keys it brought."""

    customer_id: str
    keys: set[str] = field(default_factory=set)


@dataclass
class Customer:
    """A live (not absorbed) customer: its records and the keys they hold, by type."""

    customer_id: str
    creator: str
    birth: datetime
    records: set[str] = field(default_factory=set)
    keys: dict[str, set[str]] = field(default_factory=dict)

    @property
    def age(self) -> tuple[datetime, str]:
        """Sort key for "older": the creating record's birth, then its id as tie-break."""
        return (self.birth, self.creator)


def _entry(key: str, customer_id: str) -> IndexEntry:
    identifier_type, _, value = key.partition(":")
    return IndexEntry(
        key=key, customer_id=customer_id, identifier_type=identifier_type, value=value
    )


class GraphState:
    """Records, customers, key owners, aliases and refusals; mutated only by ``apply``."""

    def __init__(self) -> None:
        self.records: dict[str, Record] = {}
        self.customers: dict[str, Customer] = {}
        self.owner: dict[str, str] = {}
        self.aliases: dict[str, str] = {}
        self._aliases_of: dict[str, set[str]] = {}
        self.refusals: set[tuple[str, str]] = set()
        self.log: list[IdentityChange] = []
        self._history: dict[str, list[int]] = {}
        self._seen: set[str] = set()

    def canonical_id(self, customer_id: str) -> str:
        """The live customer ``customer_id`` now is (aliases are kept one hop deep)."""
        return self.aliases.get(customer_id, customer_id)

    def history(self, customer_id: str) -> list[IdentityChange]:
        """Changes that built ``customer_id`` and every customer it absorbed, in log order."""
        return [self.log[i] for i in self._history.get(self.canonical_id(customer_id), [])]

    def apply(self, change: IdentityChange) -> list[IndexEntry]:
        """Apply one change; return the index entries it moved. A repeated change is a no-op."""
        if change.change_id in self._seen:
            return []
        handler = {
            "created": self._created,
            "linked": self._linked,
            "merged": self._merged,
            "refused": self._refused,
        }.get(change.kind)
        if handler is None:
            raise IdentityError(
                f"identity change {change.change_id}: kind {change.kind!r} is not supported by "
                "this version; expected created, linked, merged or refused — upgrade signalfold"
            )
        entries = handler(change)
        self._seen.add(change.change_id)
        self.log.append(change)
        target = self.canonical_id(change.customer_id)
        self._history.setdefault(target, []).append(len(self.log) - 1)
        return entries

    def _created(self, change: IdentityChange) -> list[IndexEntry]:
        if change.birth is None:
            raise IdentityError(
                f"identity change {change.change_id}: expected a birth on a created change, "
                "found none; the log was written by an older producer — rebuild it"
            )
        if change.record_id in self.records:
            raise self._inconsistent(change, "record already exists")
        customer = Customer(change.customer_id, change.record_id, change.birth)
        self.customers[customer.customer_id] = customer
        return self._attach(change, customer)

    def _linked(self, change: IdentityChange) -> list[IndexEntry]:
        customer = self.customers.get(self.canonical_id(change.customer_id))
        if customer is None:
            raise self._inconsistent(change, "customer unknown")
        record = self.records.get(change.record_id)
        if record is not None and self.canonical_id(record.customer_id) != customer.customer_id:
            raise self._inconsistent(change, "record belongs to another customer")
        return self._attach(change, customer)

    def _attach(self, change: IdentityChange, customer: Customer) -> list[IndexEntry]:
        record = self.records.setdefault(change.record_id, Record(customer.customer_id))
        customer.records.add(change.record_id)
        entries: list[IndexEntry] = []
        for key in change.identifiers:
            if self.owner.get(key, customer.customer_id) != customer.customer_id:
                raise self._inconsistent(change, "identifier owned by another customer")
            record.keys.add(key)
            customer.keys.setdefault(key.partition(":")[0], set()).add(key)
            if key not in self.owner:
                self.owner[key] = customer.customer_id
                entries.append(_entry(key, customer.customer_id))
        return entries

    def _merged(self, change: IdentityChange) -> list[IndexEntry]:
        survivor = self.customers.get(self.canonical_id(change.customer_id))
        if survivor is None:
            raise self._inconsistent(change, "survivor unknown")
        sid = survivor.customer_id
        entries: list[IndexEntry] = []
        for absorbed_id in change.absorbed_ids:
            absorbed = self.customers.pop(self.canonical_id(absorbed_id), None)
            if absorbed is None or absorbed.customer_id == sid:
                continue
            aid = absorbed.customer_id
            for record_id in absorbed.records:
                self.records[record_id].customer_id = sid
            survivor.records |= absorbed.records
            for identifier_type, keys in absorbed.keys.items():
                survivor.keys.setdefault(identifier_type, set()).update(keys)
                for key in sorted(keys):
                    self.owner[key] = sid
                    entries.append(_entry(key, sid))
            moved = sorted(self._aliases_of.pop(aid, set()))
            for alias in [*moved, aid]:
                self.aliases[alias] = sid
                self._aliases_of.setdefault(sid, set()).add(alias)
                entries.append(_entry(f"customer:{alias}", sid))
            self._history[sid] = sorted(self._history.get(sid, []) + self._history.pop(aid, []))
        return entries

    def _refused(self, change: IdentityChange) -> list[IndexEntry]:
        self.refusals.update((change.record_id, key) for key in change.identifiers)
        return []

    @staticmethod
    def _inconsistent(change: IdentityChange, found: str) -> IdentityError:
        return IdentityError(
            f"identity change {change.change_id} ({change.kind}, record {change.record_id}): "
            f"expected it to follow the log, found {found}; changes must be applied in the "
            "order they were published — rebuild from the start of identity.changes"
        )
