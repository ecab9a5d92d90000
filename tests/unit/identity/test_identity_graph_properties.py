"""Property tests: the graph is idempotent, rebuildable, order-insensitive, keeps the oldest id."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from signalfold.identity import IdentityGraph, MatchRules, customer_id_for, normalize_identifier
from signalfold.identity.fingerprint import name_keys, names_compatible
from signalfold.schemas import Identifier, IdentityChange, Signal
from signalfold.schemas.signal import Traits

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


NAMES = [("Ann", "Lee"), ("Anne", "Lee"), ("Bob", "Lee"), ("Robert", "Lee"), ("Cy", "Poe"), None]
BIRTHS = [date(1970, 1, 2), date(1970, 2, 1), date(2001, 3, 4), None]


def with_traits(signals: Sequence[Signal], data: st.DataObject) -> list[Signal]:
    """The same signals, each record showing one name and birth date (or none) throughout."""
    shown: dict[str, Traits] = {}
    out = []
    for signal in signals:
        if signal.record_id not in shown:
            name, born = data.draw(st.sampled_from(NAMES)), data.draw(st.sampled_from(BIRTHS))
            given, family = name or (None, None)
            shown[signal.record_id] = Traits(given_name=given, family_name=family, birth_date=born)
        out.append(signal.model_copy(update={"traits": shown[signal.record_id]}))
    return out


def ids_by_record(graph: IdentityGraph, signals: Sequence[Signal]) -> dict[str, str | None]:
    return {s.record_id: graph.customer_of_record(s.record_id) for s in signals}


@settings(deadline=None, max_examples=150)
@given(st.data(), specs(with_crm), st.sampled_from([PROTECTIVE, UNLIMITED]))
def test_permutations_give_the_same_clusters_and_ids(
    make_signal: SignalFactory, data: st.DataObject, items: list[Spec], rules: MatchRules
) -> None:
    """The clusters and their ids are a function of the records, not of arrival order."""
    signals = with_traits(to_signals(make_signal, items), data)
    shuffled = data.draw(st.permutations(signals))
    in_order, other_order = IdentityGraph(rules), IdentityGraph(rules)
    resolve_all(in_order, signals)
    resolve_all(other_order, shuffled)
    assert partition(in_order, signals) == partition(other_order, signals)
    assert ids_by_record(in_order, signals) == ids_by_record(other_order, signals)


@settings(deadline=None)
@given(st.data(), specs(with_crm), st.sampled_from([PROTECTIVE, UNLIMITED]))
def test_every_customer_is_named_after_its_oldest_record(
    make_signal: SignalFactory, data: st.DataObject, items: list[Spec], rules: MatchRules
) -> None:
    signals = with_traits(to_signals(make_signal, items), data)
    graph = IdentityGraph(rules)
    resolve_all(graph, signals)
    first: dict[str, datetime] = {}
    for s in signals:
        first[s.record_id] = min(first.get(s.record_id, s.occurred_at), s.occurred_at)
    for members in partition(graph, signals):
        founder = min(members, key=lambda r: (first[r], r))
        assert {graph.customer_of_record(r) for r in members} == {customer_id_for(founder)}


@settings(deadline=None)
@given(st.data(), specs(with_crm))
def test_no_customer_holds_two_clearly_different_people(
    make_signal: SignalFactory, data: st.DataObject, items: list[Spec]
) -> None:
    signals = with_traits(to_signals(make_signal, items), data)
    graph = IdentityGraph(PROTECTIVE)
    resolve_all(graph, signals)
    shown = {s.record_id: s.traits for s in signals}
    for members in partition(graph, signals):
        names = {name_keys(shown[r])[0] for r in members if name_keys(shown[r])}
        for a in names:
            assert all(names_compatible(a, b) for b in names), names
