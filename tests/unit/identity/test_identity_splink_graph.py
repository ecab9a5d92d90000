"""Splink and merge protection weighed together, in the graph."""

from __future__ import annotations

from datetime import UTC, date, datetime

from conftest import build_signal

from signalfold.identity import IdentityGraph
from signalfold.identity.matcher import IncrementalLinker, SplinkMatcher
from signalfold.schemas import IdentityCommand
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


def test_splink_weighs_the_pair_and_the_graph_checks_everyone_else() -> None:
    """Splink's weight decides its links (twins who share family name, birth date and
    address score as one person: a known limit an operator's never pin fixes); a shared
    identifier still cannot bring in a third person whose name conflicts."""
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
    assert [c.kind for c in second.changes] == ["matched", "linked"]
    assert graph.customer_of_record("crm:a") == graph.customer_of_record("crm:m")
    never = IdentityCommand(
        command_id="cmd_twins",
        kind="pin",
        pin="never",
        records=("crm:a", "crm:m"),
        requested_at=datetime(2026, 12, 1, tzinfo=UTC),
    )
    graph.command(never)
    assert graph.customer_of_record("crm:a") != graph.customer_of_record("crm:m")
    # Piotr shares Anna's email but not her name: related, not merged. Maria's lookalike
    # (one letter off, everything else the same) still links to Maria.
    piotr = _signal("shop:p", "anna@example.com", Traits(given_name="Piotr"), day=2)
    look = _signal(
        "web:w",
        "w@example.com",
        Traits(given_name="Mariah", family_name="Kowalski", birth_date=born, **place),
        day=3,
    )
    matcher.prepare([piotr])
    graph.resolve(piotr)
    matcher.prepare([look])
    graph.resolve(look)
    assert graph.customer_of_record("shop:p") != graph.customer_of_record("crm:a")
    assert graph.customer_of_record("web:w") == graph.customer_of_record("crm:m")


def test_the_live_matcher_caps_generic_blocking_keys() -> None:
    """One phonetic code every record shares (``Bench P1``, ``Bench P2`` … all Soundex
    B520/P000) must not make each new record cost the whole store."""
    from signalfold.identity.probabilistic import build_matcher
    from signalfold.settings import Settings

    settings = Settings()
    matcher = build_matcher(
        model_path=None,
        match_probability=0.99,
        review_probability=0.5,
        region="GB",
        max_block=settings.splink_max_block,
    )
    people = [
        build_signal("m", f"p{i}", [("email", f"p{i}@bench.example")]).model_copy(
            update={"traits": Traits(given_name="Bench", family_name=f"P{i}")}
        )
        for i in range(settings.splink_max_block + 50)
    ]
    matcher.prepare(people[:-50])
    last = matcher.prepare(people[-50:])
    assert last.candidates <= settings.splink_max_block < last.skipped  # not 50 x 200+
