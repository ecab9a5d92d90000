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

Every change is applied through ``GraphState.apply``, the code ``apply`` runs on
a replayed log, so rebuilding from ``identity.changes`` gives the same graph.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from signalfold.identity._state import Customer, GraphState
from signalfold.identity.errors import InvalidIdentifier
from signalfold.identity.matching import Matcher, NoMatcher
from signalfold.identity.normalize import normalize_identifier
from signalfold.identity.resolution import (
    ChangeBuilder,
    Resolution,
    customer_id_for,
    exact_evidence,
)
from signalfold.identity.rules import MatchRules
from signalfold.schemas.identity import IdentityChange, IndexEntry, LinkEvidence
from signalfold.schemas.signal import Signal

__all__ = ["IdentityGraph", "Resolution", "customer_id_for"]

log = logging.getLogger(__name__)

Conflict = tuple[str, int, int]  # (identifier type, limit, distinct values it would hold)


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
    accepted: list[str] = field(default_factory=list)
    matched: dict[str, _Candidate] = field(default_factory=dict)
    joined: list[_Candidate] = field(default_factory=list)
    refusals: list[tuple[list[str], _Candidate | None, Conflict]] = field(default_factory=list)


class IdentityGraph:
    """Decides which customer each signal's record belongs to; see the module docstring."""

    def __init__(
        self,
        rules: MatchRules | None = None,
        *,
        default_region: str = "GB",
        clock: Callable[[], datetime] = _utc_now,
        matcher: Matcher | None = None,
    ) -> None:
        self.rules = rules or MatchRules()
        self.default_region = default_region
        self._clock = clock
        self._matcher: Matcher = matcher or NoMatcher()
        self._state = GraphState()

    def resolve(self, signal: Signal) -> Resolution:
        """Fold ``signal``'s record into the graph; return the changes to publish."""
        plan = self._plan(signal)
        changes = ChangeBuilder(signal, self._clock())
        survivor, absorbed = self._emit(signal, plan, changes)
        index: dict[str, IndexEntry] = {}
        for change in changes.items:
            for entry in self._state.apply(change):
                index.pop(entry.key, None)  # keep each key once, at its final position
                index[entry.key] = entry
        return Resolution(
            customer_id=self._state.canonical_id(survivor),
            record_id=signal.record_id,
            changes=changes.items,
            index=list(index.values()),
            merges=[(a, survivor) for a in absorbed],
            rejected=plan.rejected,
        )

    def apply(self, change: IdentityChange) -> None:
        """Apply a published change; applying the whole log in order rebuilds the graph."""
        self._state.apply(change)

    def customer_of_record(self, record_id: str) -> str | None:
        """The customer a source record belongs to now, or ``None`` if never seen."""
        record = self._state.records.get(record_id)
        return self._state.canonical_id(record.customer_id) if record else None

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

    def records_of(self, customer_id: str) -> list[str]:
        """Records of the (canonical) customer, sorted; empty when unknown."""
        customer = self._state.customers.get(self.canonical_id(customer_id))
        return sorted(customer.records) if customer else []

    def explain(self, customer_id: str) -> list[IdentityChange]:
        """The changes that built this customer and those it absorbed, in order."""
        return self._state.history(customer_id)

    def _plan(self, signal: Signal) -> _Plan:
        state, rid = self._state, signal.record_id
        keys, rejected = self._strong_keys(signal)
        record = state.records.get(rid)
        home = state.customers[state.canonical_id(record.customer_id)] if record else None
        held = {t: set(ks) for t, ks in home.keys.items()} if home else {}
        plan = _Plan(home, held, rejected)
        for key in keys:
            owner = state.owner.get(key)
            identifier_type = key.partition(":")[0]
            if owner is not None:
                if home is None or owner != home.customer_id:
                    cand = plan.matched.setdefault(owner, _Candidate(state.customers[owner]))
                    cand.keys.append(key)
                    cand.evidence.append(exact_evidence(key))
            elif (conflict := self._conflict(plan.held, {identifier_type: {key}})) is None:
                plan.accepted.append(key)
                plan.held.setdefault(identifier_type, set()).add(key)
            else:
                plan.rejected.append((identifier_type, f"limit:{identifier_type}"))
                if (rid, key) not in state.refusals:
                    plan.refusals.append(([key], None, conflict))
        if home is None and not plan.matched:
            for match in self._matcher.match(signal, self):
                customer = state.customers.get(state.canonical_id(match.customer_id))
                if customer is not None:
                    cand = plan.matched.setdefault(customer.customer_id, _Candidate(customer))
                    cand.evidence.append(match.evidence)
        for cand in sorted(plan.matched.values(), key=lambda c: c.customer.age):
            conflict = self._conflict(plan.held, cand.customer.keys)
            if conflict is None:
                plan.joined.append(cand)
                for identifier_type, ks in cand.customer.keys.items():
                    plan.held.setdefault(identifier_type, set()).update(ks)
                continue
            plan.rejected.extend((k.partition(":")[0], f"limit:{conflict[0]}") for k in cand.keys)
            if not cand.keys or any((rid, k) not in state.refusals for k in cand.keys):
                plan.refusals.append((cand.keys, cand, conflict))
        return plan

    def _emit(self, signal: Signal, plan: _Plan, changes: ChangeBuilder) -> tuple[str, list[str]]:
        """Turn the plan into changes; return the survivor and the absorbed ids."""
        members = [plan.home] if plan.home else []
        members = sorted(members + [c.customer for c in plan.joined], key=lambda c: c.age)
        if not members:
            survivor = customer_id_for(signal.record_id)
            first = (LinkEvidence(rule="first_record"),)
            changes.add("created", survivor, plan.accepted, first, birth=signal.occurred_at)
        else:
            survivor = members[0].customer_id
            if plan.home is None:
                evidence = tuple(plan.matched[survivor].evidence)
                changes.add("linked", survivor, plan.accepted, evidence)
            elif plan.accepted:
                same = (LinkEvidence(rule="same_record"),)
                changes.add("linked", plan.home.customer_id, plan.accepted, same)
        absorbed = [m.customer_id for m in members[1:]]
        if absorbed:
            bridges = [c for c in plan.joined if c.customer.customer_id != survivor]
            evidence = tuple(e for c in bridges for e in c.evidence)
            changes.add("merged", survivor, (), evidence, absorbed_ids=tuple(absorbed))
        for keys, cand, (identifier_type, limit, found) in plan.refusals:
            reason = LinkEvidence(
                rule=f"limit:{identifier_type}",
                identifier_type=identifier_type,
                detail={"limit": float(limit), "found": float(found)},
            )
            evidence = (reason, *(cand.evidence if cand else map(exact_evidence, keys)))
            other = cand.customer.creator if cand else None
            changes.add("refused", survivor, keys, evidence, other_record_id=other)
            log.info("identity link refused by %s (limit %d, found %d)", reason.rule, limit, found)
        return survivor, absorbed

    def _strong_keys(self, signal: Signal) -> tuple[list[str], list[tuple[str, str]]]:
        """The signal's strong keys, normalised, unblocked, sorted; and what was rejected."""
        keys: set[str] = set()
        rejected: list[tuple[str, str]] = []
        for identifier in signal.identifiers:
            if identifier.trust != "strong":
                continue
            try:
                normalized = normalize_identifier(identifier, region=self.default_region)
            except InvalidIdentifier as exc:
                rejected.append((exc.identifier_type, exc.reason))
                continue
            reason = self.rules.is_blocked(normalized.key)
            if reason is None:
                keys.add(normalized.key)
            else:
                rejected.append((normalized.type, reason))
        return sorted(keys), rejected

    def _conflict(self, held: dict[str, set[str]], adding: dict[str, set[str]]) -> Conflict | None:
        """The first type (by name) whose limit ``held | adding`` would break, if any."""
        for identifier_type in sorted(adding):
            limit = self.rules.limit_for(identifier_type)
            found = len(held.get(identifier_type, set()) | adding[identifier_type])
            if limit is not None and found > limit:
                return identifier_type, limit, found
        return None
