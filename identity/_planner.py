"""How ``IdentityGraph`` decides one signal: the plan, then the changes (see ``graph``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from signalfold.identity._fingerprint import birth_keys, disagreement, name_keys
from signalfold.identity._state import Customer, GraphState
from signalfold.identity.errors import InvalidIdentifier
from signalfold.identity.matching import GraphView, Matcher
from signalfold.identity.normalize import normalize_identifier
from signalfold.identity.resolution import ChangeBuilder, customer_id_for, exact_evidence
from signalfold.identity.rules import MatchRules
from signalfold.schemas.identity import LinkEvidence
from signalfold.schemas.signal import Signal

__all__ = ["SHARED_REASON", "Planner"]

log = logging.getLogger(__name__)

SHARED_REASON = "shared: identifier used by several people"


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


class Planner:
    """Plans and emits one signal's changes against ``state`` under ``rules``."""

    def __init__(
        self,
        state: GraphState,
        rules: MatchRules,
        matcher: Matcher,
        region_for: Callable[[str], str],
        view: GraphView,
    ) -> None:
        self._state, self.rules, self._matcher = state, rules, matcher
        self.region_for, self._view = region_for, view

    def plan(self, signal: Signal) -> _Plan:
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
            for match in self._matcher.match(signal, self._view):
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

    def emit(self, signal: Signal, plan: _Plan, changes: ChangeBuilder) -> tuple[str, list[str]]:
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
