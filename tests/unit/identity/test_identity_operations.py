"""Operator commands (split, pins), shared-identifier detection, per-source regions, why."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest

from signalfold.identity import IdentityGraph, MatchRules, customer_id_for
from signalfold.schemas import IdentityChange, IdentityCommand, Signal
from signalfold.schemas.signal import Traits

SignalFactory = Callable[..., Signal]
AT = datetime(2024, 6, 1, tzinfo=UTC)


def cmd(command_id: str, kind: str, records: tuple[str, ...], **extra: object) -> IdentityCommand:
    return IdentityCommand(
        command_id=command_id, kind=kind, records=records, requested_at=AT, **extra
    )  # type: ignore[arg-type]


@pytest.fixture
def graph(fixed_clock: Callable[[], datetime]) -> IdentityGraph:
    return IdentityGraph(clock=fixed_clock)


def _family(graph: IdentityGraph, make_signal: SignalFactory) -> str:
    """Three records, one customer: m (email), s (email + phone), u (phone)."""
    graph.resolve(make_signal("marketing", "m", [("email", "ann@x.com")], day=1))
    graph.resolve(
        make_signal("sales", "s", [("email", "ann@x.com"), ("phone", "07911 123456")], day=2)
    )
    return graph.resolve(
        make_signal("support", "u", [("phone", "07911 123456")], day=3)
    ).customer_id


def test_split_moves_records_to_their_founders_id_and_keeps_them_apart(
    graph: IdentityGraph, make_signal: SignalFactory
) -> None:
    old = _family(graph, make_signal)
    out = graph.command(cmd("cmd_1", "split", ("support:u",), customer_id=old))
    new = customer_id_for("support:u")  # named after its oldest record, like every customer
    assert [(c.kind, c.evidence[0].rule) for c in out.changes] == [
        ("split", "operator:split"),
        ("refused", "split"),  # the phone sales:s shares with support:u no longer joins them
    ]
    split = out.changes[0]
    assert (split.customer_id, split.from_customer_id, split.records) == (
        new,
        old,
        ("support:u",),
    )
    assert out.index == []  # the phone's oldest record (sales:s) stays, so does its owner
    assert graph.records_of(new) == ["support:u"]
    assert graph.records_of(old) == ["marketing:m", "sales:s"]
    assert out.rebuild == {
        old: (("marketing:m", "sales:s"), ()),
        new: (("support:u",), ()),
    }
    # The split holds: the next signal with the shared phone does not undo it.
    again = graph.resolve(
        make_signal("support", "u", [("phone", "+447911123456")], day=3, event="2")
    )
    assert again.customer_id == new and again.changes == []
    # Delivered twice: nothing new, the same customers announced again for a rebuild.
    repeat = graph.command(cmd("cmd_1", "split", ("support:u",), customer_id=old))
    assert repeat.changes == [] and repeat.rebuild == out.rebuild


def test_split_moves_identifiers_only_the_moved_records_hold(
    graph: IdentityGraph, make_signal: SignalFactory
) -> None:
    old = _family(graph, make_signal)
    out = graph.command(cmd("cmd_2", "split", ("sales:s", "support:u"), customer_id=old))
    new = out.changes[0].customer_id
    assert new == customer_id_for("sales:s")
    assert [(e.key, e.customer_id) for e in out.index] == [("phone:+447911123456", new)]
    assert graph.lookup("phone:+447911123456") == new
    assert graph.lookup("email:ann@x.com") == old


@pytest.mark.parametrize(
    ("records", "customer", "reason"),
    [
        (("support:u",), "cus_nobody", "split:unknown_customer"),
        (("support:zz",), None, "split:not_member"),
        (("marketing:m", "sales:s", "support:u"), None, "split:everything"),
    ],
)
def test_an_impossible_split_is_refused_with_its_reason(
    graph: IdentityGraph,
    make_signal: SignalFactory,
    records: tuple[str, ...],
    customer: str | None,
    reason: str,
) -> None:
    old = _family(graph, make_signal)
    out = graph.command(cmd("cmd_3", "split", records, customer_id=customer or old))
    assert [(c.kind, c.evidence[0].rule, c.signal_id) for c in out.changes] == [
        ("refused", reason, "cmd_3")
    ]
    assert out.refused == reason and out.rebuild == {}
    assert graph.records_of(old) == ["marketing:m", "sales:s", "support:u"]


def test_never_pin_inside_one_customer_splits_and_always_pin_merges_back(
    graph: IdentityGraph, make_signal: SignalFactory
) -> None:
    old = _family(graph, make_signal)
    never = graph.command(cmd("cmd_n", "pin", ("marketing:m", "support:u"), pin="never"))
    assert [c.kind for c in never.changes] == ["pinned", "split", "refused"]
    assert graph.customer_of_record("support:u") != old
    assert graph.why("marketing:m", "support:u") is None
    split_id = graph.customer_of_record("support:u")
    # A record bridging both cannot rejoin them across the pin.
    bridge = graph.resolve(
        make_signal("web", "w", [("email", "ann@x.com"), ("phone", "07911 123456")], day=9)
    )
    assert bridge.customer_id == old
    assert graph.customer_of_record("support:u") == split_id
    conflict = graph.command(cmd("cmd_a", "pin", ("marketing:m", "support:u"), pin="always"))
    assert [(c.kind, c.evidence[0].rule) for c in conflict.changes] == [("refused", "pin:conflict")]
    # An always pin across a plain split barrier merges them back; the older id survives.
    other = _family(IdentityGraph(), make_signal)
    g2 = IdentityGraph()
    _family(g2, make_signal)
    g2.command(cmd("cmd_s", "split", ("support:u",), customer_id=other))
    merged = g2.command(cmd("cmd_m", "pin", ("support:u", "sales:s"), pin="always"))
    assert [c.kind for c in merged.changes] == ["pinned", "merged"]
    assert g2.records_of(other) == ["marketing:m", "sales:s", "support:u"]
    assert merged.merges == [(customer_id_for("support:u"), other)]
    assert g2.why("support:u", "sales:s") is not None  # the phone link holds again
    assert "pin:always" in [link.evidence.rule for link in g2.links(other)]


def test_a_split_that_separates_always_pinned_records_is_refused(
    graph: IdentityGraph, make_signal: SignalFactory
) -> None:
    old = _family(graph, make_signal)
    graph.command(cmd("cmd_p", "pin", ("sales:s", "support:u"), pin="always"))
    out = graph.command(cmd("cmd_x", "split", ("support:u",), customer_id=old))
    assert out.refused == "split:pinned_always"
    never = graph.command(cmd("cmd_y", "pin", ("marketing:m", "support:u"), pin="never"))
    assert [c.kind for c in never.changes] == ["pinned", "split", "refused"]
    assert never.changes[1].records == ("sales:s", "support:u")


def test_why_gives_the_path_of_links_with_evidence(
    graph: IdentityGraph, make_signal: SignalFactory
) -> None:
    _family(graph, make_signal)
    path = graph.why("marketing:m", "support:u")
    assert path is not None
    assert [(link.a, link.b, link.evidence.rule) for link in path] == [
        ("sales:s", "marketing:m", "exact:email"),
        ("support:u", "sales:s", "exact:phone"),
    ]


def _person(name: tuple[str, str], born: date) -> Traits:
    return Traits(given_name=name[0], family_name=name[1], birth_date=born)


def test_an_identifier_joining_people_who_disagree_stops_identifying(
    graph: IdentityGraph, make_signal: SignalFactory
) -> None:
    family = ("email", "family@x.com")
    ann = make_signal("crm", "ann", [family], day=1)
    ann = ann.model_copy(update={"traits": _person(("Ann", "Lee"), date(1970, 1, 2))})
    bob = make_signal("crm", "bob", [family], day=2)
    bob = bob.model_copy(update={"traits": _person(("Bob", "Chan"), date(2001, 3, 4))})
    first = graph.resolve(ann).customer_id
    second = graph.resolve(bob)
    assert second.customer_id != first
    kinds = [(c.kind, c.record_id, c.other_record_id, c.evidence[0].rule) for c in second.changes]
    assert kinds == [
        ("created", "crm:bob", None, "first_record"),
        ("related", "crm:bob", "crm:ann", "shared:email"),  # told from both sides
        ("related", "crm:ann", "crm:bob", "shared:email"),
        ("shared", "crm:bob", None, "shared:different_people"),
    ]
    assert graph.is_shared("email:family@x.com")
    # Same person, nickname and all: agrees, joins.
    rob = make_signal("shop", "rob", [("phone", "07911 123456")], day=3)
    graph.resolve(rob.model_copy(update={"traits": _person(("Robert", "Chan"), date(2001, 3, 4))}))
    bob2 = make_signal("crm", "bob", [("phone", "07911 123456")], event="2")
    assert graph.resolve(bob2).merges
    # A record showing no name cannot join through the shared address, and says why.
    third = graph.resolve(make_signal("web", "x", [family], day=4))
    assert ("email", "shared: identifier used by several people") in third.rejected
    assert third.customer_id == customer_id_for("web:x")
    assert {c.kind for c in third.changes} == {"created", "related"}
    # One who shows a name that agrees with one of them joins that one.
    ann2 = make_signal("web", "ann2", [family], day=5)
    ann2 = ann2.model_copy(update={"traits": _person(("Anne", "Lee"), date(1970, 2, 1))})
    assert graph.resolve(ann2).customer_id == first


def test_an_identifier_carried_by_too_many_distinct_people_stops_identifying(
    make_signal: SignalFactory,
) -> None:
    graph = IdentityGraph(MatchRules(limits={"crm_contact_id": 1}, max_people=2))
    desk = ("phone", "020 7946 0018")
    kinds: list[list[str]] = []
    shared: list[bool] = []
    for n in range(4):
        s = make_signal("crm", f"c{n}", [("crm_contact_id", f"id{n}"), desk], day=n)
        kinds.append([c.kind for c in graph.resolve(s).changes])
        shared.append(graph.is_shared("phone:+442079460018"))
    assert kinds[:2] == [["created"], ["created", "refused"]]  # two CRM ids: two people
    assert shared == [False, False, True, True]
    assert kinds[2][0] == "created" and "shared" in kinds[2]  # a third: a switchboard
    assert set(kinds[3]) == {"created", "related"}
    assert len({graph.customer_of_record(f"crm:c{n}") for n in range(4)}) == 4


def test_phones_read_in_the_region_of_their_source(make_signal: SignalFactory) -> None:
    graph = IdentityGraph(default_region="GB", regions={"us_shop": "US"})
    us = graph.resolve(make_signal("us_shop", "1", [("phone", "(201) 555-0123")]))
    assert us.changes[0].identifiers == ("phone:+12015550123",)
    uk = graph.resolve(make_signal("crm", "1", [("phone", "020 7946 0958")]))
    assert uk.changes[0].identifiers == ("phone:+442079460958",)


def test_a_rebuilt_graph_answers_the_same_after_commands(
    graph: IdentityGraph, make_signal: SignalFactory
) -> None:
    old = _family(graph, make_signal)
    log: list[IdentityChange] = [c for cid in [old] for c in graph.explain(cid)]
    log += graph.command(cmd("cmd_1", "split", ("support:u",), customer_id=old)).changes
    log += graph.command(cmd("cmd_2", "pin", ("marketing:m", "sales:s"), pin="never")).changes
    fresh = IdentityGraph()
    for change in {c.change_id: c for c in log}.values():
        fresh.apply(change)
    for record in ("marketing:m", "sales:s", "support:u"):
        assert fresh.customer_of_record(record) == graph.customer_of_record(record)
    assert fresh.why("marketing:m", "sales:s") is None
