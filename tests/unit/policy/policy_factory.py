"""Builds folded customer states from a few signals, for the policy tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from signalfold.policy import Policy, load_policy
from signalfold.schemas.payloads import PAYLOAD_MODELS, payload_model_for, register_payload
from signalfold.schemas.signal import Signal, make_signal_id
from signalfold.schemas.state import CustomerState
from signalfold.streams.state import CustomerAggregate

__all__ = ["DEFAULTS", "T0", "declared", "signal", "state_of"]

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
DEFAULTS = load_policy()


def signal(
    type_: str,
    payload: dict[str, Any],
    *,
    at: datetime = T0,
    event_id: str = "e1",
    source: str = "zendesk",
    traits: dict[str, Any] | None = None,
) -> Signal:
    return Signal(
        signal_id=make_signal_id(source, event_id),
        source=source,
        source_event_id=event_id,
        record_key="rec-1",
        type=type_,
        occurred_at=at,
        received_at=at + timedelta(seconds=1),
        traits=traits or {},
        payload=payload,
    )


def state_of(*signals: Signal, now: datetime, policy: Policy = DEFAULTS) -> CustomerState:
    agg = CustomerAggregate("cus_1")
    for s in signals:
        agg.apply(s)
    return agg.to_state(policy, now)


class _Declared(BaseModel):
    """A payload shape a source contract would declare (any fields)."""

    model_config = ConfigDict(frozen=True, extra="allow")


@contextmanager
def declared(*signal_types: str) -> Iterator[None]:
    """Declare signal types as a source contract would, and undeclare them afterwards.

    Undeclaring keeps the registry clean for tests that load real contracts.
    """
    added = [t for t in signal_types if payload_model_for(t) is None]
    for signal_type in added:
        register_payload(signal_type, _Declared)
    try:
        yield
    finally:
        for signal_type in added:
            PAYLOAD_MODELS.pop(signal_type, None)
