"""Typed payloads, one model per canonical signal type.

The registry is open: a source contract may declare new types with their
payload shape (``register_payload``), so state and policy can use them.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "PAYLOAD_MODELS",
    "Channel",
    "payload_model_for",
    "register_payload",
    "set_missing_type_hook",
]

Channel = Literal["email", "sms", "push", "phone", "ads", "ai_agent"]
TicketPriority = Literal["low", "normal", "high", "urgent"]
TicketStatus = Literal["open", "pending", "on_hold", "solved", "closed"]
ReturnReason = Literal[
    "defective", "damaged", "wrong_item", "not_as_described", "changed_mind", "other"
]


class _Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")


class EmailSent(_Payload):
    campaign_id: str
    message_id: str | None = None
    subject: str | None = None
    product_id: str | None = None
    category: str | None = None


class EmailOpened(_Payload):
    campaign_id: str
    message_id: str | None = None


class EmailClicked(_Payload):
    campaign_id: str
    url: str | None = None


class Unsubscribed(_Payload):
    channel: Channel = "email"
    list_id: str | None = None


class FormSubmitted(_Payload):
    form_id: str
    consent_email: bool | None = None
    consent_sms: bool | None = None


class LeadCreated(_Payload):
    lead_id: str
    owner: str | None = None


class OpportunityStageChanged(_Payload):
    opportunity_id: str
    stage: str
    owner: str
    amount: Decimal | None = None
    is_closed: bool = False


class OrderItem(_Payload):
    product_id: str
    category: str | None = None
    quantity: int = Field(default=1, ge=1)


class OrderPlaced(_Payload):
    order_id: str
    amount: Decimal | None = None
    currency: str | None = None
    items: tuple[OrderItem, ...] = ()


class OrderReturned(_Payload):
    order_id: str
    reason: ReturnReason
    product_id: str | None = None
    category: str | None = None


class TicketOpened(_Payload):
    ticket_id: str
    priority: TicketPriority = "normal"
    status: TicketStatus = "open"
    subject: str | None = None


class TicketUpdated(_Payload):
    ticket_id: str
    priority: TicketPriority | None = None
    status: TicketStatus | None = None


class TicketClosed(_Payload):
    ticket_id: str
    resolution: str | None = None


class CsatSubmitted(_Payload):
    score: int = Field(ge=1, le=5)
    ticket_id: str | None = None
    comment: str | None = None


PAYLOAD_MODELS: dict[str, type[BaseModel]] = {
    "marketing.email.sent": EmailSent,
    "marketing.email.opened": EmailOpened,
    "marketing.email.clicked": EmailClicked,
    "marketing.email.unsubscribed": Unsubscribed,
    "marketing.form.submitted": FormSubmitted,
    "sales.lead.created": LeadCreated,
    "sales.opportunity.stage_changed": OpportunityStageChanged,
    "sales.order.placed": OrderPlaced,
    "sales.order.returned": OrderReturned,
    "support.ticket.opened": TicketOpened,
    "support.ticket.updated": TicketUpdated,
    "support.ticket.closed": TicketClosed,
    "support.csat.submitted": CsatSubmitted,
}


_MISSING: list[Callable[[str], type[BaseModel] | None]] = []


def set_missing_type_hook(hook: Callable[[str], type[BaseModel] | None]) -> None:
    """Ask ``hook`` for a type nobody declared in this process (a contract registered
    after start-up; see ``streams/registry.py``). One hook per process; the last wins."""
    _MISSING[:] = [hook]


def payload_model_for(signal_type: str) -> type[BaseModel] | None:
    """The payload model of a signal type, or ``None`` when nobody declared it."""
    model = PAYLOAD_MODELS.get(signal_type)
    if model is None and _MISSING:
        model = _MISSING[0](signal_type)
    return model


def register_payload(signal_type: str, model: type[BaseModel]) -> None:
    """Declare a new signal type (from a source contract). Re-declaring must agree."""
    existing = PAYLOAD_MODELS.get(signal_type)
    if existing is not None and existing is not model:
        if existing.model_json_schema() != model.model_json_schema():
            raise ValueError(f"signal type {signal_type!r} is already declared with another shape")
        return
    PAYLOAD_MODELS[signal_type] = model
