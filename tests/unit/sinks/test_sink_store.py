"""The DuckDB store on an in-memory database: batches, dedupe, keyset paging."""

from __future__ import annotations

import duckdb
import pytest
from sink_factory import change, resolved, ticket_signal

from signalfold.sinks.errors import InvalidCursor
from signalfold.sinks.store import Store, change_row, decode_cursor, encode_cursor, signal_row


@pytest.fixture
def store() -> Store:
    s = Store(duckdb.connect(":memory:"), max_batch=4)
    s.setup()
    return s


def add_signals(store: Store, customer_id: str, *minutes: int, prefix: str = "e") -> None:
    for m in minutes:
        store.signals.add(signal_row(resolved(customer_id, ticket_signal(f"{prefix}{m}", at=m))))
    store.flush()


def test_batches_are_written_when_full_and_on_flush(store: Store) -> None:
    for m in range(5):
        store.signals.add(signal_row(resolved("c1", ticket_signal(f"e{m}", at=m))))
    assert store.count("signals") == 4  # max_batch reached once
    assert store.signals.pending == 1
    assert store.flush() == 1
    assert store.count("signals") == 5


def test_a_duplicate_delivery_keeps_one_row(store: Store) -> None:
    sig = ticket_signal("e1")
    row = signal_row(resolved("c1", sig))
    store.signals.add(row)
    store.signals.add(row)  # same batch
    store.flush()
    store.signals.add(row)  # later batch
    store.flush()
    assert store.count("signals") == 1


def test_a_redelivery_under_another_customer_moves_the_row(store: Store) -> None:
    sig = ticket_signal("e1")
    store.signals.add(signal_row(resolved("c1", sig)))
    store.flush()
    store.signals.add(signal_row(resolved("c2", sig)))
    store.flush()
    assert store.timeline(["c1"])[0] == []
    items, _ = store.timeline(["c2"])
    assert [i.signal.signal_id for i in items] == [sig.signal_id]


def test_timeline_round_trips_the_signal(store: Store) -> None:
    sig = ticket_signal("e1", at=3)
    store.signals.add(signal_row(resolved("c1", sig)))
    store.flush()
    (item,), cursor = store.timeline(["c1"])
    assert cursor is None
    assert item.customer_id == "c1"
    assert item.signal.model_dump(mode="json") == sig.model_dump(mode="json")


def test_pages_walk_the_history_newest_first_without_gaps(store: Store) -> None:
    add_signals(store, "c1", 1, 2, 3, 5, 8, 13, 21)
    add_signals(store, "c0", 4, 4, 9, prefix="old")  # an absorbed id; a tie on time
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        items, cursor = store.timeline(["c1", "c0"], limit=3, cursor=cursor)
        seen += [i.signal.source_event_id for i in items]
        pages += 1
        if cursor is None:
            break
    assert pages == 3  # a full last page says so: no empty extra page
    assert seen == ["e21", "e13", "old9", "e8", "e5", "old4", "e3", "e2", "e1"]


def test_ties_in_event_time_page_by_signal_id(store: Store) -> None:
    for n in range(5):
        store.signals.add(signal_row(resolved("c1", ticket_signal(f"same{n}", at=0))))
    store.flush()
    first, cursor = store.timeline(["c1"], limit=2)
    rest, end = store.timeline(["c1"], limit=10, cursor=cursor)
    ids = [i.signal.signal_id for i in first + rest]
    assert end is None
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 5


def test_filters_by_type_prefix_and_source(store: Store) -> None:
    store.signals.add(signal_row(resolved("c1", ticket_signal("a", at=1))))
    store.signals.add(
        signal_row(
            resolved("c1", ticket_signal("b", at=2, source="hubspot", type_="marketing.email.sent"))
        )
    )
    store.flush()
    assert [i.signal.source_event_id for i in store.timeline(["c1"], type="support.*")[0]] == ["a"]
    exact = store.timeline(["c1"], type="marketing.email.sent")[0]
    assert [i.signal.source_event_id for i in exact] == ["b"]
    assert [i.signal.source for i in store.timeline(["c1"], source="hubspot")[0]] == ["hubspot"]


def test_a_foreign_cursor_is_rejected_with_what_to_do() -> None:
    assert decode_cursor(encode_cursor(123, "sig_x")) == (123, "sig_x")
    with pytest.raises(InvalidCursor, match="pass the `next_cursor` of the previous page"):
        decode_cursor("not-a-cursor")


def test_malformed_rows_fail_before_reaching_a_batch() -> None:
    bad = resolved("c1", ticket_signal("e1"))
    bad["signal"]["occurred_at"] = "2024-05-01T10:00:00"  # no timezone
    with pytest.raises(ValueError, match="timezone"):
        signal_row(bad)
    with pytest.raises(KeyError):
        signal_row({"kind": "signal", "customer_id": "c1", "signal": {}})


def test_identity_changes_dedupe_and_come_oldest_first(store: Store) -> None:
    store.identity_changes.add(
        change_row(change("ch2", "c1", kind="merged", absorbed=("c0",), at=5))
    )
    store.identity_changes.add(change_row(change("ch1", "c0", at=1)))
    store.identity_changes.add(change_row(change("ch1", "c0", at=1)))
    store.identity_changes.add(change_row(change("ch9", "other", at=2)))
    store.flush()
    changes = store.identity_changes_for(["c1", "c0"])
    assert [c.change_id for c in changes] == ["ch1", "ch2"]
    assert changes[1].absorbed_ids == ("c0",)
