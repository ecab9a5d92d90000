"""Cluster-quality metrics for identity benchmarks: pure functions over record labels.

A clustering is a mapping ``record id → label`` (the customer id the API gave,
or the truth person id); two records are one entity when their labels are
equal. Every function takes the predicted and the true mapping over the same
records (records missing from the prediction count as singletons, so an
unanswered record can only lower recall).

>>> truth = {"a": 1, "b": 1, "c": 2}
>>> pairwise({"a": "x", "b": "x", "c": "y"}, truth).f1
1.0
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from itertools import combinations

__all__ = [
    "CAUSES",
    "PRF",
    "b_cubed",
    "exact_clusters",
    "false_merges",
    "linkable",
    "pairwise",
    "same_partition",
]

#: Causes a false merge is attributed to, in order of precedence; ``other`` when none fits.
CAUSES: tuple[str, ...] = ("household", "role_mailbox", "same_name", "placeholder", "other")


@dataclass(frozen=True)
class PRF:
    """Precision, recall and their harmonic mean (1.0 where nothing was to be found)."""

    precision: float
    recall: float

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
        }


def _groups(labels: Mapping[str, Hashable], records: list[str]) -> dict[Hashable, list[str]]:
    out: dict[Hashable, list[str]] = defaultdict(list)
    for r in records:
        # An unanswered record is its own singleton (a label no other record has).
        out[labels.get(r, ("unanswered", r))].append(r)
    return out


def _pair_count(n: int) -> int:
    return n * (n - 1) // 2


def pairwise(predicted: Mapping[str, Hashable], truth: Mapping[str, Hashable]) -> PRF:
    """Precision/recall over record pairs: a pair is found when both sides put it together."""
    records = list(truth)
    joint = Counter((predicted.get(r, ("unanswered", r)), truth[r]) for r in records)
    found = sum(_pair_count(len(g)) for g in _groups(predicted, records).values())
    true = sum(_pair_count(len(g)) for g in _groups(truth, records).values())
    both = sum(_pair_count(n) for n in joint.values())
    return PRF(both / found if found else 1.0, both / true if true else 1.0)


def exact_clusters(predicted: Mapping[str, Hashable], truth: Mapping[str, Hashable]) -> PRF:
    """Share of predicted clusters equal to a true one (precision) and of true ones found."""
    records = list(truth)
    pred = {frozenset(g) for g in _groups(predicted, records).values()}
    true = {frozenset(g) for g in _groups(truth, records).values()}
    same = len(pred & true)
    return PRF(same / len(pred) if pred else 1.0, same / len(true) if true else 1.0)


def b_cubed(predicted: Mapping[str, Hashable], truth: Mapping[str, Hashable]) -> PRF:
    """B-cubed: per record, the overlap of its predicted and true clusters, averaged."""
    records = list(truth)
    if not records:
        return PRF(1.0, 1.0)
    pred_size = Counter(predicted.get(r, ("unanswered", r)) for r in records)
    true_size = Counter(truth[r] for r in records)
    joint = Counter((predicted.get(r, ("unanswered", r)), truth[r]) for r in records)
    p = r = 0.0
    for (pl, tl), n in joint.items():
        # each of the n records of this cell sees n records in both of its clusters
        p += n * n / pred_size[pl]
        r += n * n / true_size[tl]
    return PRF(p / len(records), r / len(records))


def _cause(a: frozenset[str], b: frozenset[str]) -> str:
    """The first cause in ``CAUSES`` whose group (``cause:group`` tags) both people share."""
    shared = {tag.split(":", 1)[0] for tag in a & b}
    return next((c for c in CAUSES if c in shared), "other")


def false_merges(
    predicted: Mapping[str, Hashable],
    truth: Mapping[str, Hashable],
    tags: Mapping[Hashable, frozenset[str]] | None = None,
) -> dict[str, int]:
    """Falsely merged pairs of true people, by cause, plus ``clusters`` affected.

    A false merge is a predicted cluster holding records of two true people;
    each such pair of people counts once, attributed by the tags both carry
    (``household:h12`` on both → ``household``; see ``CAUSES``). ``tags`` maps a
    true person to its ``cause:group`` tags; people without tags share none.
    """
    tags = tags or {}
    people: dict[Hashable, set[Hashable]] = defaultdict(set)
    for r, person in truth.items():
        if r in predicted:
            people[predicted[r]].add(person)
    counts = dict.fromkeys(CAUSES, 0)
    clusters = 0
    for members in people.values():
        if len(members) < 2:
            continue
        clusters += 1
        for a, b in combinations(sorted(members, key=repr), 2):
            counts[_cause(tags.get(a, frozenset()), tags.get(b, frozenset()))] += 1
    return {**counts, "total": sum(counts.values()), "clusters": clusters}


def same_partition(a: Mapping[str, Hashable], b: Mapping[str, Hashable]) -> bool:
    """Whether two labelings group the same records together (labels themselves may differ)."""
    if a.keys() != b.keys():
        return False
    forward: dict[Hashable, Hashable] = {}
    backward: dict[Hashable, Hashable] = {}
    for r, la in a.items():
        lb = b[r]
        if forward.setdefault(la, lb) != lb or backward.setdefault(lb, la) != la:
            return False
    return True


def linkable(
    truth: Mapping[str, Hashable], values: Mapping[str, frozenset[str]]
) -> dict[str, tuple[Hashable, str]]:
    """The truth as far as identifiers can tell: each person split into the groups of
    records connected by identifier values they share (label: person, first record).

    Two records of one person that share no value, directly or through another of
    their records, can be joined only by traits (or not at all: an email-only
    newsletter record and a phone-only helpdesk record); scoring against this
    labelling separates what a resolver missed from what no resolver could know.

    >>> linkable({"a": 1, "b": 1, "c": 1}, {"a": frozenset({"x"}), "b": frozenset({"x"}),
    ...                                     "c": frozenset({"y"})})
    {'a': (1, 'a'), 'b': (1, 'a'), 'c': (1, 'c')}
    """
    parent = {r: r for r in truth}

    def find(r: str) -> str:
        while parent[r] != r:
            parent[r] = parent[parent[r]]
            r = parent[r]
        return r

    first: dict[tuple[Hashable, str], str] = {}
    for record in sorted(truth):
        for value in sorted(values.get(record, ())):
            other = first.setdefault((truth[record], value), record)
            a, b = find(record), find(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return {r: (truth[r], find(r)) for r in sorted(truth)}
