"""Property tests for operator commands: pins hold in any order, splits undo, logs rebuild."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from signalfold.identity import IdentityGraph, MatchRules
from signalfold.schemas import IdentityChange, IdentityCommand, Signal

SignalFactory = Callable[..., Signal]
AT = datetime(2024, 6, 1, tzinfo=UTC)
RECORDS = [f"r{n}" for n in range(5)]
EMAILS = ["a@x.com", "b@x.com", "c@x.com"]
RULES = MatchRules(limits={}, default_limit=None)

signal_op = st.tuples(
    st.just("signal"), st.sampled_from(RECORDS), st.lists(st.sampled_from(EMAILS), max_size=2)
)
pin_op = st.tuples(
    st.sampled_from(["never", "always"]),
    st.sampled_from(RECORDS),
    st.sampled_from(RECORDS),
)
split_op = st.tuples(st.just("split"), st.sampled_from(RECORDS), st.sampled_from(RECORDS))
ops = st.lists(st.one_of(signal_op, signal_op, pin_op, split_op), max_size=25)


def run(
    make_signal: SignalFactory, items: list[tuple]
) -> tuple[IdentityGraph, list[IdentityChange], list[tuple[str, str, str]]]:
    """Apply ``items``; return the graph, its log, and the pins it accepted."""
    graph = IdentityGraph(RULES, clock=lambda: AT)
    log: list[IdentityChange] = []
    pins: list[tuple[str, str, str]] = []
    for n, item in enumerate(items):
        kind = item[0]
        if kind == "signal":
            _, record, emails = item
            ids = [("email", e) for e in emails]
            log += graph.resolve(make_signal("s", record, ids, day=n, event=str(n))).changes
            continue
        _, a, b = item
        if kind == "split":
            customer = graph.customer_of_record(a)
            command = IdentityCommand(
                command_id=f"cmd_{n}",
                kind="split",
                customer_id=customer or "cus_none",
                records=(f"s:{a}", f"s:{b}") if a != b else (f"s:{a}",),
                requested_at=AT,
            )
        else:
            command = IdentityCommand(
                command_id=f"cmd_{n}", kind="pin", records=(f"s:{a}", f"s:{b}"), pin=kind,
                requested_at=AT,
            )  # fmt: skip
        out = graph.command(command)
        log += out.changes
        if kind != "split" and out.refused is None:
            pins.append((kind, f"s:{a}", f"s:{b}"))
    return graph, log, pins


def partition(graph: IdentityGraph) -> dict[str, str | None]:
    return {f"s:{r}": graph.customer_of_record(f"s:{r}") for r in RECORDS}


@settings(deadline=None, max_examples=150)
@given(ops)
def test_accepted_pins_hold_whatever_the_order(make_signal: SignalFactory, items: list) -> None:
    graph, _, pins = run(make_signal, items)
    for kind, a, b in pins:
        same = graph.customer_of_record(a) == graph.customer_of_record(b)
        assert same if kind == "always" else not same, (kind, a, b)


@settings(deadline=None, max_examples=150)
@given(ops)
def test_the_log_rebuilds_the_same_graph_after_commands(
    make_signal: SignalFactory, items: list
) -> None:
    graph, log, _ = run(make_signal, items)
    fresh = IdentityGraph(RULES)
    for change in log:
        fresh.apply(change)
    assert partition(fresh) == partition(graph)
    for r in RECORDS:
        for q in RECORDS:
            assert (fresh.why(f"s:{r}", f"s:{q}") is None) == (
                graph.why(f"s:{r}", f"s:{q}") is None
            )


@settings(deadline=None, max_examples=100)
@given(st.lists(signal_op, min_size=1, max_size=12), st.sets(st.sampled_from(RECORDS), min_size=1))
def test_split_then_always_pin_restores_the_customers_and_their_ids(
    make_signal: SignalFactory, items: list, chosen: set[str]
) -> None:
    graph, _, _ = run(make_signal, items)
    before = partition(graph)
    for customer in sorted({c for c in before.values() if c}):
        records = graph.records_of(customer)
        moved = sorted(r for r in records if r.removeprefix("s:") in chosen)
        if not moved or len(moved) == len(records):
            continue
        split = IdentityCommand(
            command_id=f"cmd_split_{customer}", kind="split", customer_id=customer,
            records=tuple(moved), requested_at=AT,
        )  # fmt: skip
        out = graph.command(split)
        assert out.refused is None
        rest = sorted(set(records) - set(moved))
        sides = {graph.customer_of_record(r) for r in records}
        assert customer in sides  # the founder's part keeps the id
        assert all(graph.customer_of_record(m) != graph.customer_of_record(r)
                   for m in moved for r in rest)  # fmt: skip
        back = IdentityCommand(
            command_id=f"cmd_back_{customer}", kind="pin", pin="always",
            records=(moved[0], rest[0]), requested_at=AT,
        )  # fmt: skip
        assert graph.command(back).refused is None
    assert partition(graph) == before
