"""``IdentityGraph``: union of source records into customers, event-sourced and order-free.

What ``resolve`` does with a signal's record (``source:record_key``): records
its evidence — normalised, non-blocked ``strong`` identifiers with the scope
the source declared, folded names, birth dates, first event time, Splink links
— and re-clusters every record that evidence reaches (``_planner``,
``_clusters``). The clusters are a function of the records, not of the order
they came in: the same records in any order give the same customers with the
same ids (``cus_`` + sha256 of the cluster's founder, its oldest record by
first event time, then record id). Weak identifiers never join and are not
stored here; invalid or blocked ones are reported in ``rejected``.

A strong identifier joins two records only when they are not clearly two
people (given names that are not the same name written differently, or birth
dates that are not a typo or a day/month swap apart, see ``fingerprint``).
A value a source declares ``organisation`` never joins; one declared
``household``, or one seen with clearly different people, joins only records
whose names agree. Two records kept apart although they share a value get a
``related`` change (a relationship the API shows), never a merge. Per-type
limits (``MatchRules.limits``) and operator barriers refuse merges too
(``refused``, with the rule).

Phones without ``+CC`` are read in the region of their source
(``regions``, from the contracts' ``default_region``), else ``default_region``.
Operator commands (split, pin) are planned in ``identity.operations``.

Every change is applied through ``GraphState.apply``, the code ``apply`` runs on
a replayed log, so rebuilding from ``identity.changes`` gives the same graph.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from signalfold.identity._links import Link
from signalfold.identity._planner import Effects, Planner
from signalfold.identity._state import GraphState
from signalfold.identity.erasure import Erasure
from signalfold.identity.errors import InvalidIdentifier
from signalfold.identity.matching import Matcher, NoMatcher
from signalfold.identity.normalize import normalize_identifier
from signalfold.identity.operations import CommandOutcome, plan_command
from signalfold.identity.resolution import (
    ChangeBuilder,
    Resolution,
    customer_id_for,
)
from signalfold.identity.rules import MatchRules
from signalfold.schemas.identity import IdentityChange, IdentityCommand, IndexEntry
from signalfold.schemas.signal import Signal
from signalfold.schemas.state import IdentityRef

__all__ = ["IdentityGraph", "Resolution", "customer_id_for"]

log = logging.getLogger(__name__)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class IdentityGraph:
    """Decides which customer each signal's record belongs to; see the module docstring."""

    def __init__(
        self,
        rules: MatchRules | None = None,
        *,
        default_region: str = "GB",
        regions: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] = _utc_now,
        matcher: Matcher | None = None,
        id_key: bytes | None = None,
    ) -> None:
        self.rules = rules or MatchRules()
        self.default_region = default_region
        self.regions = dict(regions or {})
        self._clock = clock
        self._matcher: Matcher = matcher or NoMatcher()
        self._state = GraphState()
        self._planner = Planner(
            self._state,
            self.rules,
            self._matcher,
            self.region_for,
            self,
            self._record,
            customer_id=functools.partial(customer_id_for, key=id_key),
        )

    def region_for(self, source: str) -> str:
        """The region phones of ``source`` are read in (its contract's, else the default)."""
        return self.regions.get(source, self.default_region)

    @property
    def matcher(self) -> Matcher:
        """The probabilistic matcher the graph consults (``NoMatcher`` by default)."""
        return self._matcher

    def resolve(self, signal: Signal) -> Resolution:
        """Fold ``signal``'s record into the graph; return the changes to publish."""
        changes = ChangeBuilder(signal, self._clock())
        effects, rejected = self._planner.resolve(signal, changes)
        return Resolution(
            customer_id=self._state.canonical_id(self._state.records[signal.record_id].customer_id),
            record_id=signal.record_id,
            changes=effects.changes,
            index=list(effects.index.values()),
            merges=effects.merges,
            rejected=rejected,
            rebuild=self.rebuild_of(effects.split_ids),
        )

    def command(self, command: IdentityCommand) -> CommandOutcome:
        """Carry out an operator's split or pin (see ``identity.operations``)."""
        changes = ChangeBuilder.for_command(command.command_id, self._clock())
        effects = Effects()
        if command.command_id in self._state.commands:  # delivered again: announce, change nothing
            for change in self.changes_of_signal(command.command_id):
                if change.kind == "split":
                    effects.split_ids |= {change.customer_id, change.from_customer_id or ""}
            return CommandOutcome(
                command.command_id, [], rebuild=self.rebuild_of(effects.split_ids)
            )
        refused = plan_command(self._state, command, changes, effects, self._planner)
        return CommandOutcome(
            command.command_id,
            effects.changes,
            index=list(effects.index.values()),
            merges=effects.merges,
            rebuild=self.rebuild_of(effects.split_ids),
            refused=refused,
        )

    def rebuild_of(
        self, customer_ids: set[str]
    ) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
        """Customers whose state must start over from their own records' signals."""
        out = {}
        for cid in sorted({self._state.canonical_id(c) for c in customer_ids}):
            customer = self._state.customers.get(cid)
            if customer is not None:
                out[cid] = (tuple(sorted(customer.records)), tuple(self._state.aliases_of(cid)))
        return out

    def _record(self, change: IdentityChange, effects: Effects) -> None:
        """Apply a change the planner decided, and collect what it moved."""
        if self._state.seen(change.change_id):
            return
        for entry in self._state.apply(change):
            effects.index.pop(entry.key, None)  # keep each key once, at its final position
            effects.index[entry.key] = entry
        effects.changes.append(change)
        if change.kind == "merged":
            effects.merges += [(a, change.customer_id) for a in change.absorbed_ids]
        elif change.kind == "split":
            source = change.from_customer_id or ""
            effects.split_ids |= {change.customer_id, source}
            if source not in self._state.customers:  # every record moved: the id is an alias
                effects.merges.append((source, change.customer_id))

    def apply(self, change: IdentityChange) -> None:
        """Apply a published change; applying the whole log in order rebuilds the graph."""
        self._state.apply(change)

    def take_forgotten(self) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
        """(customer ids, records) of each customer erased since the last call.

        Applying an ``erased`` change (a rebuild, a standby) forgets the customer
        too: its owner deletes these subjects' keys (again: deleting is idempotent)
        in case the one who erased them stopped before it could.
        """
        found, self._state.forgotten = self._state.forgotten, []
        return found

    def erase(self, customer_id: str, request_id: str) -> Erasure:
        """Forget ``customer_id`` (any id it had) and everything its records showed."""
        state = self._state
        cid = state.canonical_id(customer_id)
        customer = state.customers.get(cid)
        if customer is None:
            return Erasure(request_id, customer_id, found=False)
        records = tuple(sorted(customer.records))
        keys = tuple(sorted({k for r in records for k in state.records[r].keys}))
        aliases = tuple(state.aliases_of(cid))
        change = IdentityChange(
            change_id=f"chg_erased_{request_id}",
            kind="erased",
            customer_id=cid,
            record_id="",
            absorbed_ids=aliases,
            signal_id=request_id,
            at=self._clock(),
        )
        index = tuple(state.apply(change))
        unowned = tuple(k for k in keys if k in state.unowned)
        state.unowned.difference_update(unowned)
        self._matcher.forget(records)
        return Erasure(request_id, cid, True, aliases, records, keys, change, index, unowned)

    def customer_of_record(self, record_id: str) -> str | None:
        """The customer a source record belongs to now, or ``None`` if never seen."""
        customer = self._state.customer_of(record_id)
        return customer.customer_id if customer else None

    def lookup(self, key: str) -> str | None:
        """Current customer of ``type:value`` (normalised), or of ``customer:<old id>``."""
        identifier_type, _, value = key.partition(":")
        if identifier_type == "customer":
            found = self._state.canonical_id(value)
            return found if found in self._state.customers else None
        return self._state.owner.get(key)

    def canonical_id(self, customer_id: str) -> str:
        """Follows aliases to the surviving customer; unknown ids come back unchanged."""
        return self._state.canonical_id(customer_id)

    def aliases_of(self, customer_id: str) -> list[str]:
        """Ids merged into the (canonical) customer, sorted."""
        return self._state.aliases_of(self.canonical_id(customer_id))

    def records_of(self, customer_id: str) -> list[str]:
        """Records of the (canonical) customer, sorted; empty when unknown."""
        customer = self._state.customers.get(self.canonical_id(customer_id))
        return sorted(customer.records) if customer else []

    def keys_of(self, customer_id: str) -> list[str]:
        """Every identifier key the (canonical) customer holds, sorted."""
        customer = self._state.customers.get(self.canonical_id(customer_id))
        if customer is None:
            return []
        return sorted(k for keys in customer.keys.values() for k in keys)

    def changes_of_signal(self, signal_id: str) -> list[IdentityChange]:
        """The changes a signal caused, in order (to re-send after a partial delivery)."""
        return [self._state.log[i] for i in self._state.by_signal.get(signal_id, [])]

    def replayed_effects(self, signal_id: str) -> tuple[list[tuple[str, str]], list[IndexEntry]]:
        """The merges and current index entries a signal caused earlier.

        A batch replayed after a crash finds its changes already in the graph (they
        were in ``identity.changes``), but the other records of that batch may never
        have been acknowledged; both are idempotent downstream, so re-sending them
        is safe, and not re-sending could leave a merge unmoved.
        """
        merges: list[tuple[str, str]] = []
        keys: list[str] = []
        for change in self.changes_of_signal(signal_id):
            survivor = self.canonical_id(change.customer_id)
            keys += change.identifiers
            if change.kind == "split":
                keys += [*self.keys_of(survivor), f"customer:{change.customer_id}"]
            if change.kind == "merged":
                keys += self.keys_of(survivor)  # the absorbed keys moved to it
                merges += [(absorbed, survivor) for absorbed in change.absorbed_ids]
                keys += [f"customer:{absorbed}" for absorbed in change.absorbed_ids]
        index = []
        for key in dict.fromkeys(keys):
            current = self.lookup(key)
            if current is not None:
                id_type, _, value = key.partition(":")
                index.append(
                    IndexEntry(key=key, customer_id=current, identifier_type=id_type, value=value)
                )
        return merges, index

    def identity_refs(self, signal: Signal) -> tuple[IdentityRef, ...]:
        """The signal's valid identifiers, normalised as the graph reads them (for state)."""
        refs = []
        region = self.region_for(signal.source)
        for identifier in signal.identifiers:
            try:
                norm = normalize_identifier(identifier, region=region)
            except InvalidIdentifier:
                continue
            refs.append(
                IdentityRef(
                    type=norm.type,
                    value=norm.value,
                    source=signal.source,
                    record_id=signal.record_id,
                )
            )
        return tuple(refs)

    def explain(self, customer_id: str) -> list[IdentityChange]:
        """The changes that built this customer and those it absorbed, in order."""
        return self._state.history(customer_id)

    def links(self, customer_id: str) -> list[Link]:
        """Every link between the customer's records, with its evidence, in order."""
        return self._state.links.of(set(self.records_of(customer_id)))

    def why(self, record_a: str, record_b: str) -> list[Link] | None:
        """The chain of links that makes two records one customer; ``None`` if they are not."""
        customer = self._state.customer_of(record_a)
        if customer is None or record_b not in customer.records:
            return None
        return self._state.links.path(record_a, record_b, customer.records)

    def kept_apart(self, record_a: str, record_b: str) -> list[IdentityChange]:
        """The ``related`` and ``refused`` changes between the customers of two records:
        why records that share something are not one customer (empty when nothing did)."""
        ours, theirs = self._state.customer_of(record_a), self._state.customer_of(record_b)
        if ours is None or theirs is None or ours is theirs:
            return []
        a, b = ours.records, theirs.records
        return [
            c
            for c in self._state.log
            if c.kind in ("related", "refused")
            and c.other_record_id is not None
            and (
                (c.record_id in a and c.other_record_id in b)
                or (c.record_id in b and c.other_record_id in a)
            )
        ]

    def is_shared(self, key: str) -> bool:
        """Whether ``key`` stopped identifying (shared by people who disagree)."""
        return key in self._state.shared
