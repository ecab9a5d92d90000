"""Splink and merge protection weighed together, in the graph."""

from __future__ import annotations

from datetime import date

from conftest import build_signal

from signalfold.identity import IdentityGraph
from signalfold.identity.matcher import IncrementalLinker, SplinkMatcher
from signalfold.schemas.signal import Traits


def _graph() -> tuple[IdentityGraph, SplinkMatcher]:
    matcher = SplinkMatcher(IncrementalLinker(match_probability=0.99))
    return IdentityGraph(matcher=matcher), matcher


def _signal(record: str, email: str, traits: Traits, day: int = 0):  # type: ignore[no-untyped-def]
    source, key = record.split(":")
    return build_signal(source, key, [("email", email)], day=day).model_copy(
        update={"traits": traits}
    )


def test_a_typo_in_the_name_and_in_the_birth_date_still_links() -> None:
    graph, matcher = _graph()
    place = {"address": "12 Acacia Avenue", "postcode": "SW1A 1AA", "city": "London"}
    first = _signal(
        "crm:c1",
        "jon@example.com",
        Traits(given_name="Jonathan", family_name="Smith", birth_date=date(1980, 5, 17), **place),
    )
    second = _signal(
        "shop:s9",
        "j.smith@example.org",
        Traits(given_name="Jonathon", family_name="Smith", birth_date=date(1980, 5, 12), **place),
        day=1,
    )
    matcher.prepare([first, second])
    created = graph.resolve(first)
    linked = graph.resolve(second)
    assert linked.customer_id == created.customer_id
    assert [c.kind for c in linked.changes] == ["matched", "linked"]
    assert linked.changes[1].evidence[0].rule == "splink"


def test_a_splink_link_between_clearly_different_given_names_is_refused() -> None:
    """Twins: family, birth date and address agree; the given names do not. Splink alone
    scores them one person (given names weigh only about -3 bits); the graph refuses."""
    graph, matcher = _graph()
    place = {"address": "3 Mill Lane", "postcode": "LS1 4AB", "city": "Leeds"}
    born = date(1990, 2, 3)
    anna = _signal(
        "crm:a",
        "anna@example.com",
        Traits(given_name="Anna", family_name="Kowalski", birth_date=born, **place),
    )
    maria = _signal(
        "crm:m",
        "maria@example.com",
        Traits(given_name="Maria", family_name="Kowalski", birth_date=born, **place),
        day=1,
    )
    matcher.prepare([anna, maria])
    graph.resolve(anna)
    second = graph.resolve(maria)
    assert graph.customer_of_record("crm:a") != graph.customer_of_record("crm:m")
    assert [(c.kind, c.evidence[0].rule) for c in second.changes] == [
        ("matched", "splink"),
        ("created", "first_record"),
        ("refused", "splink:different_names"),
    ]
