"""``SuppressionDecision``: the one answer every surface asks for before it speaks."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

__all__ = ["Channel", "Outcome", "Purpose", "Reason", "SuppressionDecision"]

Channel = Literal["email", "sms", "push", "phone", "ads", "ai_agent"]
Purpose = Literal["marketing", "sales", "service", "transactional"]
Outcome = Literal["allow", "deny", "defer"]


class Reason(BaseModel):
    """Why a decision is not a plain allow: the flag and the event behind it."""

    model_config = ConfigDict(frozen=True)

    rule: str
    department: str
    effect: Literal["deny", "defer"]
    text: str
    source: str
    source_event_id: str
    signal_id: str
    since: AwareDatetime
    until: AwareDatetime | None = None
    severity: Literal["info", "warning", "critical"] = "warning"
    products: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    details: dict[str, str] = Field(default_factory=dict)


class SuppressionDecision(BaseModel):
    """May this surface contact this person on this channel for this purpose now?

    ``customer_id`` is ``None`` when the identifier is unknown; ``unknown_rule``
    then says which configured rule produced the outcome.
    """

    outcome: Outcome
    allowed: bool
    channel: Channel
    purpose: Purpose
    until: AwareDatetime | None = None
    reasons: list[Reason]
    customer_id: str | None
    state_version: int | None
    known: bool
    unknown_rule: str | None = None
    evaluated_at: AwareDatetime
    product_id: str | None = Field(default=None, description="The product the message is about.")
    category: str | None = Field(default=None, description="The category the message is about.")
