"""Property tests: the graph is idempotent, rebuildable, order-insensitive, keeps the oldest id."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from signalfold.identity import IdentityGraph, MatchRules, normalize_identifier
from signalfold.schemas import Identifier, IdentityChange, Signal

SignalFactory = Callable[..., Signal]
Spec = tuple[str, str, list[tuple[str, str]], int]

EMAILS = [
    "ann@x.com",
    " Ann@X.com",
    "bob@y.org",
    "cat@z.net",
    "dan.e@gmail.com",
    "DANE+p@googlemail.com",
]
PHONES = ["07911 123456", "+447911123456", "07400 555123", "+44 20 7946 0018", "+33 6 12 34 56 78"]
CRM_IDS = ["c1", "c2", "c3"]
SOURCES = ["marketing", "sales", "support"]
RECORD_KEYS = [f"r{n}" for n in range(6)]

PROTECTIVE = MatchRules(limits={"crm_contact_id": 1, "email": 2, "phone": 2})
UNLIMITED = MatchRules(limits={}, default_limit=None)

identifier = st.one_of(
    st.tuples(st.just("email"), st.sampled_from(EMAILS)),
    st.tuples(st.just("phone"), st.sampled_from(PHONES)),
)
with_crm = st.one_of(identifier, st.tuples(st.just("crm_contact_id"), st.sampled_from(CRM_IDS)))


def specs(ids: st.SearchStrategy[tuple[str, str]]) -> st.SearchStrategy[list[Spec]]:
    spec = st.tuples(
        st.sampled_from(SOURCES),
        st.sampled_from(RECORD_KEYS),
        st.lists(ids, max_size=3),
        st.integers(0, 20),
    )
    return st.lists(spec, max_size=14)


def to_signals(make_signal: SignalFactory, items: Sequence[Spec]) -> list[Signal]:
    """One signal per spec; the event id is its position, so signal ids are unique."""
    return [
        make_signal(source, key, ids, day=day, event=str(n))
        for n, (source, key, ids, day) in enumerate(items)
    ]


def all_keys() -> list[str]:
    pool = [("email", v) for v in EMAILS] + [("phone", v) for v in PHONES]
    pool += [("crm_contact_id", v) for v in CRM_IDS]
    return sorted(
        {normalize_identifier(Identifier(type=t, value=v), region="GB").key for t, v in pool}
    )


def snapshot(graph: IdentityGraph, signals: Sequence[Signal], log: Sequence[IdentityChange]) -> Any:
    """Every answer the graph gives about these signals and changes."""
    customers = sorted({c.customer_id for c in log} | {a for c in log for a in c.absorbed_ids})
    return (
        {k: graph.lookup(k) for k in all_keys() + [f"customer:{c}" for c in customers]},
        {s.record_id: graph.customer_of_record(s.record_id) for s in signals},
        {
            c: (graph.canonical_id(c), graph.records_of(c), [x.change_id for x in graph.explain(c)])
            for c in customers
        },
    )


def partition(graph: IdentityGraph, signals: Sequence[Signal]) -> set[frozenset[str]]:
    """Records grouped by the customer they belong to now."""
    return {
        frozenset(graph.records_of(graph.customer_of_record(s.record_id) or "")) for s in signals
    }


def resolve_all(graph: IdentityGraph, signals: Sequence[Signal]) -> list[IdentityChange]:
    return [change for signal in signals for change in graph.resolve(signal).changes]


@settings(deadline=None)
@given(specs(with_crm))
def test_resolving_the_same_signals_again_changes_nothing(
    make_signal: SignalFactory, fixed_clock: Callable[[], datetime], items: list[Spec]
) -> None:
    signals = to_signals(make_signal, items)
    graph = IdentityGraph(PROTECTIVE, clock=fixed_clock)
    log = resolve_all(graph, signals)
    before = snapshot(graph, signals, log)
    again = [graph.resolve(s) for s in signals]
    assert [r.changes for r in again if r.changes] == []
    assert [r.index for r in again if r.index] == []
    assert snapshot(graph, signals, log) == before


@settings(deadline=None)
@given(specs(with_crm))
def test_applying_the_log_rebuilds_the_same_graph(
    make_signal: SignalFactory, fixed_clock: Callable[[], datetime], items: list[Spec]
) -> None:
    signals = to_signals(make_signal, items)
    graph = IdentityGraph(PROTECTIVE, clock=fixed_clock)
    log = resolve_all(graph, signals)
    fresh = IdentityGraph(PROTECTIVE)
    for change in log:
        fresh.apply(change)
    assert snapshot(fresh, signals, log) == snapshot(graph, signals, log)
    assert partition(fresh, signals) == partition(graph, signals)


def _components(signals: Sequence[Signal]) -> set[frozenset[str]]:
    """Reference answer: records connected through shared normalised identifiers."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for signal in signals:
        for ident in signal.identifiers:
            key = normalize_identifier(ident, region="GB").key
            parent[find(key)] = find(signal.record_id)
    groups: dict[str, set[str]] = {}
    for signal in signals:
        groups.setdefault(find(signal.record_id), set()).add(signal.record_id)
    return {frozenset(g) for g in groups.values()}


@settings(deadline=None)
@given(st.data(), specs(identifier))
def test_partition_does_not_depend_on_resolution_order(
    make_signal: SignalFactory, data: st.DataObject, items: list[Spec]
) -> None:
    signals = to_signals(make_signal, items)
    shuffled = data.draw(st.permutations(signals))
    in_order, other_order = IdentityGraph(UNLIMITED), IdentityGraph(UNLIMITED)
    resolve_all(in_order, signals)
    resolve_all(other_order, shuffled)
    assert partition(in_order, signals) == partition(other_order, signals) == _components(signals)


@settings(deadline=None)
@given(specs(with_crm), st.sampled_from([PROTECTIVE, UNLIMITED]))
def test_a_merge_keeps_the_oldest_customer_id(
    make_signal: SignalFactory, items: list[Spec], rules: MatchRules
) -> None:
    graph = IdentityGraph(rules)
    log = resolve_all(graph, to_signals(make_signal, items))
    age = {c.customer_id: (c.birth, c.record_id) for c in log if c.kind == "created"}
    for change in log:
        if change.kind == "merged":
            survivor = graph.canonical_id(change.customer_id)
            assert all(age[change.customer_id] < age[a] for a in change.absorbed_ids)
            assert all(graph.canonical_id(a) == survivor for a in change.absorbed_ids)
