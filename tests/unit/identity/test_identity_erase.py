"""Erasing a customer from the identity graph: its records and keys go, others stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from signalfold.identity.graph import IdentityGraph
from signalfold.schemas import Identifier, Signal
from signalfold.schemas.signal import make_signal_id

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _signal(source: str, key: str, event: str, ids: list[tuple[str, str]], day: int) -> Signal:
    return Signal(
        signal_id=make_signal_id(source, event),
        source=source,
        source_event_id=event,
        record_key=key,
        type="marketing.email.opened",
        occurred_at=T0 + timedelta(days=day),
        received_at=T0 + timedelta(days=day),
        identifiers=tuple(Identifier(type=t, value=v) for t, v in ids),
        payload={"campaign_id": "c1"},
    )


def _graph() -> tuple[IdentityGraph, list]:
    graph, changes = IdentityGraph(), []
    for signal in (
        _signal("marketing", "jane@example.com", "e1", [("email", "jane@example.com")], 0),
        _signal("support", "9", "e2", [("phone", "+447911123456")], 1),
        _signal(
            "sales", "003", "e3", [("email", "jane@example.com"), ("phone", "+447911123456")], 2
        ),
        _signal("marketing", "bob@example.com", "e4", [("email", "bob@example.com")], 3),
    ):
        changes += graph.resolve(signal).changes
    return graph, changes


def test_erase_forgets_every_record_and_key_of_the_customer_only() -> None:
    graph, _ = _graph()
    jane = graph.lookup("email:jane@example.com")
    bob = graph.lookup("email:bob@example.com")
    assert jane is not None and jane != bob and len(graph.records_of(jane)) == 3
    erased = graph.erase(jane, "era_1")
    assert erased.found and len(erased.records) == 3
    assert set(erased.keys) >= {"email:jane@example.com", "phone:+447911123456"}
    assert set(erased.unowned) == set(erased.keys)  # nobody else holds them
    assert graph.lookup("email:jane@example.com") is None
    assert graph.lookup("phone:+447911123456") is None
    assert graph.customer_of_record("support:9") is None
    assert graph.lookup("email:bob@example.com") == bob
    assert graph.take_forgotten()[0][1] == erased.records
    assert not graph.erase(jane, "era_1").found  # a second time: nothing left


def test_the_erased_change_names_no_one_and_a_rebuild_without_her_changes_agrees() -> None:
    graph, changes = _graph()
    jane = graph.lookup("email:jane@example.com")
    assert jane is not None
    erased = graph.erase(jane, "era_1")
    assert erased.change is not None and erased.change.record_id == ""
    assert "jane" not in erased.change.model_dump_json()
    # A rebuild reads what is still readable: Bob's changes (hers are sealed, keys gone).
    rebuilt = IdentityGraph()
    for change in changes:
        if change.record_id == "marketing:bob@example.com":
            rebuilt.apply(change)
    rebuilt.apply(erased.change)  # applying the erasure again changes nothing
    assert rebuilt.lookup("email:bob@example.com") == graph.lookup("email:bob@example.com")
    assert rebuilt.lookup("email:jane@example.com") is None
