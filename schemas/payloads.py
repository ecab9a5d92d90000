"""Typed payloads, one model per canonical signal type.

The registry is open: a source contract may declare new types with their
payload shape, so state and policy can use them. Parsing a contract never
touches this registry; a contract's types are installed (``register_payload``)
only when a process puts the contract into service, and a re-declaration with
added optional fields widens the model instead of being refused.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

__all__ = [
    "PAYLOAD_MODELS",
    "Channel",
    "builtin_payload_model",
    "payload_model_for",
    "register_payload",
    "set_missing_type_hook",
    "shape_conflicts",
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


def shape_conflicts(existing: type[BaseModel], new: type[BaseModel]) -> list[str]:
    """Why payloads of ``new`` and ``existing`` cannot share one model (empty: they can).

    Two shapes agree when every field they both have has the same JSON schema
    and every field only one of them has is optional: then the union of the
    two (the wider model) parses every payload either one accepts.
    """
    old_schema, new_schema = existing.model_json_schema(), new.model_json_schema()
    old_props, new_props = old_schema.get("properties", {}), new_schema.get("properties", {})
    old_req, new_req = set(old_schema.get("required", ())), set(new_schema.get("required", ()))
    out: list[str] = []
    for name in sorted(set(old_props) | set(new_props)):
        if name in old_props and name in new_props:
            if old_props[name] != new_props[name] or (name in old_req) != (name in new_req):
                out.append(f"field `{name}` changed type")
        elif name in old_req:
            out.append(f"required field `{name}` removed")
        elif name in new_req:
            out.append(f"field `{name}` added as required")
    if not out and old_schema.get("$defs") != new_schema.get("$defs"):
        out.append("nested shapes differ")
    return out


def _wider(existing: type[BaseModel], new: type[BaseModel]) -> type[BaseModel]:
    """The union of two agreeing shapes (see ``shape_conflicts``)."""
    added = {n: f for n, f in new.model_fields.items() if n not in existing.model_fields}
    if not added:
        return existing
    if set(existing.model_fields) <= set(new.model_fields):
        return new
    fields: dict[str, Any] = {n: (f.annotation, f) for n, f in added.items()}
    return create_model(existing.__name__, __base__=existing, **fields)


Declarer = tuple[str, int]  # (source, contract version)
_DECLARED_BY: dict[str, Declarer] = {}


def builtin_payload_model(signal_type: str) -> type[BaseModel] | None:
    """The model of a type no contract declared (a built-in one), or ``None``."""
    return None if signal_type in _DECLARED_BY else PAYLOAD_MODELS.get(signal_type)


def register_payload(
    signal_type: str, model: type[BaseModel], *, declared_by: Declarer | None = None
) -> None:
    """Install a signal type's payload model in this process (a contract taking effect).

    Re-declaring a type keeps one model that parses both shapes: added
    optional fields widen it. A conflicting shape (a removed required field, a
    changed type, a new required field) raises ``ValueError`` with the reasons,
    unless ``declared_by`` is the same source at a newer contract version (a
    published breaking change replaces the model) or an older one (it is
    ignored: the newer contract stays in force).
    """
    existing = PAYLOAD_MODELS.get(signal_type)
    if existing is None or existing is model:
        PAYLOAD_MODELS[signal_type] = model
        if declared_by is not None:
            _DECLARED_BY[signal_type] = declared_by
        return
    conflicts = shape_conflicts(existing, model)
    if not conflicts:
        PAYLOAD_MODELS[signal_type] = _wider(existing, model)
        if declared_by is not None:
            _DECLARED_BY[signal_type] = max(declared_by, _DECLARED_BY.get(signal_type, declared_by))
        return
    holder = _DECLARED_BY.get(signal_type)
    if declared_by is not None and holder is not None and holder[0] == declared_by[0]:
        if declared_by[1] > holder[1]:
            PAYLOAD_MODELS[signal_type], _DECLARED_BY[signal_type] = model, declared_by
        if declared_by[1] != holder[1]:
            return
    by = f" (declared by `{holder[0]}` v{holder[1]})" if holder else " (a built-in type)"
    raise ValueError(
        f"signal type `{signal_type}` is already declared with another shape{by}: "
        + "; ".join(conflicts)
    )
