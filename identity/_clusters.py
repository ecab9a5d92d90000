"""Clusters as a function of the records: the same evidence gives the same customers.

``cluster`` takes the records of one connected component (every record its
candidate edges reach) and returns its partition into people, whatever order
the records arrived in. Candidate edges, strongest first:

0. an operator's ``always`` pin;
1. a strong identifier two records share (more shared identifiers first; one
   carried by more than ``MAX_CARRIERS`` records proposes nothing);
2. a Splink link at or above the match threshold (higher weight first).

Ties are broken by the record ids, so the order is a function of the evidence.
Each edge, in that order, joins the two clusters its records are in unless a
rule keeps them apart; a refused edge is recorded with its rule:

- an operator barrier (``pin:never`` or ``split``) between them (pins too);
- for an identifier, clearly different people on the two sides
  (``fingerprint.conflict``: given names or birth dates), checked over every
  record of both clusters so no chain of joins can pair them — a
  *relationship* instead of a merge. A Splink link is not checked this way:
  the model has weighed names and birth dates with every other field (one
  disagreeing field does not veto many agreeing ones);
- an identifier that is not personal (``Key.joins``): an organisation's
  value never joins; a household's or a learned shared one joins only records
  whose names positively agree (``fingerprint.agree``);
- a per-type limit (``MatchRules.limits``).

Greedy union in a fixed order is deterministic, and no chain of shared
identifiers puts two clearly different people in one cluster, because every
identifier join checks the whole of both sides.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import combinations

from signalfold.identity._pins import PinBook
from signalfold.identity.fingerprint import agree, conflict
from signalfold.identity.rules import MatchRules
from signalfold.schemas.identity import LinkEvidence

__all__ = ["Edge", "Evidence", "KeyRole", "Outcome", "cluster", "edges_of"]

#: Identifiers carried by more records than this propose no candidate pairs
#: (a generic value, like an unlisted placeholder): they still count for limits.
MAX_CARRIERS = 50


@dataclass(frozen=True)
class Evidence:
    """What one record showed: its first event time, strong keys, names, birth dates."""

    first_seen: datetime
    keys: frozenset[str]
    names: frozenset[str]
    births: frozenset[date]
    employed: bool = False  # the record names an employer (see ``_overlay``)


@dataclass(frozen=True)
class KeyRole:
    """How far one identifier value may join records, and why (``rule``)."""

    joins: str  # "yes" | "agreeing" (household or learned shared) | "no" (organisation)
    rule: str  # relationship rule when it does not join: household:<type>, ...


@dataclass(frozen=True, order=True)
class Edge:
    """A candidate link between records ``a`` < ``b``; ``rank`` orders edges, strongest first."""

    rank: tuple[int, float, str, str]
    a: str
    b: str
    keys: tuple[str, ...] = ()
    evidence: LinkEvidence | None = field(default=None, compare=False)


@dataclass
class Outcome:
    """A component's partition, and every edge a rule refused (with the rule)."""

    clusters: list[frozenset[str]]
    refused: list[tuple[Edge, LinkEvidence]] = field(default_factory=list)
    joined: list[Edge] = field(default_factory=list)


def edges_of(
    records: Mapping[str, Evidence],
    carriers: Callable[[str], Set[str]],
    roles: Callable[[str], KeyRole],
    matches: Callable[[str], Mapping[str, LinkEvidence]],
    always: Callable[[str], Set[str]],
) -> list[Edge]:
    """Every candidate edge inside ``records``, strongest first."""
    shared: dict[tuple[str, str], list[str]] = {}
    for key in sorted({k for ev in records.values() for k in ev.keys}):
        inside = sorted(r for r in carriers(key) if r in records)
        if len(inside) > MAX_CARRIERS:
            continue
        for a, b in combinations(inside, 2):
            shared.setdefault((a, b), []).append(key)
    edges = [Edge((1, -len(keys), a, b), a, b, tuple(keys)) for (a, b), keys in shared.items()]
    for a in sorted(records):
        for b, evidence in matches(a).items():
            if a < b and b in records:
                weight = evidence.match_weight or 0.0
                edges.append(Edge((2, -weight, a, b), a, b, (), evidence))
        for b in always(a):
            if a < b and b in records:
                edges.append(Edge((0, 0.0, a, b), a, b, (), LinkEvidence(rule="pin:always")))
    return sorted(edges)


class _Sets:
    """Union-find over records, with each root's pooled evidence."""

    def __init__(self, records: Mapping[str, Evidence]) -> None:
        self.parent = {r: r for r in records}
        self.members = {r: {r} for r in records}
        self.names = {r: set(ev.names) for r, ev in records.items()}
        self.births = {r: set(ev.births) for r, ev in records.items()}
        self.keys = {r: set(ev.keys) for r, ev in records.items()}

    def find(self, r: str) -> str:
        while self.parent[r] != r:
            self.parent[r] = self.parent[self.parent[r]]
            r = self.parent[r]
        return r

    def union(self, x: str, y: str) -> None:
        keep, gone = min(x, y), max(x, y)
        self.parent[gone] = keep
        self.members[keep] |= self.members.pop(gone)
        self.names[keep] |= self.names.pop(gone)
        self.births[keep] |= self.births.pop(gone)
        self.keys[keep] |= self.keys.pop(gone)


def _limit(rules: MatchRules, keys: Set[str]) -> LinkEvidence | None:
    counts: dict[str, int] = {}
    for key in keys:
        kind = key.partition(":")[0]
        counts[kind] = counts.get(kind, 0) + 1
    for kind in sorted(counts):
        limit = rules.limit_for(kind)
        if limit is not None and counts[kind] > limit:
            return LinkEvidence(
                rule=f"limit:{kind}",
                identifier_type=kind,
                detail={"limit": float(limit), "found": float(counts[kind])},
            )
    return None


def cluster(
    records: Mapping[str, Evidence],
    edges: list[Edge],
    roles: Callable[[str], KeyRole],
    pins: PinBook,
    rules: MatchRules,
) -> Outcome:
    """Partition ``records`` by joining along ``edges`` in order (see the module docstring)."""
    sets = _Sets(records)
    outcome = Outcome([])
    for edge in edges:
        x, y = sets.find(edge.a), sets.find(edge.b)
        if x == y:
            continue
        reason = _why_not(sets, x, y, edge, roles, pins, rules)
        if reason is None:
            sets.union(x, y)
            outcome.joined.append(edge)
        else:
            outcome.refused.append((edge, reason))
    outcome.clusters = sorted((frozenset(m) for m in sets.members.values()), key=min)
    return outcome


def _why_not(
    sets: _Sets,
    x: str,
    y: str,
    edge: Edge,
    roles: Callable[[str], KeyRole],
    pins: PinBook,
    rules: MatchRules,
) -> LinkEvidence | None:
    barrier = pins.barrier_between(sets.members[x], sets.members[y])
    operator = edge.rank[0] == 0
    if barrier is not None and not (operator and barrier.kind == "split"):
        return LinkEvidence(rule="pin:never" if barrier.kind == "pin" else "split")
    if operator:
        return None
    names, births = (sets.names[x], sets.names[y]), (sets.births[x], sets.births[y])
    # A Splink link has weighed names and birth dates with every other field: one
    # disagreeing field does not veto many agreeing ones. An identifier has not.
    why = conflict(names, births) if edge.keys else None
    if edge.keys and not any(roles(k).joins == "yes" for k in edge.keys):
        agreeing = [k for k in edge.keys if roles(k).joins == "agreeing"]
        if not (agreeing and agree(names)):
            key = (agreeing or list(edge.keys))[0]
            kind, _, value = key.partition(":")
            return LinkEvidence(rule=roles(key).rule, identifier_type=kind, identifier_value=value)
    if why is not None:
        what = "names" if "names" in why else "birth_dates"
        kind, _, value = edge.keys[0].partition(":")
        role = roles(edge.keys[0]).rule.partition(":")[0]
        rule = f"{role}:{kind}" if role in ("household", "organisation") else f"related:{what}"
        return LinkEvidence(rule=rule, identifier_type=kind, identifier_value=value)
    return _limit(rules, sets.keys[x] | sets.keys[y])
