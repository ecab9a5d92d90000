"""Builds folded customer states from a few signals, for the policy tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from signalfold.schemas.signal import Signal, make_signal_id
from signalfold.schemas.state import CustomerState
from signalfold.streams.policy import Policy, load_policy
from signalfold.streams.state import CustomerAggregate

__all__ = ["DEFAULTS", "T0", "signal", "state_of"]

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
DEFAULTS = load_policy()


def signal(
    type_: str,
    payload: dict[str, Any],
    *,
    at: datetime = T0,
    event_id: str = "e1",
    source: str = "zendesk",
) -> Signal:
    return Signal(
        signal_id=make_signal_id(source, event_id),
        source=source,
        source_event_id=event_id,
        record_key="rec-1",
        type=type_,
        occurred_at=at,
        received_at=at + timedelta(seconds=1),
        payload=payload,
    )


def state_of(*signals: Signal, now: datetime, policy: Policy = DEFAULTS) -> CustomerState:
    agg = CustomerAggregate("cus_1")
    for s in signals:
        agg.apply(s)
    return agg.to_state(policy, now)
