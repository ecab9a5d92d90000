"""No customer's state outgrows what Kafka carries: text is cut with a marker, closed
tickets past a bound leave the published state, and the flags do not change."""

from __future__ import annotations

from datetime import timedelta

from state_factory import T0, signal

from signalfold.policy import load_policy
from signalfold.streams.state.aggregate import CustomerAggregate
from signalfold.streams.state.bounds import DEFAULT_BOUNDS, Bounds

NOW = T0 + timedelta(days=1)
MAX_TEXT_CHARS = DEFAULT_BOUNDS.text_chars  # what an aggregate keeps unless told otherwise
MAX_CLOSED_TICKETS = DEFAULT_BOUNDS.closed_tickets


def test_six_tickets_with_200_kb_subjects_fit_and_keep_their_flag() -> None:
    agg = CustomerAggregate("cus_1")
    for n in range(6):
        payload = {"ticket_id": f"T-{n}", "priority": "urgent", "subject": "s" * 200_000}
        agg.apply(signal("support.ticket.opened", payload, at=n, event_id=f"o{n}"))
    state = agg.to_state(load_policy(), NOW)
    assert len(state.model_dump_json()) < 100_000
    subject = state.tickets["T-0"].subject or ""
    assert subject.startswith("s" * MAX_TEXT_CHARS) and subject.endswith("[200000 characters, cut]")
    assert "open_high_priority_ticket" in {f.rule for f in state.flags}


def test_closed_tickets_past_the_bound_leave_the_state_and_open_ones_stay() -> None:
    agg = CustomerAggregate("cus_1")
    total = MAX_CLOSED_TICKETS + 15
    for n in range(total):
        agg.apply(signal("support.ticket.opened", {"ticket_id": f"T-{n}"}, at=2 * n,
                         event_id=f"o{n}"))  # fmt: skip
        agg.apply(signal("support.ticket.closed", {"ticket_id": f"T-{n}"}, at=2 * n + 1,
                         event_id=f"c{n}"))  # fmt: skip
    urgent = {"ticket_id": "T-old", "priority": "urgent"}
    agg.apply(signal("support.ticket.opened", urgent, at=-10, event_id="old"))
    state = agg.to_state(load_policy(), NOW)
    closed = sorted((t for t in state.tickets.values() if t.status == "closed"),
                    key=lambda t: t.closed_at or T0)  # fmt: skip
    assert len(closed) == MAX_CLOSED_TICKETS
    assert closed[0].ticket_id == f"T-{total - MAX_CLOSED_TICKETS}"  # the latest kept
    assert state.tickets["T-old"].status == "open"  # open ones always stay
    assert "open_high_priority_ticket" in {f.rule for f in state.flags}


def test_a_huge_ticket_id_keeps_two_tickets_two() -> None:
    agg = CustomerAggregate("cus_1")
    for suffix in "ab":
        tid = "T" * 10_000 + suffix
        agg.apply(signal("support.ticket.opened", {"ticket_id": tid}, event_id=suffix))
    state = agg.fold_state(NOW)
    assert len(state.tickets) == 2 and all(len(tid) < 300 for tid in state.tickets)


def test_orders_past_the_bounds_leave_the_state_and_a_recent_defect_return_stays() -> None:
    bounds = Bounds(orders=5, returned_orders=3)
    agg = CustomerAggregate("cus_1", bounds=bounds)
    agg.apply(signal("sales.order.placed", {"order_id": "O-bad"}, at=0, event_id="p-bad"))
    returned = {"order_id": "O-bad", "reason": "defective"}
    agg.apply(signal("sales.order.returned", returned, at=1, event_id="r-bad"))
    for n in range(40):  # a busy customer: many orders after the return
        agg.apply(signal("sales.order.placed", {"order_id": f"O-{n}"}, at=2 + n,
                         event_id=f"p{n}"))  # fmt: skip
    state = agg.to_state(load_policy(), NOW)
    assert set(state.orders) == {"O-bad", "O-35", "O-36", "O-37", "O-38", "O-39"}
    assert "defective_return" in {f.rule for f in state.flags}


def test_the_bounds_are_the_state_stage_s_settings() -> None:
    bounds = Bounds(text_chars=10, closed_tickets=1)
    agg = CustomerAggregate("cus_1", bounds=bounds)
    for n in range(3):
        agg.apply(signal("support.ticket.opened", {"ticket_id": f"T-{n}", "subject": "x" * 50},
                         at=2 * n, event_id=f"o{n}"))  # fmt: skip
        agg.apply(signal("support.ticket.closed", {"ticket_id": f"T-{n}"}, at=2 * n + 1,
                         event_id=f"c{n}"))  # fmt: skip
    state = agg.fold_state(NOW)
    assert list(state.tickets) == ["T-2"]
    assert (state.tickets["T-2"].subject or "").startswith("x" * 10 + "…")
    # the transfer of a customer to another partition keeps the receiving stage's bounds
    moved = CustomerAggregate.from_transfer(agg.to_transfer(), bounds)
    assert moved.bounds == bounds
