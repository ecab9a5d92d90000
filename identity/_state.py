"""The identity graph's state and the one way it changes: applying an ``IdentityChange``.

``IdentityGraph.resolve`` decides, this module applies. Because resolving
applies its own changes through ``GraphState.apply``, a fresh state that applies
the published log in order is the same state, by construction.

Key owners are derived, never decided: the owner of ``type:value`` is the
customer holding the earliest record (first event time, then record id) that
carries it, so the index is a function of the records and their clusters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from signalfold.identity._links import LinkBook
from signalfold.identity._pins import Barrier, PinBook
from signalfold.identity.errors import IdentityError
from signalfold.schemas.identity import IdentityChange, IndexEntry, LinkEvidence

__all__ = ["Customer", "GraphState", "Record"]


@dataclass
class Record:
    """A source record (``source:record_key``): what it showed, and where it is now."""

    customer_id: str
    first_seen: datetime
    keys: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    births: set[date] = field(default_factory=set)
    companies: set[str] = field(default_factory=set)


@dataclass
class Customer:
    """A live (not absorbed) customer: its records and the keys they hold, by type."""

    customer_id: str
    records: set[str] = field(default_factory=set)
    keys: dict[str, set[str]] = field(default_factory=dict)


def _entry(key: str, customer_id: str) -> IndexEntry:
    identifier_type, _, value = key.partition(":")
    return IndexEntry(
        key=key, customer_id=customer_id, identifier_type=identifier_type, value=value
    )


class GraphState:
    """Records, customers, key owners, aliases, matches, pins, links; mutated only by ``apply``.

    ``carriers`` maps each key to the records that showed it; ``matches`` holds
    Splink links per record; ``scopes`` the scopes sources declared per key;
    ``shared`` the keys published as shared; ``commands`` maps each operator
    command applied to the customers it touched.
    """

    def __init__(self) -> None:
        self.records: dict[str, Record] = {}
        self.customers: dict[str, Customer] = {}
        self.owner: dict[str, str] = {}
        self.aliases: dict[str, str] = {}
        self._aliases_of: dict[str, set[str]] = {}
        self.carriers: dict[str, set[str]] = {}
        self.matches: dict[str, dict[str, LinkEvidence]] = {}
        self.scopes: dict[str, set[str]] = {}
        self.log: list[IdentityChange] = []
        self.by_signal: dict[str, list[int]] = {}
        self._history: dict[str, list[int]] = {}
        self._seen: set[str] = set()
        self.key_record: dict[str, str] = {}
        self.shared: set[str] = set()
        self.pins = PinBook()
        self.links = LinkBook()
        self.commands: dict[str, list[str]] = {}
        self.unowned: set[str] = set()  # keys an erasure left with no owner
        # (customer ids, records) of each customer erased since someone last took them
        self.forgotten: list[tuple[tuple[str, ...], tuple[str, ...]]] = []

    def canonical_id(self, customer_id: str) -> str:
        """The live customer ``customer_id`` now is (aliases are kept one hop deep)."""
        return self.aliases.get(customer_id, customer_id)

    def history(self, customer_id: str) -> list[IdentityChange]:
        """Changes that built ``customer_id`` and every customer it absorbed, in log order."""
        found = [self.log[i] for i in self._history.get(self.canonical_id(customer_id), [])]
        return [c for c in found if c is not _ERASED]

    def seen(self, change_id: str) -> bool:
        """Whether a change with this id was applied already."""
        return change_id in self._seen

    def apply(self, change: IdentityChange) -> list[IndexEntry]:
        """Apply one change; return the index entries it moved. A repeated change is a no-op."""
        if change.change_id in self._seen:
            return []
        handler = {
            "created": self._attach,
            "linked": self._attach,
            "merged": self._merged,
            "split": self._split,
            "matched": self._matched,
            "pinned": self._pinned,
            "shared": self._shared,
            "refused": _nothing,
            "related": _nothing,
            "erased": self._erased,
        }.get(change.kind)
        self._seen.add(change.change_id)
        if change.kind == "possible_match":  # for review and the API; never membership
            return []
        if handler is None:
            raise IdentityError(
                f"identity change {change.change_id}: kind {change.kind!r} is not supported by "
                "this version — upgrade signalfold"
            )
        entries = handler(change)
        if change.kind == "erased":
            return entries  # names no one; the customer's history went with it
        self.log.append(change)
        position = len(self.log) - 1
        self.by_signal.setdefault(change.signal_id, []).append(position)
        targets = {self.canonical_id(change.customer_id)}
        if change.from_customer_id:
            targets.add(self.canonical_id(change.from_customer_id))
        for target in sorted(targets):
            self._history.setdefault(target, []).append(position)
        if change.signal_id.startswith("cmd_") and change.kind in ("split", "merged", "pinned"):
            done = self.commands.setdefault(change.signal_id, [])
            done += [c for c in (change.from_customer_id, change.customer_id) if c]
        return entries

    def aliases_of(self, customer_id: str) -> list[str]:
        """Ids merged into ``customer_id``, sorted."""
        return sorted(self._aliases_of.get(customer_id, ()))

    def customer_of(self, record_id: str) -> Customer | None:
        """The live customer holding ``record_id``, if the record is known."""
        record = self.records.get(record_id)
        return self.customers.get(self.canonical_id(record.customer_id)) if record else None

    def age(self, record_id: str) -> tuple[datetime, str]:
        """(first event time, record id): the order founders are chosen by."""
        return (self.records[record_id].first_seen, record_id)

    def _live(self, customer_id: str) -> Customer:
        """The live customer ``customer_id``, created (or revived from an alias) if needed."""
        customer = self.customers.get(customer_id)
        if customer is not None:
            return customer
        if customer_id in self.aliases:
            survivor = self.aliases.pop(customer_id)
            self._aliases_of.get(survivor, set()).discard(customer_id)
        customer = Customer(customer_id)
        self.customers[customer_id] = customer
        return customer

    def _attach(self, change: IdentityChange) -> list[IndexEntry]:
        record = self.records.get(change.record_id)
        if change.kind == "created":
            if record is not None or change.birth is None:
                raise self._inconsistent(change, "record already exists or has no birth")
            customer = self._live(change.customer_id)
        else:
            found = self.customers.get(self.canonical_id(change.customer_id))
            if found is None:
                raise self._inconsistent(change, "customer unknown")
            customer = found
        if record is None:
            record = Record(customer.customer_id, change.birth or change.at)
            self.records[change.record_id] = record
        elif self.canonical_id(record.customer_id) != customer.customer_id:
            raise self._inconsistent(change, "record belongs to another customer")
        if change.birth is not None and change.birth < record.first_seen:
            record.first_seen = change.birth
        customer.records.add(change.record_id)
        record.names.update(change.names)
        record.births.update(change.birth_dates)
        record.companies.update(change.companies)
        for key, scope in change.scopes.items():
            self.scopes.setdefault(key, set()).add(scope)
        for key in change.identifiers:
            record.keys.add(key)
            self.carriers.setdefault(key, set()).add(change.record_id)
            self.key_record.setdefault(key, change.record_id)
            customer.keys.setdefault(key.partition(":")[0], set()).add(key)
        if change.kind == "linked":
            for evidence in change.evidence:
                self._link(change, evidence)
        return self._reown(record.keys if change.birth else set(change.identifiers))

    def _merged(self, change: IdentityChange) -> list[IndexEntry]:
        survivor = self.customers.get(self.canonical_id(change.customer_id))
        if survivor is None:
            raise self._inconsistent(change, "survivor unknown")
        sid = survivor.customer_id
        entries: list[IndexEntry] = []
        for evidence in change.evidence:
            self._link(change, evidence)
        moved: set[str] = set()
        for absorbed_id in change.absorbed_ids:
            absorbed = self.customers.pop(self.canonical_id(absorbed_id), None)
            if absorbed is None or absorbed.customer_id == sid:
                continue
            self._absorb(survivor, absorbed, entries)
            moved |= {k for keys in absorbed.keys.values() for k in keys}
        return entries + self._reown(moved)

    def _absorb(self, survivor: Customer, absorbed: Customer, entries: list[IndexEntry]) -> None:
        sid, aid = survivor.customer_id, absorbed.customer_id
        for record_id in absorbed.records:
            self.records[record_id].customer_id = sid
        survivor.records |= absorbed.records
        for identifier_type, keys in absorbed.keys.items():
            survivor.keys.setdefault(identifier_type, set()).update(keys)
        for alias in [*sorted(self._aliases_of.pop(aid, set())), aid]:
            self.aliases[alias] = sid
            self._aliases_of.setdefault(sid, set()).add(alias)
            entries.append(_entry(f"customer:{alias}", sid))
        self._history[sid] = sorted(self._history.get(sid, []) + self._history.pop(aid, []))

    def _split(self, change: IdentityChange) -> list[IndexEntry]:
        source = self.customers.get(self.canonical_id(change.from_customer_id or ""))
        moved = set(change.records)
        if source is None or not moved or not moved <= source.records:
            raise self._inconsistent(change, "split records are not a part of the customer")
        revived = change.customer_id in self.aliases
        target = self._live(change.customer_id)
        if change.evidence and change.evidence[0].rule == "operator:split":
            rest = frozenset(source.records - moved)
            self.pins.add_barrier(Barrier("split", frozenset(moved), rest, change.change_id))
        source.records -= moved
        target.records |= moved
        entries: list[IndexEntry] = []
        if revived:  # the id names a live customer again, not an alias
            entries.append(_entry(f"customer:{target.customer_id}", target.customer_id))
        for customer in (source, target):
            customer.keys = {}
            for record_id in customer.records:
                self.records[record_id].customer_id = customer.customer_id
                for key in self.records[record_id].keys:
                    customer.keys.setdefault(key.partition(":")[0], set()).add(key)
        if not source.records:  # everything moved: the old id now names the new customer
            del self.customers[source.customer_id]
            self._absorb(target, source, entries)
        keys = {k for r in moved for k in self.records[r].keys}
        return entries + self._reown(keys)

    def _matched(self, change: IdentityChange) -> list[IndexEntry]:
        other = change.other_record_id or ""
        evidence = change.evidence[0]
        self.matches.setdefault(change.record_id, {})[other] = evidence
        self.matches.setdefault(other, {})[change.record_id] = evidence
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
            self._link(change, change.evidence[0])
        return []

    def _erased(self, change: IdentityChange) -> list[IndexEntry]:
        """Forget a customer (erasure): its records, what they showed, its aliases, history.

        Returns the entries of keys another customer now owns; keys no one owns any
        more are in ``self.unowned`` until taken (their index entries must be deleted).
        Other customers' links, pins and matches to the records go too. What applying
        the log again would not bring back is gone: the erased records' changes are
        sealed with keys erasure deletes, so a rebuild never reads them.
        """
        customer = self.customers.pop(self.canonical_id(change.customer_id), None)
        if customer is None:
            return []  # unknown, or erased already (a rebuild skips what it cannot read)
        cid, records = customer.customer_id, customer.records
        keys = {k for r in records for k in self.records[r].keys}
        ids = (cid, *sorted(self._aliases_of.get(cid, ())))
        self.forgotten.append((ids, tuple(sorted(records))))
        for position in self._history.pop(cid, []):
            self.log[position] = _ERASED
        for alias in self._aliases_of.pop(cid, set()):
            self.aliases.pop(alias, None)
        for record_id in records:
            del self.records[record_id]
            for other in self.matches.pop(record_id, {}):
                self.matches.get(other, {}).pop(record_id, None)
        for key in keys:
            carriers = self.carriers.get(key, set()) - records
            if carriers:
                self.carriers[key] = carriers
                if self.key_record.get(key) in records:
                    self.key_record[key] = min(carriers, key=self.age)
            else:
                self.carriers.pop(key, None)
                self.key_record.pop(key, None)
                self.scopes.pop(key, None)
                self.shared.discard(key)
                if self.owner.pop(key, None) is not None:
                    self.unowned.add(key)
        self.links.forget(records)
        self.pins.forget(records)
        return self._reown(keys)

    def _reown(self, keys: set[str]) -> list[IndexEntry]:
        """Re-derive the owner of ``keys``; the entries of those whose owner changed."""
        entries = []
        for key in sorted(keys):
            carriers = self.carriers.get(key)
            if carriers:
                self.unowned.discard(key)
            if not carriers or "organisation" in self.scopes.get(key, ()):
                continue  # an organisation's value points at nobody in particular
            first = min(carriers, key=self.age)
            owner = self.canonical_id(self.records[first].customer_id)
            if self.owner.get(key) != owner:
                self.owner[key] = owner
                entries.append(_entry(key, owner))
        return entries

    def _link(self, change: IdentityChange, evidence: LinkEvidence) -> None:
        """Remember which record ``change.record_id`` was joined to, and why."""
        rule = evidence.rule
        if rule.startswith("exact:") and evidence.identifier_value is not None:
            key = f"{evidence.identifier_type}:{evidence.identifier_value}"
            other = change.other_record_id or self.key_record.get(key)
        elif rule in ("splink", "pin:always"):
            other = change.other_record_id or evidence.identifier_value
        else:
            return
        self.links.add(change.record_id, other, evidence, change.change_id, change.at)

    @staticmethod
    def _inconsistent(change: IdentityChange, found: str) -> IdentityError:
        return IdentityError(
            f"identity change {change.change_id} ({change.kind}, record {change.record_id}): "
            f"expected it to follow the log, found {found}; changes must be applied in the "
            "order they were published — rebuild from the start of identity.changes"
        )


_ERASED = IdentityChange(
    change_id="erased",
    kind="erased",
    customer_id="",
    record_id="",
    signal_id="erased",
    at=datetime(1970, 1, 1, tzinfo=UTC),
)  # what an erased customer's place in the in-memory log holds


def _nothing(change: IdentityChange) -> list[IndexEntry]:
    """Refusals and relationships change no membership; the log keeps them."""
    return []
