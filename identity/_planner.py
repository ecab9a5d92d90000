"""How ``IdentityGraph`` decides: record evidence, re-cluster what it reaches, publish the change.

For a signal, the planner (1) normalises its strong identifiers, (2) records
its Splink links (``matched``), (3) computes the partition of every record the
new evidence reaches (``_clusters.cluster``: a function of the evidence, not of
arrival order), (4) places the record (``created`` when it founds its cluster,
else ``linked``), and (5) turns the old partition into the new one with
``split`` and ``merged`` changes, each cluster named after its founder — the
oldest record by first event time, then record id (``customer_id_for``), so a
merge keeps the older id and a replay in any order gives the same ids.
Refused edges become ``refused`` changes (limits, pins, splits) or ``related``
changes (people who share an identifier but clearly differ), each published once.

Operator commands (``identity.operations``) add a constraint change and then
run the same step (5) over the records they touch.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from signalfold.identity._clusters import (
    Edge,
    Evidence,
    Outcome,
    cluster,
    edges_of,
)
from signalfold.identity._folding import fold_company
from signalfold.identity._overlay import Overlay
from signalfold.identity._state import GraphState
from signalfold.identity.errors import InvalidIdentifier
from signalfold.identity.fingerprint import birth_keys, name_keys
from signalfold.identity.matching import GraphView, Matcher
from signalfold.identity.normalize import normalize_identifier
from signalfold.identity.resolution import ChangeBuilder, customer_id_for, exact_evidence
from signalfold.identity.rules import MatchRules
from signalfold.schemas.identity import IdentityChange, IndexEntry, LinkEvidence
from signalfold.schemas.signal import Signal

__all__ = ["ORGANISATION_REASON", "SHARED_REASON", "Effects", "Planner"]

log = logging.getLogger(__name__)

SHARED_REASON = "shared: identifier used by several people"
ORGANISATION_REASON = "organisation: a role mailbox or switchboard never joins people"
#: The most records one re-clustering reads; a larger component is cut (and logged).
MAX_COMPONENT = 5_000
_RELATED = ("household:", "organisation:", "shared:", "related:")


@dataclass
class Effects:
    """What one step changed: the changes, index entries, merges and customers to rebuild."""

    changes: list[IdentityChange] = field(default_factory=list)
    index: dict[str, IndexEntry] = field(default_factory=dict)
    merges: list[tuple[str, str]] = field(default_factory=list)
    split_ids: set[str] = field(default_factory=set)


class Planner:
    """Decides one signal's (or command's) changes against ``state`` under ``rules``."""

    def __init__(
        self,
        state: GraphState,
        rules: MatchRules,
        matcher: Matcher,
        region_for: Callable[[str], str],
        view: GraphView,
        apply: Callable[[IdentityChange, Effects], None],
        customer_id: Callable[[str], str] = customer_id_for,
    ) -> None:
        self._state, self.rules, self._matcher = state, rules, matcher
        self.region_for, self._view, self._apply = region_for, view, apply
        self.customer_id = customer_id  # a founding record's id → its customer's

    def resolve(
        self, signal: Signal, changes: ChangeBuilder
    ) -> tuple[Effects, list[tuple[str, str]]]:
        """Apply ``signal``; return the effects and the identifiers rejected (type, reason)."""
        state, rid = self._state, signal.record_id
        keys, scopes, rejected = self._strong_keys(signal)
        record = state.records.get(rid)
        names, births = set(name_keys(signal.traits)), set(birth_keys(signal.traits))
        company = fold_company(signal.traits.company) if signal.traits.company else ""
        companies = {company} if company else set()
        effects = Effects()
        if record is None:
            for match in self._matcher.match(signal, self._view):
                other = match.evidence.identifier_value
                if other not in state.records:  # a matcher that names a customer, not a record
                    customer = state.customers.get(state.canonical_id(match.customer_id))
                    other = min(customer.records, key=state.age) if customer else None
                if other and other != rid:
                    evidence = match.evidence
                    self.emit(
                        changes,
                        effects,
                        "matched",
                        match.customer_id,
                        (),
                        (evidence,),
                        other_record_id=other,
                    )
            first_seen = signal.occurred_at
            new_keys, new_names, new_births = set(keys), names, births
            new_companies = companies
        else:
            first_seen = min(record.first_seen, signal.occurred_at)
            new_keys, new_names = set(keys) - record.keys, names - record.names
            new_births, new_companies = births - record.births, companies - record.companies
            new = new_keys or new_names or new_births or new_companies
            if not (new or first_seen < record.first_seen):
                return effects, rejected
        old = (record.keys, record.names, record.births) if record else (set(), set(), set())
        ev = Evidence(
            first_seen,
            frozenset(old[0] | new_keys),
            frozenset(old[1] | new_names),
            frozenset(old[2] | new_births),
            bool(new_companies or (record is not None and record.companies)),
        )
        view = Overlay(state, self.rules, rid, ev, scopes)
        # A new record that shares nothing with anyone is a cluster of its own: exactly
        # what re-clustering would find, without building the component.
        alone = record is None and not effects.changes and not any(map(state.carriers.get, keys))
        if alone:
            outcome, founder = Outcome([frozenset({rid})]), rid
        else:
            seed = {rid} | {r for k in new_keys for r in view.carriers(k)}
            outcome, records = self._outcome(view, seed)
            home = next(c for c in outcome.clusters if rid in c)
            founder = min(home, key=lambda r: (records[r].first_seen, r))
        shown = {
            "names": tuple(sorted(new_names)),
            "birth_dates": tuple(sorted(new_births)),
            "companies": tuple(sorted(new_companies)),
            "scopes": {k: s for k, s in scopes.items() if k in new_keys},
        }
        birth = first_seen if record is None or first_seen < record.first_seen else None
        if record is not None:
            home_id = state.canonical_id(record.customer_id)
            same = (LinkEvidence(rule="same_record"),)
            self.emit(
                changes, effects, "linked", home_id, sorted(new_keys), same, birth=birth, **shown
            )
        elif founder == rid:
            first = (LinkEvidence(rule="first_record"),)
            self.emit(
                changes,
                effects,
                "created",
                self.customer_id(rid),
                sorted(new_keys),
                first,
                birth=birth,
                **shown,
            )
        else:
            target = state.canonical_id(state.records[founder].customer_id)
            edge = next(e for e in outcome.joined if rid in (e.a, e.b))
            other = edge.b if edge.a == rid else edge.a
            self.emit(
                changes,
                effects,
                "linked",
                target,
                sorted(new_keys),
                tuple(_edge_evidence(edge)),
                birth=birth,
                other_record_id=other,
                **shown,
            )
        if not alone:
            self._settle(changes, effects, view, outcome)
        for edge, reason in outcome.refused:
            if rid in (edge.a, edge.b) and reason.rule.startswith("limit:"):
                rejected += [(k.partition(":")[0], reason.rule) for k in edge.keys]
        for key in keys:
            joins = view.role(key).joins
            if joins != "yes":
                why = ORGANISATION_REASON if joins == "no" else SHARED_REASON
                rejected.append((key.partition(":")[0], why))
        return effects, rejected

    def recluster(self, changes: ChangeBuilder, effects: Effects, seed: Iterable[str]) -> None:
        """Re-cluster everything ``seed`` reaches (after an operator's constraint)."""
        view = Overlay(self._state, self.rules, None, None, {})
        outcome, _ = self._outcome(view, set(seed))
        self._settle(changes, effects, view, outcome)

    def _outcome(self, view: Overlay, seed: set[str]) -> tuple[Outcome, dict[str, Evidence]]:
        records: dict[str, Evidence] = {}
        todo = sorted(seed)
        while todo and len(records) < MAX_COMPONENT:
            r = todo.pop()
            if r in records:
                continue
            records[r] = view.evidence(r)
            todo += [n for n in view.neighbours(r) if n not in records]
        if todo:
            log.warning("identity: a component passed %d records; it was cut", MAX_COMPONENT)
        edges = edges_of(
            records,
            view.carriers,
            view.role,
            lambda r: self._state.matches.get(r, {}),
            self._state.pins.always_of,
        )
        return cluster(records, edges, view.role, self._state.pins, self.rules), records

    def _settle(
        self, changes: ChangeBuilder, effects: Effects, view: Overlay, outcome: Outcome
    ) -> None:
        """Splits and merges that turn the state's partition into ``outcome.clusters``."""
        state = self._state
        target = {}
        for members in outcome.clusters:
            founder = min(members, key=state.age)
            for r in members:
                target[r] = self.customer_id(founder)
        holders = sorted({state.canonical_id(state.records[r].customer_id) for r in target})
        for cid in holders:  # step A: every part of a customer that goes elsewhere splits off
            customer = state.customers[cid]
            parts: dict[str, set[str]] = {}
            for r in customer.records:
                parts.setdefault(target.get(r, cid), set()).add(r)
            if len(parts) < 2:
                continue
            stay = cid if cid in parts else max(parts, key=lambda t: (len(parts[t]), t))
            for tid in sorted(parts):
                if tid != stay:
                    self._move(changes, effects, cid, tid, parts[tid])
        for members in outcome.clusters:  # step B: rename to the founder, merge the rest in
            tid = target[min(members)]
            now = sorted({state.canonical_id(state.records[r].customer_id) for r in members})
            if tid not in now:
                founder = min(members, key=state.age)
                old = state.canonical_id(state.records[founder].customer_id)
                self._move(changes, effects, old, tid, state.customers[old].records)
                now = [tid if c == old else c for c in now]
            absorbed = tuple(c for c in now if c != tid)
            if absorbed:
                edge = _crossing(outcome.joined, members, absorbed, state)
                link = {"record_id": edge.a, "other_record_id": edge.b} if edge else {}
                evidence = (
                    tuple(_edge_evidence(edge)) if edge else (LinkEvidence(rule="recluster"),)
                )
                self.emit(
                    changes, effects, "merged", tid, (), evidence, absorbed_ids=absorbed, **link
                )
        self._refusals(changes, effects, view, outcome)

    def _move(
        self, changes: ChangeBuilder, effects: Effects, source: str, target: str, records: set[str]
    ) -> None:
        """A ``split``: ``records`` leave ``source`` for ``target`` (all of them: a rename)."""
        self.emit(
            changes,
            effects,
            "split",
            target,
            (),
            (LinkEvidence(rule="recluster"),),
            record_id=min(records, key=self._state.age),
            records=tuple(sorted(records)),
            from_customer_id=source,
        )

    def _refusals(
        self, changes: ChangeBuilder, effects: Effects, view: Overlay, outcome: Outcome
    ) -> None:
        state = self._state
        for edge, reason in outcome.refused:
            a, b = (edge.b, edge.a) if view.rid == edge.b else (edge.a, edge.b)
            related = reason.rule.startswith(_RELATED) and bool(edge.keys)
            kind = "related" if related else "refused"
            extra = (edge.evidence,) if edge.evidence is not None else ()
            evidence = (reason, *extra, *map(exact_evidence, edge.keys))
            # A relationship is told from both sides, so each customer's explanation has it.
            for one, other in [(a, b), (b, a)] if related else [(a, b)]:
                change_id = _stable_id(kind, one, other, reason.rule, *edge.keys)
                if state.seen(change_id) or one not in state.records:
                    continue
                owner = state.canonical_id(state.records[one].customer_id)
                self.emit(
                    changes,
                    effects,
                    kind,
                    owner,
                    edge.keys,
                    evidence,
                    record_id=one,
                    other_record_id=other,
                    change_id=change_id,
                )
                log.info("identity link %s by %s", kind, reason.rule)
        for edge, _ in outcome.refused:
            for key in edge.keys:
                role = view.role(key)
                learned = role.rule.startswith("shared:") and role.joins != "yes"
                if learned and key not in state.shared and key in state.owner:
                    evidence = (LinkEvidence(rule="shared:different_people"),)
                    self.emit(changes, effects, "shared", state.owner[key], [key], evidence)
                    kind = key.partition(":")[0]
                    log.info("identity: a %s identifier stopped identifying on its own", kind)

    def emit(
        self,
        changes: ChangeBuilder,
        effects: Effects,
        kind: str,
        customer_id: str,
        identifiers: Iterable[str],
        evidence: tuple[LinkEvidence, ...],
        **extra: Any,
    ) -> None:
        """Build a change, apply it at once and add it to ``effects``."""
        change = changes.add(kind, customer_id, tuple(identifiers), evidence, **extra)
        self._apply(change, effects)

    def _strong_keys(
        self, signal: Signal
    ) -> tuple[list[str], dict[str, str], list[tuple[str, str]]]:
        """The signal's strong keys (sorted), their declared scopes, and what was rejected."""
        keys: set[str] = set()
        scopes: dict[str, str] = {}
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
            if reason is None:
                keys.add(normalized.key)
                if self.rules.role_mailbox(normalized.key) is not None:
                    scopes[normalized.key] = "organisation"
                elif identifier.scope is not None:
                    scopes[normalized.key] = identifier.scope
            else:
                rejected.append((normalized.type, reason))
        return sorted(keys), scopes, rejected


def _stable_id(kind: str, *parts: str) -> str:
    """Ids of refusals and relationships: the same whichever signal found them."""
    raw = "\x1f".join([kind, *parts])
    return "chg_" + hashlib.sha256(raw.encode()).hexdigest()[:24]


def _edge_evidence(edge: Edge) -> list[LinkEvidence]:
    if edge.evidence is not None:
        return [edge.evidence]
    return [exact_evidence(k) for k in edge.keys]


def _crossing(
    joined: list[Edge], members: frozenset[str], absorbed: tuple[str, ...], state: GraphState
) -> Edge | None:
    """The first accepted edge inside ``members`` between an absorbed customer and the rest."""
    gone = set(absorbed)

    def holder(r: str) -> str:
        return state.canonical_id(state.records[r].customer_id)

    for edge in joined:
        if edge.a in members and (holder(edge.a) in gone) != (holder(edge.b) in gone):
            return edge
    return None
