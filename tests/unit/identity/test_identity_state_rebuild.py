"""The state side of a split: ``start_over`` then the customer's own signals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from signalfold.schemas import Resolved, Signal
from signalfold.schemas.signal import make_signal_id
from signalfold.streams.stages.rebuild import start_over
from signalfold.streams.state.aggregate import CustomerAggregate

T0 = datetime(2024, 3, 1, tzinfo=UTC)
NOW = datetime(2024, 6, 1, tzinfo=UTC)


def _signal(record: str, n: int, kind: str, payload: dict) -> Signal:
    source, key = record.split(":")
    return Signal(
        signal_id=make_signal_id(source, f"{key}/{n}"),
        source=source,
        source_event_id=f"{key}/{n}",
        record_key=key,
        type=kind,
        occurred_at=T0 + timedelta(hours=n),
        received_at=T0 + timedelta(hours=n),
        payload=payload,
    )


MINE = [
    _signal("support:u", 1, "support.ticket.opened", {"ticket_id": "t1", "priority": "high"}),
    _signal("support:u", 2, "support.ticket.updated", {"ticket_id": "t1", "status": "open"}),
]
THEIRS = [_signal("marketing:m", 3, "marketing.email.opened", {"campaign_id": "c1"})]


def _fold(cid: str, signals: list[Signal]) -> CustomerAggregate:
    agg = CustomerAggregate(cid, timeline_size=10)
    for signal in signals:
        agg.apply(signal)
    return agg


def test_a_rebuilt_customer_holds_exactly_its_own_signals() -> None:
    aggregates = {"cus_old": _fold("cus_old", MINE + THEIRS)}
    aggregates["cus_old"].aliases = {"cus_gone"}
    forwards = {"cus_new": "cus_elsewhere"}
    for cid, aliases, signals in (
        ("cus_old", ("cus_gone",), THEIRS),
        ("cus_new", (), MINE),
    ):
        control = Resolved(kind="rebuild", customer_id=cid, records=(), aliases=aliases)
        assert start_over(aggregates, forwards, control, timeline_size=10) == cid
        for signal in signals:
            aggregates[cid].apply(signal)
    assert forwards == {}
    old, new = (aggregates[c].fold_state(NOW) for c in ("cus_old", "cus_new"))
    assert not old.tickets and old.aliases == ["cus_gone"]
    assert list(new.tickets) == ["t1"]  # the open ticket follows its person
    expected = _fold("cus_new", MINE).fold_state(NOW)
    assert new == expected
    # Replayed again (a restarted state worker) the result is the same.
    again = {"cus_new": _fold("cus_new", MINE + THEIRS)}
    start_over(again, {}, Resolved(kind="rebuild", customer_id="cus_new"), timeline_size=10)
    for signal in MINE + MINE:
        again["cus_new"].apply(signal)
    assert again["cus_new"].fold_state(NOW) == expected
