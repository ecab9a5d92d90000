"""Identity graph scenarios: creation, links, merges, protection, rebuild, the matcher seam."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import pytest

from signalfold.identity import (
    GraphView,
    IdentityError,
    IdentityGraph,
    Match,
    MatchRules,
    customer_id_for,
)
from signalfold.schemas import IdentityChange, LinkEvidence, Signal

SignalFactory = Callable[..., Signal]

JANE_EMAIL = ("email", "Jane.Doe@Example.com")
JANE_PHONE = ("phone", "07911 123456")


@pytest.fixture
def graph(fixed_clock: Callable[[], datetime]) -> IdentityGraph:
    return IdentityGraph(clock=fixed_clock)


def test_one_person_across_three_departments_becomes_one_customer(
    graph: IdentityGraph, make_signal: SignalFactory
) -> None:
    marketing = graph.resolve(make_signal("marketing", "sub-1", [JANE_EMAIL], day=1))
    support = graph.resolve(make_signal("support", "u-9", [JANE_PHONE], day=2))
    sales = graph.resolve(
        make_signal(
            "sales",
            "c-7",
            [("email", " jane.doe@example.COM"), ("phone", "+44 7911 123456")],
            day=3,
        )
    )
    older, newer = customer_id_for("marketing:sub-1"), customer_id_for("support:u-9")
    assert [c.kind for c in marketing.changes] == ["created"]
    assert marketing.customer_id == older and support.customer_id == newer
    assert sales.customer_id == older
    assert sales.merges == [(newer, older)]
    assert [c.kind for c in sales.changes] == ["linked", "merged"]
    merged = sales.changes[1]
    assert merged.absorbed_ids == (newer,)
    assert merged.evidence == (
        LinkEvidence(rule="exact:phone", identifier_type="phone", identifier_value="+447911123456"),
    )
    index = {e.key: e.customer_id for e in sales.index}
    assert index == {"phone:+447911123456": older, f"customer:{newer}": older}
    assert graph.lookup(f"customer:{newer}") == older
    assert graph.canonical_id(newer) == older
    assert graph.records_of(newer) == ["marketing:sub-1", "sales:c-7", "support:u-9"]
    assert {graph.customer_of_record(r) for r in graph.records_of(older)} == {older}
    assert [c.kind for c in graph.explain(newer)] == ["created", "created", "linked", "merged"]


def test_merge_keeps_the_older_birth_even_when_it_arrives_later(
    graph: IdentityGraph, make_signal: SignalFactory
) -> None:
    late = graph.resolve(make_signal("support", "u-1", [JANE_PHONE], day=5))
    early = graph.resolve(make_signal("marketing", "m-1", [JANE_EMAIL], day=1))
    bridge = graph.resolve(make_signal("sales", "c-1", [JANE_EMAIL, JANE_PHONE], day=9))
    assert bridge.merges == [(late.customer_id, early.customer_id)]
    assert graph.lookup("phone:+447911123456") == early.customer_id


def test_chained_aliases_repoint_to_the_latest_survivor(
    graph: IdentityGraph, make_signal: SignalFactory
) -> None:
    a = graph.resolve(make_signal("s", "a", [("email", "a@x.com")], day=3)).customer_id
    b = graph.resolve(make_signal("s", "b", [("email", "b@x.com")], day=2)).customer_id
    c = graph.resolve(make_signal("s", "c", [("email", "c@x.com")], day=1)).customer_id
    graph.resolve(make_signal("s", "ab", [("email", "a@x.com"), ("email", "b@x.com")], day=4))
    last = graph.resolve(
        make_signal("s", "bc", [("email", "b@x.com"), ("email", "c@x.com")], day=4)
    )
    assert last.merges == [(b, c)]
    index = {e.key: e.customer_id for e in last.index}
    assert index[f"customer:{a}"] == c and index[f"customer:{b}"] == c
    assert index["email:a@x.com"] == c
    assert graph.canonical_id(a) == c and graph.lookup(f"customer:{a}") == c


def test_repeated_and_known_signals_change_nothing(
    graph: IdentityGraph, make_signal: SignalFactory
) -> None:
    signal = make_signal("marketing", "m-1", [JANE_EMAIL])
    first = graph.resolve(signal)
    again = graph.resolve(signal)
    other_event = graph.resolve(make_signal("marketing", "m-1", [JANE_EMAIL], event="2"))
    assert first.changes and not again.changes and not again.index
    assert not other_event.changes and other_event.customer_id == first.customer_id


def test_known_record_adding_an_identifier_is_linked_with_the_new_key(
    graph: IdentityGraph, make_signal: SignalFactory
) -> None:
    graph.resolve(make_signal("sales", "c-1", [JANE_EMAIL]))
    more = graph.resolve(make_signal("sales", "c-1", [JANE_EMAIL, JANE_PHONE], event="2"))
    assert [(c.kind, c.identifiers) for c in more.changes] == [("linked", ("phone:+447911123456",))]
    assert more.changes[0].evidence == (LinkEvidence(rule="same_record"),)


def test_weak_identifiers_never_join(graph: IdentityGraph, make_signal: SignalFactory) -> None:
    one = graph.resolve(make_signal("marketing", "m-1", [JANE_EMAIL]))
    two = graph.resolve(make_signal("support", "u-1", [(*JANE_EMAIL, "weak")]))
    assert one.customer_id != two.customer_id
    assert graph.lookup("email:jane.doe@example.com") == one.customer_id


def test_invalid_and_blocked_identifiers_are_rejected_without_values(
    graph: IdentityGraph, make_signal: SignalFactory
) -> None:
    ids = [
        ("email", "info@acme.com"),
        ("email", "jane@@acme.com"),
        ("phone", "0000000"),
        JANE_EMAIL,
    ]
    result = graph.resolve(make_signal("support", "u-1", ids))
    assert result.rejected == [
        ("email", "expected exactly one '@', found 2"),
        ("phone", "expected a real number, found a placeholder (repeated or sequential digits)"),
        ("email", "organisation: a role mailbox or switchboard never joins people"),
    ]
    # A role mailbox is kept as an organisation value: never a join, never indexed.
    assert result.changes[0].identifiers == ("email:info@acme.com", "email:jane.doe@example.com")
    assert result.changes[0].scopes == {"email:info@acme.com": "organisation"}
    other = graph.resolve(make_signal("support", "u-2", [("email", "info@acme.com")]))
    assert other.customer_id != result.customer_id
    assert graph.lookup("email:info@acme.com") is None
    assert [(c.kind, c.evidence[0].rule) for c in other.changes[1:]] == [
        ("related", "organisation:email"),
        ("related", "organisation:email"),
    ]


def test_second_crm_contact_id_is_refused_and_records_stay_apart(
    graph: IdentityGraph, make_signal: SignalFactory
) -> None:
    first = graph.resolve(
        make_signal("sales", "c-1", [("crm_contact_id", "c-1"), JANE_EMAIL], day=1)
    )
    second_signal = make_signal("sales", "c-2", [("crm_contact_id", "c-2"), JANE_EMAIL], day=2)
    second = graph.resolve(second_signal)
    assert second.customer_id == customer_id_for("sales:c-2") != first.customer_id
    assert [c.kind for c in second.changes] == ["created", "refused"]
    refused = second.changes[1]
    assert refused.other_record_id == "sales:c-1"
    assert refused.identifiers == ("email:jane.doe@example.com",)
    assert refused.evidence[0] == LinkEvidence(
        rule="limit:crm_contact_id",
        identifier_type="crm_contact_id",
        detail={"limit": 1.0, "found": 2.0},
    )
    assert ("email", "limit:crm_contact_id") in second.rejected
    assert graph.lookup("email:jane.doe@example.com") == first.customer_id
    assert not graph.resolve(second_signal).changes  # the refusal is published once
    assert [c.kind for c in graph.explain(second.customer_id)] == ["created", "refused"]


def test_a_record_joins_only_the_customers_it_may_join(make_signal: SignalFactory) -> None:
    graph = IdentityGraph(MatchRules(limits={"support_user_id": 1}))
    graph.resolve(
        make_signal("support", "u-1", [("support_user_id", "u-1"), ("email", "a@x.com")], day=1)
    )
    b = graph.resolve(
        make_signal("support", "u-2", [("support_user_id", "u-2"), ("email", "b@x.com")], day=2)
    )
    bridge = graph.resolve(
        make_signal("sales", "c-1", [("email", "a@x.com"), ("email", "b@x.com")], day=3)
    )
    assert bridge.customer_id == customer_id_for("support:u-1")
    assert [c.kind for c in bridge.changes] == ["linked", "refused"]
    assert bridge.changes[1].other_record_id == "support:u-2"
    assert graph.lookup("email:b@x.com") == b.customer_id


def test_a_merge_past_the_limit_is_refused(make_signal: SignalFactory) -> None:
    """Limits bound what a merge may create; one record's own identifiers are its evidence."""
    graph = IdentityGraph(MatchRules(limits={"email": 2}))
    first = graph.resolve(make_signal("s", "r", [("email", "a@x.com"), ("email", "b@x.com")]))
    signal = make_signal("t", "q", [("email", "b@x.com"), ("email", "c@x.com")], day=1)
    result = graph.resolve(signal)
    assert result.customer_id != first.customer_id
    assert [(c.kind, c.evidence[0].rule) for c in result.changes] == [
        ("created", "first_record"),
        ("refused", "limit:email"),
    ]
    assert result.rejected == [("email", "limit:email")]
    assert graph.lookup("email:b@x.com") == first.customer_id
    assert graph.lookup("email:c@x.com") == result.customer_id
    assert not graph.resolve(signal).changes


def test_change_ids_are_deterministic(make_signal: SignalFactory) -> None:
    signals = [
        make_signal("marketing", "m", [JANE_EMAIL], day=1),
        make_signal("support", "u", [JANE_PHONE], day=2),
        make_signal("sales", "c", [JANE_EMAIL, JANE_PHONE], day=3),
    ]

    def run() -> list[str]:
        graph = IdentityGraph()
        return [c.change_id for s in signals for c in graph.resolve(s).changes]

    ids = run()
    assert ids == run() and len(set(ids)) == len(ids) == 4


def test_rebuild_from_the_log(graph: IdentityGraph, make_signal: SignalFactory) -> None:
    log: list[IdentityChange] = []
    for signal in [
        make_signal("marketing", "m", [JANE_EMAIL], day=1),
        make_signal("support", "u", [JANE_PHONE, ("support_user_id", "u")], day=2),
        make_signal("sales", "c", [JANE_EMAIL, JANE_PHONE, ("crm_contact_id", "1")], day=3),
        make_signal("sales", "d", [JANE_EMAIL, ("crm_contact_id", "2")], day=4),
    ]:
        log.extend(graph.resolve(signal).changes)
    fresh = IdentityGraph()
    for change in log + log:  # a redelivered log is harmless
        fresh.apply(change)
    for key in ["email:jane.doe@example.com", "phone:+447911123456", "crm_contact_id:2"]:
        assert fresh.lookup(key) == graph.lookup(key) is not None
    for record in ["marketing:m", "support:u", "sales:c", "sales:d"]:
        assert fresh.customer_of_record(record) == graph.customer_of_record(record)
    customer = graph.customer_of_record("sales:c")
    assert customer is not None
    assert fresh.explain(customer) == graph.explain(customer)


def test_apply_rejects_a_log_out_of_order(graph: IdentityGraph, make_signal: SignalFactory) -> None:
    graph.resolve(make_signal("marketing", "m", [JANE_EMAIL], day=1))
    linked = graph.resolve(make_signal("sales", "c", [JANE_EMAIL, JANE_PHONE], day=2)).changes[0]
    with pytest.raises(
        IdentityError, match="expected it to follow the log, found customer unknown"
    ):
        IdentityGraph().apply(linked)
    split = linked.model_copy(update={"kind": "split", "change_id": "chg_x"})
    with pytest.raises(IdentityError, match="found split records are not a part of the customer"):
        graph.apply(split)
    future = linked.model_copy(update={"kind": "teleported", "change_id": "chg_y"})
    with pytest.raises(IdentityError, match="kind 'teleported' is not supported"):
        graph.apply(future)


class _NameMatcher:
    """Fake probabilistic matcher: proposes the customer holding CRM contact c-1."""

    def match(self, signal: Signal, graph: GraphView) -> Sequence[Match]:
        customer = graph.lookup("crm_contact_id:c-1")
        evidence = LinkEvidence(rule="splink", match_weight=12.5, detail={"name": 8.0})
        return [Match(customer, evidence)] if customer else []


def test_matcher_is_consulted_for_unsettled_new_records(make_signal: SignalFactory) -> None:
    graph = IdentityGraph(matcher=_NameMatcher())
    first = graph.resolve(make_signal("sales", "c-1", [("crm_contact_id", "c-1")]))
    proposed = graph.resolve(make_signal("support", "u-1", [("support_user_id", "u-1")]))
    assert proposed.customer_id == first.customer_id
    assert [c.kind for c in proposed.changes] == ["matched", "linked"]
    assert proposed.changes[1].evidence[0].match_weight == 12.5
    assert proposed.changes[1].other_record_id == "sales:c-1"
