"""Builders of the topic values the serving process reads, for the sinks tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from signalfold.schemas import CustomerState, IdentityChange, Resolved, Signal
from signalfold.schemas.signal import make_signal_id

__all__ = ["T0", "change", "resolved", "state", "ticket_signal"]

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def ticket_signal(
    event_id: str, *, at: int = 0, source: str = "zendesk", type_: str = "support.ticket.opened"
) -> Signal:
    """A support signal ``at`` minutes after ``T0``."""
    payload: dict[str, Any] = {"ticket_id": f"T-{event_id}"}
    if type_ == "marketing.email.sent":
        payload = {"campaign_id": f"C-{event_id}"}
    return Signal(
        signal_id=make_signal_id(source, event_id),
        source=source,
        source_event_id=event_id,
        record_key="u1",
        type=type_,
        occurred_at=T0 + timedelta(minutes=at),
        received_at=T0 + timedelta(minutes=at, seconds=1),
        identifiers=({"type": "email", "value": "Jane@Example.com"},),
        payload=payload,
    )


def resolved(customer_id: str, signal: Signal) -> dict[str, Any]:
    """A parsed ``signals.resolved`` value of kind ``signal``."""
    return Resolved(kind="signal", customer_id=customer_id, signal=signal).model_dump(mode="json")


def change(
    change_id: str,
    customer_id: str,
    *,
    kind: str = "created",
    absorbed: tuple[str, ...] = (),
    at: int = 0,
) -> dict[str, Any]:
    """A parsed ``identity.changes`` value."""
    return IdentityChange(
        change_id=change_id,
        kind=kind,  # type: ignore[arg-type]
        customer_id=customer_id,
        record_id=f"zendesk:{change_id}",
        absorbed_ids=absorbed,
        signal_id=f"sig_{change_id}",
        at=T0 + timedelta(minutes=at),
    ).model_dump(mode="json")


def state(customer_id: str, version: int = 1, **fields: Any) -> bytes:
    """A ``customer.state`` value."""
    return (
        CustomerState(customer_id=customer_id, version=version, **fields).model_dump_json().encode()
    )
