"""``IdentityGraph``: union of source records into customers, event-sourced and deterministic.

What ``resolve`` does with a signal's record (``source:record_key``):

- Only normalised, non-blocked ``strong`` identifiers join records. Weak ones
  never join and are not stored here (they stay on the signal, for state and
  for a future ``Matcher``); invalid or blocked ones are reported in ``rejected``.
- A first-seen record matching no customer is ``created``: its customer id is
  ``cus_`` + sha256(record id)[:20], its ``birth`` the signal's event time.
- A record matching one customer is ``linked`` to it (evidence ``exact:<type>``);
  a known record bringing new identifiers is ``linked`` again with the new keys.
- A record matching several customers merges them: the survivor is the
  customer whose creating record has the earliest (birth, record id) — a merge
  keeps the older id — and each absorbed id gets a ``customer:<id>`` alias.

Merge protection, the exact choice: the record's own customer (for a new
record: nothing) is the anchor. The record's unclaimed identifiers are added
in key order while they fit the per-type limits; one that does not fit is
dropped and refused. Then the customers it matches are considered oldest
first, each joining only if the anchor plus everything joined so far stays
within every limit. A customer that does not fit is not merged: a ``refused``
change names it (``other_record_id`` = its creating record), lists the keys
that would have joined them (``identifiers``) and gives the reason (evidence
``limit:<type>`` with ``detail`` limit/found); those keys keep pointing at that
customer. The record thus stays separate, or is linked only to the customers
it may join. A refusal is published once per (record, key), so repeated
signals produce no new changes.

Before the limits, two more checks refuse a customer (same ``refused`` change,
other rules): an operator barrier between it and the anchor (evidence
``pin:never`` or ``split``: see ``_pins``), and clear disagreement of the other
evidence (``shared:disagree``: both sides show a name and a birth date and
none agree, see ``_fingerprint``). A key that joins people who disagree, or
that more than ``MatchRules.max_people`` otherwise distinct customers have
carried (``shared:people``), gets a ``shared`` change and stops identifying.

Phones without ``+CC`` are read in the region of their source
(``regions``, from the contracts' ``default_region``), else ``default_region``.
Operator commands (split, pin) are planned in ``identity.operations``.

Every change is applied through ``GraphState.apply``, the code ``apply`` runs on
a replayed log, so rebuilding from ``identity.changes`` gives the same graph.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from signalfold.identity._fingerprint import birth_keys, disagreement, name_keys
from signalfold.identity._links import Link
from signalfold.identity._state import Customer, GraphState
from signalfold.identity.errors import InvalidIdentifier
from signalfold.identity.matching import Matcher, NoMatcher
from signalfold.identity.normalize import normalize_identifier
from signalfold.identity.operations import CommandOutcome, plan_command
from signalfold.identity.resolution import (
    ChangeBuilder,
    Resolution,
    customer_id_for,
    exact_evidence,
)
from signalfold.identity.rules import MatchRules
from signalfold.schemas.identity import IdentityChange, IdentityCommand, IndexEntry, LinkEvidence
from signalfold.schemas.signal import Signal

__all__ = ["IdentityGraph", "Resolution", "customer_id_for"]

log = logging.getLogger(__name__)

SHARED_REASON = "shared: identifier used by several people"


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Candidate:
    customer: Customer
    keys: list[str] = field(default_factory=list)
    evidence: list[LinkEvidence] = field(default_factory=list)


@dataclass
class _Plan:
    """The decision for one signal, before it becomes changes."""

    home: Customer | None
    held: dict[str, set[str]]
    rejected: list[tuple[str, str]]
    members: set[str]
    names: set[str]
    births: set[date]
    accepted: list[str] = field(default_factory=list)
    matched: dict[str, _Candidate] = field(default_factory=dict)
    joined: list[_Candidate] = field(default_factory=list)
    refusals: list[tuple[list[str], _Candidate | None, LinkEvidence]] = field(default_factory=list)
    shared: dict[str, LinkEvidence] = field(default_factory=dict)


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
    ) -> None:
        self.rules = rules or MatchRules()
        self.default_region = default_region
        self.regions = dict(regions or {})
        self._clock = clock
        self._matcher: Matcher = matcher or NoMatcher()
        self._state = GraphState()

    def region_for(self, source: str) -> str:
        """The region phones of ``source`` are read in (its contract's, else the default)."""
        return self.regions.get(source, self.default_region)

    def resolve(self, signal: Signal) -> Resolution:
        """Fold ``signal``'s record into the graph; return the changes to publish."""
        plan = self._plan(signal)
        changes = ChangeBuilder(signal, self._clock())
        survivor, absorbed = self._emit(signal, plan, changes)
        index = self._apply_all(changes.items)
        return Resolution(
            customer_id=self._state.canonical_id(survivor),
            record_id=signal.record_id,
            changes=changes.items,
            index=index,
            merges=[(a, survivor) for a in absorbed],
            rejected=plan.rejected,
        )

    def command(self, command: IdentityCommand) -> CommandOutcome:
        """Carry out an operator's split or pin (see ``identity.operations``)."""
        outcome = plan_command(self._state, command, self._clock())
        index = self._apply_all(outcome.changes)
        return outcome.finish(self._state, index)

    def _apply_all(self, changes: list[IdentityChange]) -> list[IndexEntry]:
        index: dict[str, IndexEntry] = {}
        for change in changes:
            for entry in self._state.apply(change):
                index.pop(entry.key, None)  # keep each key once, at its final position
                index[entry.key] = entry
        return list(index.values())

    def apply(self, change: IdentityChange) -> None:
        """Apply a published change; applying the whole log in order rebuilds the graph."""
        self._state.apply(change)

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

    def is_shared(self, key: str) -> bool:
        """Whether ``key`` stopped identifying (shared by people who disagree)."""
        return key in self._state.shared

    def _plan(self, signal: Signal) -> _Plan:
        state, rid = self._state, signal.record_id
        keys, rejected = self._strong_keys(signal)
        record = state.records.get(rid)
        home = state.customer_of(rid)
        held = {t: set(ks) for t, ks in home.keys.items()} if home else {}
        members = set(home.records) if home else {rid}
        names, births = state.evidence_of(members)
        plan = _Plan(home, held, rejected, members, names, births)
        plan.names.update(name_keys(signal.traits))
        plan.births.update(birth_keys(signal.traits))
        for key in keys:
            owner = state.owner.get(key)
            identifier_type = key.partition(":")[0]
            if owner is not None:
                if home is None or owner != home.customer_id:
                    cand = plan.matched.setdefault(owner, _Candidate(state.customers[owner]))
                    cand.keys.append(key)
                    cand.evidence.append(exact_evidence(key))
            elif (reason := self._limit(plan.held, {identifier_type: {key}})) is None:
                plan.accepted.append(key)
                plan.held.setdefault(identifier_type, set()).add(key)
            else:
                plan.rejected.append((identifier_type, reason.rule))
                if (rid, key) not in state.refusals:
                    plan.refusals.append(([key], None, reason))
        if record is None and not plan.matched:
            for match in self._matcher.match(signal, self):
                customer = state.customers.get(state.canonical_id(match.customer_id))
                if customer is not None:
                    cand = plan.matched.setdefault(customer.customer_id, _Candidate(customer))
                    cand.evidence.append(match.evidence)
        for cand in sorted(plan.matched.values(), key=lambda c: c.customer.age):
            self._consider(plan, cand, rid)
        return plan

    def _consider(self, plan: _Plan, cand: _Candidate, rid: str) -> None:
        """Join ``cand`` to the anchor, or refuse it with the first rule it breaks."""
        state, other = self._state, cand.customer
        barrier = state.pins.barrier_between(plan.members, other.records)
        other_names, other_births = state.evidence_of(other.records)
        why_not = disagreement((plan.names, other_names), (plan.births, other_births))
        if barrier is not None:
            reason = LinkEvidence(rule="pin:never" if barrier.kind == "pin" else "split")
        elif why_not is not None:
            reason = LinkEvidence(rule="shared:disagree", detail={"names": 0.0, "birth_dates": 0.0})
            for key in cand.keys:
                plan.shared[key] = reason
        else:
            reason = self._limit(plan.held, other.keys)
        if reason is None:
            plan.joined.append(cand)
            for identifier_type, ks in other.keys.items():
                plan.held.setdefault(identifier_type, set()).update(ks)
            plan.members |= other.records
            plan.names |= other_names
            plan.births |= other_births
            return
        plan.rejected.extend((k.partition(":")[0], reason.rule) for k in cand.keys)
        if not cand.keys or any((rid, k) not in state.refusals for k in cand.keys):
            plan.refusals.append((cand.keys, cand, reason))
        for key in cand.keys:
            if key not in plan.shared and self._people(key, plan.home) > self.rules.max_people:
                plan.shared[key] = LinkEvidence(
                    rule="shared:people", detail={"limit": float(self.rules.max_people)}
                )

    def _people(self, key: str, home: Customer | None) -> int:
        """Distinct customers that carried ``key``: its owner, those refused it, and this one."""
        state = self._state
        people = {state.owner[key], home.customer_id if home else "<new>"}
        for record_id in state.refused_by_key.get(key, ()):
            customer = state.customer_of(record_id)
            people.add(customer.customer_id if customer else record_id)
        return len(people)

    def _emit(self, signal: Signal, plan: _Plan, changes: ChangeBuilder) -> tuple[str, list[str]]:
        """Turn the plan into changes; return the survivor and the absorbed ids."""
        record = self._state.records.get(signal.record_id)
        names = tuple(sorted(set(name_keys(signal.traits)) - (record.names if record else set())))
        births = tuple(
            sorted(set(birth_keys(signal.traits)) - (record.births if record else set()))
        )
        shown = {"names": names, "birth_dates": births}
        members = [plan.home] if plan.home else []
        members = sorted(members + [c.customer for c in plan.joined], key=lambda c: c.age)
        if not members:
            survivor = customer_id_for(signal.record_id)
            first = (LinkEvidence(rule="first_record"),)
            changes.add(
                "created", survivor, plan.accepted, first, birth=signal.occurred_at, **shown
            )
        else:
            survivor = members[0].customer_id
            if plan.home is None:
                evidence = tuple(plan.matched[survivor].evidence)
                changes.add("linked", survivor, plan.accepted, evidence, **shown)
            elif plan.accepted or names or births:
                same = (LinkEvidence(rule="same_record"),)
                changes.add("linked", plan.home.customer_id, plan.accepted, same, **shown)
        absorbed = [m.customer_id for m in members[1:]]
        if absorbed:
            bridges = [c for c in plan.joined if c.customer.customer_id != survivor]
            evidence = tuple(e for c in bridges for e in c.evidence)
            changes.add("merged", survivor, (), evidence, absorbed_ids=tuple(absorbed))
        for keys, cand, reason in plan.refusals:
            evidence = (reason, *(cand.evidence if cand else map(exact_evidence, keys)))
            other = cand.customer.creator if cand else None
            changes.add("refused", survivor, keys, evidence, other_record_id=other)
            log.info("identity link refused by %s", reason.rule)
        for key, reason in sorted(plan.shared.items()):
            changes.add("shared", self._state.owner[key], [key], (reason,))
            log.info(
                "identity: a %s identifier stopped identifying (%s)", key.split(":")[0], reason.rule
            )
        return survivor, absorbed

    def _strong_keys(self, signal: Signal) -> tuple[list[str], list[tuple[str, str]]]:
        """The signal's strong keys, normalised, unblocked, sorted; and what was rejected."""
        keys: set[str] = set()
        rejected: list[tuple[str, str]] = []
        region = self.region_for(signal.source)
        for identifier in signal.identifiers:
            if identifier.trust != "strong":
                continue
            try:
                normalized = normalize_identifier(identifier, region=region)
            except InvalidIdentifier as exc:
                rejected.append((exc.identifier_type, exc.reason))
                continue
            reason = self.rules.is_blocked(normalized.key)
            if reason is None and normalized.key in self._state.shared:
                reason = SHARED_REASON
            if reason is None:
                keys.add(normalized.key)
            else:
                rejected.append((normalized.type, reason))
        return sorted(keys), rejected

    def _limit(self, held: dict[str, set[str]], adding: dict[str, set[str]]) -> LinkEvidence | None:
        """Evidence for the first type (by name) whose limit ``held | adding`` would break."""
        for identifier_type in sorted(adding):
            limit = self.rules.limit_for(identifier_type)
            found = len(held.get(identifier_type, set()) | adding[identifier_type])
            if limit is not None and found > limit:
                return LinkEvidence(
                    rule=f"limit:{identifier_type}",
                    identifier_type=identifier_type,
                    detail={"limit": float(limit), "found": float(found)},
                )
        return None
