"""Different people are never merged: households, colleagues, namesakes; relationships instead."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from signalfold.bootstrap import identity_rules
from signalfold.identity import IdentityGraph
from signalfold.identity.explain import from_changes, from_graph
from signalfold.schemas import Identifier, IdentityChange, Signal
from signalfold.schemas.signal import Scope, Traits
from signalfold.settings import Settings

SignalFactory = Callable[..., Signal]
LANDLINE = ("phone", "020 7946 0321")


def person(
    make_signal: SignalFactory,
    record: str,
    ids: list[tuple[str, str]],
    name: tuple[str, str | None],
    *,
    born: date | None = None,
    day: int = 0,
    source: str = "crm",
    scope: Scope | None = None,
    company: str | None = None,
) -> Signal:
    signal = make_signal(source, record, ids, day=day)
    traits = Traits(given_name=name[0], family_name=name[1], birth_date=born, company=company)
    identifiers = tuple(
        Identifier(type=i.type, value=i.value, scope=scope) for i in signal.identifiers
    )
    return signal.model_copy(update={"traits": traits, "identifiers": identifiers})


def resolve(graph: IdentityGraph, signals: list[Signal]) -> list[IdentityChange]:
    return [c for s in signals for c in graph.resolve(s).changes]


def test_a_family_sharing_a_landline_is_two_customers_and_a_household(
    make_signal: SignalFactory, fixed_clock: Callable[[], datetime]
) -> None:
    graph = IdentityGraph(clock=fixed_clock)
    john = person(make_signal, "1", [LANDLINE, ("email", "john@x.com")], ("John", "Smith"))
    mary = person(make_signal, "2", [LANDLINE, ("email", "mary@y.com")], ("Mary", "Smith"), day=1)
    log = resolve(graph, [john, mary])
    assert graph.customer_of_record("crm:1") != graph.customer_of_record("crm:2")
    explained = from_graph(graph, graph.customer_of_record("crm:1") or "")
    assert [(r.kind, r.other_record_id, r.evidence.rule) for r in explained.relationships] == [
        ("shared_identifier", "crm:2", "shared:phone")
    ]
    assert explained.relationships[0].customer_id == graph.customer_of_record("crm:2")
    apart = graph.kept_apart("crm:2", "crm:1")  # what `signalfold identity why` prints
    assert {(c.kind, c.evidence[0].rule) for c in apart} == {("related", "shared:phone")}
    stored = from_changes(explained.customer_id, explained.customer_ids, log)
    assert [r.other_record_id for r in stored.relationships] == ["crm:2"]
    # The helpdesk knows only a first name and the landline: it goes to the one it names.
    desk = person(make_signal, "h1", [LANDLINE], ("Mary", None), day=2, source="helpdesk")
    assert graph.resolve(desk).customer_id == graph.customer_of_record("crm:2")
    # A caller who gives no name is nobody's in particular.
    anon = make_signal("helpdesk", "h2", [LANDLINE], day=3)
    assert graph.resolve(anon).customer_id not in {
        graph.customer_of_record("crm:1"),
        graph.customer_of_record("crm:2"),
    }


def test_a_declared_household_value_joins_only_agreeing_names(
    make_signal: SignalFactory,
) -> None:
    graph = IdentityGraph()
    home = "household"
    a = person(make_signal, "1", [LANDLINE], ("Paul", "Jones"), scope=home)
    b = person(make_signal, "2", [LANDLINE], ("Paul", "Jones"), day=1, scope=home, source="shop")
    c = person(make_signal, "3", [LANDLINE], ("Sarah", "Jones"), day=2, scope=home)
    d = make_signal("web", "4", [LANDLINE], day=3)
    resolve(graph, [a, b, c, d])
    assert graph.customer_of_record("crm:1") == graph.customer_of_record("shop:2")
    assert graph.customer_of_record("crm:3") != graph.customer_of_record("crm:1")
    assert graph.customer_of_record("web:4") not in {
        graph.customer_of_record("crm:1"),
        graph.customer_of_record("crm:3"),
    }
    kinds = {
        r.kind for r in from_graph(graph, graph.customer_of_record("crm:3") or "").relationships
    }
    assert kinds == {"household"}


def test_colleagues_on_an_unlisted_role_mailbox_are_related_not_merged(
    make_signal: SignalFactory,
) -> None:
    graph = IdentityGraph()
    box = ("email", "ops-london@acme.example")
    ann = person(make_signal, "a", [box, ("phone", "07700 900111")], ("Ann", "Okafor"))
    raj = person(make_signal, "r", [box, ("phone", "07700 900222")], ("Raj", "Patel"), day=1)
    resolve(graph, [ann, raj])
    assert graph.customer_of_record("crm:a") != graph.customer_of_record("crm:r")
    assert graph.is_shared("email:ops-london@acme.example")
    # A role mailbox the shipped rules file lists is an organisation value from the start.
    graph = IdentityGraph(identity_rules(Settings()))
    info = ("email", "accounts@acme.example")
    one = person(make_signal, "x", [info], ("Lee", "Chan"), day=2)
    two = person(make_signal, "y", [info], ("Lee", "Chan"), day=3)
    resolve(graph, [one, two])
    assert graph.customer_of_record("crm:x") != graph.customer_of_record("crm:y")
    assert graph.lookup("email:accounts@acme.example") is None
    related = from_graph(graph, graph.customer_of_record("crm:x") or "").relationships
    assert [(r.kind, r.evidence.rule) for r in related] == [("organisation", "organisation:email")]


def test_one_person_with_nicknames_typos_and_initials_still_joins(
    make_signal: SignalFactory,
) -> None:
    graph = IdentityGraph()
    email = ("email", "r.smith@example.com")
    signals = [
        person(make_signal, "1", [email, LANDLINE], ("Robert", "Smith"), born=date(1980, 5, 17)),
        person(make_signal, "2", [email], ("Bob", "Smith"), day=1, source="shop"),
        person(make_signal, "3", [LANDLINE], ("Robrt", "Smith"), day=2, source="desk"),
        person(
            make_signal, "4", [email], ("R", "Smith"), born=date(1980, 5, 12), day=3, source="web"
        ),
    ]
    resolve(graph, signals)
    assert len({graph.customer_of_record(s.record_id) for s in signals}) == 1


def test_namesakes_with_different_birth_dates_sharing_an_email_stay_apart(
    make_signal: SignalFactory,
) -> None:
    graph = IdentityGraph()
    email = ("email", "smiths@example.com")
    senior = person(make_signal, "1", [email], ("John", "Smith"), born=date(1950, 3, 1))
    junior = person(make_signal, "2", [email], ("John", "Smith"), born=date(1984, 9, 12), day=1)
    resolve(graph, [senior, junior])
    assert graph.customer_of_record("crm:1") != graph.customer_of_record("crm:2")


def test_a_possible_match_settled_by_a_later_link_is_no_longer_shown(
    make_signal: SignalFactory, fixed_clock: Callable[[], datetime]
) -> None:
    graph = IdentityGraph(clock=fixed_clock)
    log = resolve(graph, [make_signal("crm", "1", [("email", "a@x.com")])])
    log += resolve(graph, [make_signal("shop", "2", [("phone", "07911 123456")], day=1)])
    review = IdentityChange(
        change_id="chg_review", kind="possible_match", customer_id=log[-1].customer_id,
        record_id="shop:2", other_record_id="crm:1", signal_id="sig", at=fixed_clock(),
    )  # fmt: skip
    cid = graph.customer_of_record("crm:1") or ""
    assert "possible_match" in [c.kind for c in from_changes(cid, [cid], [*log, review]).changes]
    log += resolve(
        graph, [make_signal("web", "3", [("email", "a@x.com"), ("phone", "07911 123456")], day=2)]
    )
    cid = graph.customer_of_record("crm:1") or ""
    ids = [cid, *graph.aliases_of(cid)]
    assert "possible_match" not in [c.kind for c in from_changes(cid, ids, [*log, review]).changes]


def test_a_mailbox_that_shows_no_holder_s_name_joins_only_agreeing_names(
    make_signal: SignalFactory,
) -> None:
    """Ann's CRM record (she works at Acme) carries studio@ (no list names it); a nameless
    newsletter subscription of it may be the studio's, so it is related, not merged."""
    graph = IdentityGraph(identity_rules(Settings()))
    box = ("email", "studio@acme.example")
    ids = [box, ("phone", "07700 900111")]
    ann = person(make_signal, "a", ids, ("Ann", "Okafor"), company="Acme Ltd")
    subscription = make_signal("newsletter", "s", [box], day=1)
    again = person(make_signal, "a2", [box], ("Anne", "Okafor"), day=2, source="shop")
    resolve(graph, [ann, subscription, again])
    assert graph.customer_of_record("newsletter:s") != graph.customer_of_record("crm:a")
    assert graph.customer_of_record("shop:a2") == graph.customer_of_record("crm:a")
    related = from_graph(graph, graph.customer_of_record("crm:a") or "").relationships
    assert {(r.kind, r.other_record_id, r.evidence.rule) for r in related} == {
        ("organisation", "newsletter:s", "organisation:email")
    }


def test_mailboxes_that_show_the_name_or_sit_at_a_mail_provider_join_nameless_records(
    make_signal: SignalFactory,
) -> None:
    graph = IdentityGraph(identity_rules(Settings()))
    pairs = [
        (("email", "a.okafor@acme.example"), ("Ann", "Okafor")),  # the name, at work
        (("email", "bob@acme.example"), ("Robert", "Lee")),  # a nickname
        (("email", "sunnyday77@gmail.com"), ("Raj", "Patel")),  # chosen, at a provider
        (("email", "sunnyday78@yahoo.co.uk"), ("Mei", "Chan")),
        (("email", "person0@example.net"), ("Jane", "Doe")),  # names no employer: her own
    ]
    for n, (box, name) in enumerate(pairs):
        company = None if box[1].startswith("person0") else "Acme Ltd"
        named = person(make_signal, f"c{n}", [box], name, day=n, company=company)
        nameless = make_signal("newsletter", f"s{n}", [box], day=n + 10)
        resolve(graph, [named, nameless])
        assert graph.customer_of_record(f"newsletter:s{n}") == graph.customer_of_record(
            f"crm:c{n}"
        ), box
