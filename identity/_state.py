"""The identity graph's state and the one way it changes: applying an ``IdentityChange``.

``IdentityGraph.resolve`` decides, this module applies. Because resolving
applies its own changes through ``GraphState.apply``, a fresh state that applies
the published log in order is the same state, by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from signalfold.identity._links import LinkBook
from signalfold.identity._pins import Barrier, PinBook
from signalfold.identity.errors import IdentityError
from signalfold.schemas.identity import IdentityChange, IndexEntry, LinkEvidence

__all__ = ["Customer", "GraphState", "Record"]


@dataclass
class Record:
    """A source record (``source:record_key``): the strong keys, names and births it showed."""

    customer_id: str
    keys: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    births: set[date] = field(default_factory=set)


@dataclass
class Customer:
    """A live (not absorbed) customer: its records and the keys they hold, by type."""

    customer_id: str
    creator: str
    birth: datetime
    records: set[str] = field(default_factory=set)
    keys: dict[str, set[str]] = field(default_factory=dict)
    root: str = ""
    generation: int = 0

    @property
    def age(self) -> tuple[datetime, str, int, str]:
        """Sort key for "older": birth, then the creating record (a split's new customer
        inherits both from the customer it left and counts one generation younger)."""
        return (self.birth, self.root or self.creator, self.generation, self.customer_id)


def _entry(key: str, customer_id: str) -> IndexEntry:
    identifier_type, _, value = key.partition(":")
    return IndexEntry(
        key=key, customer_id=customer_id, identifier_type=identifier_type, value=value
    )


class GraphState:
    """Records, customers, key owners, aliases, refusals, pins, links; mutated only by ``apply``.

    ``shared`` holds keys that stopped identifying; ``commands`` maps each
    operator command applied to the customers it produced (to re-announce them
    when the command is delivered again).
    """

    def __init__(self) -> None:
        self.records: dict[str, Record] = {}
        self.customers: dict[str, Customer] = {}
        self.owner: dict[str, str] = {}
        self.aliases: dict[str, str] = {}
        self._aliases_of: dict[str, set[str]] = {}
        self.refusals: set[tuple[str, str]] = set()
        self.log: list[IdentityChange] = []
        self.by_signal: dict[str, list[int]] = {}
        self._history: dict[str, list[int]] = {}
        self._seen: set[str] = set()
        self.creators: dict[str, str] = {}
        self.key_record: dict[str, str] = {}
        self.refused_by_key: dict[str, set[str]] = {}
        self.shared: set[str] = set()
        self.pins = PinBook()
        self.links = LinkBook()
        self.commands: dict[str, list[str]] = {}

    def canonical_id(self, customer_id: str) -> str:
        """The live customer ``customer_id`` now is (aliases are kept one hop deep)."""
        return self.aliases.get(customer_id, customer_id)

    def history(self, customer_id: str) -> list[IdentityChange]:
        """Changes that built ``customer_id`` and every customer it absorbed, in log order."""
        return [self.log[i] for i in self._history.get(self.canonical_id(customer_id), [])]

    def _possible_match(self, change: IdentityChange) -> list[IndexEntry]:
        """Kept for review and explanations; a possible match never links anything."""
        return []

    def apply(self, change: IdentityChange) -> list[IndexEntry]:
        """Apply one change; return the index entries it moved. A repeated change is a no-op."""
        if change.change_id in self._seen:
            return []
        handler = {
            "created": self._created,
            "linked": self._linked,
            "merged": self._merged,
            "refused": self._refused,
            "shared": self._shared,
            "pinned": self._pinned,
            "split": self._split,
            "possible_match": self._possible_match,
        }.get(change.kind)
        if handler is None:
            raise IdentityError(
                f"identity change {change.change_id}: kind {change.kind!r} is not supported by "
                "this version; expected created, linked, merged, refused, shared, pinned or "
                "split — upgrade signalfold"
            )
        entries = handler(change)
        self._seen.add(change.change_id)
        self.log.append(change)
        self.by_signal.setdefault(change.signal_id, []).append(len(self.log) - 1)
        targets = {self.canonical_id(change.customer_id)}
        if change.from_customer_id:
            targets.add(self.canonical_id(change.from_customer_id))
        for target in sorted(targets):
            self._history.setdefault(target, []).append(len(self.log) - 1)
        if change.signal_id.startswith("cmd_"):
            done = self.commands.setdefault(change.signal_id, [])
            if change.kind in ("split", "merged"):
                done += [c for c in (change.from_customer_id, change.customer_id) if c]
        return entries

    def aliases_of(self, customer_id: str) -> list[str]:
        """Ids merged into ``customer_id``, sorted."""
        return sorted(self._aliases_of.get(customer_id, ()))

    def customer_of(self, record_id: str) -> Customer | None:
        """The live customer holding ``record_id``, if the record is known."""
        record = self.records.get(record_id)
        return self.customers.get(self.canonical_id(record.customer_id)) if record else None

    def evidence_of(self, records: set[str]) -> tuple[set[str], set[date]]:
        """Names and birth dates the ``records`` showed, pooled."""
        names: set[str] = set()
        births: set[date] = set()
        for record_id in records:
            record = self.records.get(record_id)
            if record is not None:
                names |= record.names
                births |= record.births
        return names, births

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
        self.creators[customer.customer_id] = change.record_id
        return self._attach(change, customer)

    def _linked(self, change: IdentityChange) -> list[IndexEntry]:
        customer = self.customers.get(self.canonical_id(change.customer_id))
        if customer is None:
            raise self._inconsistent(change, "customer unknown")
        record = self.records.get(change.record_id)
        if record is not None and self.canonical_id(record.customer_id) != customer.customer_id:
            raise self._inconsistent(change, "record belongs to another customer")
        for evidence in change.evidence:
            self._link(change, evidence, customer.creator)
        return self._attach(change, customer)

    def _attach(self, change: IdentityChange, customer: Customer) -> list[IndexEntry]:
        record = self.records.setdefault(change.record_id, Record(customer.customer_id))
        customer.records.add(change.record_id)
        record.names.update(change.names)
        record.births.update(change.birth_dates)
        entries: list[IndexEntry] = []
        for key in change.identifiers:
            if self.owner.get(key, customer.customer_id) != customer.customer_id:
                raise self._inconsistent(change, "identifier owned by another customer")
            record.keys.add(key)
            self.key_record.setdefault(key, change.record_id)
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
        first = self.customers.get(self.canonical_id(change.absorbed_ids[0]))
        for evidence in change.evidence:
            self._link(change, evidence, first.creator if first else None)
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
        for key in change.identifiers:
            self.refused_by_key.setdefault(key, set()).add(change.record_id)
        return []

    def _shared(self, change: IdentityChange) -> list[IndexEntry]:
        self.shared.update(change.identifiers)
        return []

    def _pinned(self, change: IdentityChange) -> list[IndexEntry]:
        a, b = change.record_id, change.other_record_id
        ours, theirs = self.customer_of(a), self.customer_of(b or "")
        if b is None or ours is None or theirs is None:
            raise self._inconsistent(change, "pinned records unknown")
        if change.pin == "never":
            self.pins.add_barrier(Barrier("pin", frozenset({a}), frozenset({b}), change.change_id))
        else:
            self.pins.add_always(a, b)
            self.pins.lift_splits(ours.records, theirs.records)
        return []

    def _split(self, change: IdentityChange) -> list[IndexEntry]:
        source = self.customers.get(self.canonical_id(change.from_customer_id or ""))
        moved = set(change.records)
        if source is None or not moved < source.records:
            raise self._inconsistent(change, "split records are not a part of the customer")
        if change.customer_id in self.customers or change.customer_id in self.aliases:
            raise self._inconsistent(change, "the new customer id is taken")
        new = Customer(
            change.customer_id,
            change.record_id,
            change.birth or source.birth,
            root=source.root or source.creator,
            generation=source.generation + 1,
        )
        self.customers[new.customer_id] = new
        self.creators[new.customer_id] = change.record_id
        source.records -= moved
        new.records = moved
        for customer in (source, new):
            customer.keys = {}
            for record_id in customer.records:
                self.records[record_id].customer_id = customer.customer_id
                for key in self.records[record_id].keys:
                    customer.keys.setdefault(key.partition(":")[0], set()).add(key)
        barrier = Barrier("split", frozenset(moved), frozenset(source.records), change.change_id)
        self.pins.add_barrier(barrier)
        for key in change.identifiers:
            self.owner[key] = new.customer_id
        return [_entry(key, new.customer_id) for key in change.identifiers]

    def _link(self, change: IdentityChange, evidence: LinkEvidence, fallback: str | None) -> None:
        """Remember which record ``change.record_id`` was joined to, and why."""
        rule = evidence.rule
        if rule in ("first_record", "same_record") or rule.startswith(("limit:", "shared")):
            return
        if rule.startswith("exact:") and evidence.identifier_value is not None:
            key = f"{evidence.identifier_type}:{evidence.identifier_value}"
            other = self.key_record.get(key)
        else:
            other = change.other_record_id or fallback
        self.links.add(change.record_id, other, evidence, change.change_id, change.at)

    @staticmethod
    def _inconsistent(change: IdentityChange, found: str) -> IdentityError:
        return IdentityError(
            f"identity change {change.change_id} ({change.kind}, record {change.record_id}): "
            f"expected it to follow the log, found {found}; changes must be applied in the "
            "order they were published — rebuild from the start of identity.changes"
        )
