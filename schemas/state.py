"""``CustomerState``: everything signalfold knows of one customer, as published.

Published on ``customer.state`` (key: customer id) after every change. Each
field that several events can set carries the event time and signal id that
set it, so folding is last-writer-wins in event time, not arrival order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from signalfold.schemas.decision import Channel, Purpose

__all__ = [
    "ConsentState",
    "CustomerState",
    "Flag",
    "IdentityRef",
    "OpportunityState",
    "OrderState",
    "ProfileValue",
    "RecentSignal",
    "SuppressionChange",
    "TicketState",
    "TimelineEntry",
    "Touch",
]

Version = tuple[datetime, str]


class IdentityRef(BaseModel):
    """A normalised identifier this customer is known by, and the record that carried it."""

    model_config = ConfigDict(frozen=True)

    type: str
    value: str
    source: str
    record_id: str


class ProfileValue(BaseModel):
    """The latest value of one trait, with where and when it was observed."""

    value: str
    source: str
    observed_at: AwareDatetime
    signal_id: str


class Touch(BaseModel):
    """The most recent contact of one department with the customer."""

    at: AwareDatetime
    type: str
    signal_id: str
    source_event_id: str


class TicketState(BaseModel):
    """A support ticket folded from its opened / updated / closed events."""

    ticket_id: str
    source: str
    status: str = "open"
    status_at: AwareDatetime | None = None
    status_signal_id: str = ""
    priority: str = "normal"
    priority_at: AwareDatetime | None = None
    priority_signal_id: str = ""
    opened_at: AwareDatetime | None = None
    opened_event_id: str | None = None
    closed_at: AwareDatetime | None = None
    closed_event_id: str | None = None
    subject: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status not in ("solved", "closed")


class OrderState(BaseModel):
    """An order and, once it happened, its return."""

    order_id: str
    source: str
    placed_at: AwareDatetime | None = None
    placed_event_id: str | None = None
    amount: str | None = None
    currency: str | None = None
    product_ids: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    returned_at: AwareDatetime | None = None
    returned_event_id: str | None = None
    return_reason: str | None = None
    returned_product_id: str | None = None
    returned_category: str | None = None


class ConsentState(BaseModel):
    """Consent for one channel: the latest grant or withdrawal in event time."""

    granted: bool
    at: AwareDatetime
    source: str
    source_event_id: str
    signal_id: str


class OpportunityState(BaseModel):
    """A sales opportunity: its latest stage and owner in event time."""

    opportunity_id: str
    source: str
    stage: str
    owner: str | None = None
    is_closed: bool = False
    amount: str | None = None
    at: AwareDatetime
    signal_id: str
    source_event_id: str


class RecentSignal(BaseModel):
    """One recent signal of a type, kept so policy rules can look at any signal type.

    ``payload`` keeps the scalar payload fields rules match on; free-text fields
    (comments, bodies, subjects) are left out so the state carries no prose.
    """

    signal_id: str
    source: str
    source_event_id: str
    occurred_at: AwareDatetime
    summary: str
    payload: dict[str, str | int | float | bool | None] = Field(default_factory=dict)


class TimelineEntry(BaseModel):
    """One signal as it appears in the bounded recent timeline."""

    signal_id: str
    type: str
    source: str
    source_event_id: str
    occurred_at: AwareDatetime
    summary: str


class Flag(BaseModel):
    """A raised suppression flag: what it blocks, why, and the event it came from."""

    model_config = ConfigDict(frozen=True)

    rule: str
    department: str
    severity: Literal["info", "warning", "critical"] = "warning"
    effect: Literal["deny", "defer"] = "deny"
    channels: tuple[Channel, ...]
    purposes: tuple[Purpose, ...]
    reason: str
    source: str
    source_event_id: str
    signal_id: str
    since: AwareDatetime
    until: AwareDatetime | None = None
    products: tuple[str, ...] = Field(
        default=(), description="Only messages about these products are blocked (empty: all)."
    )
    categories: tuple[str, ...] = Field(
        default=(), description="Only messages about these categories are blocked (empty: all)."
    )
    details: dict[str, str] = Field(
        default_factory=dict, description="The rule's facts (ticket id, deal owner...)."
    )


class CustomerState(BaseModel):
    """The published state of one customer. ``version`` grows with every change."""

    customer_id: str
    version: int = 0
    updated_at: AwareDatetime | None = None
    aliases: list[str] = Field(default_factory=list)
    identities: list[IdentityRef] = Field(default_factory=list)
    profile: dict[str, ProfileValue] = Field(default_factory=dict)
    last_touch: dict[str, Touch] = Field(default_factory=dict)
    tickets: dict[str, TicketState] = Field(default_factory=dict)
    orders: dict[str, OrderState] = Field(default_factory=dict)
    consent: dict[str, ConsentState] = Field(default_factory=dict)
    counters: dict[str, int] = Field(default_factory=dict)
    timeline: list[TimelineEntry] = Field(default_factory=list)
    flags: list[Flag] = Field(default_factory=list)
    opportunities: dict[str, OpportunityState] = Field(default_factory=dict)
    recent: dict[str, list[RecentSignal]] = Field(
        default_factory=dict,
        description="The latest signals of every type, newest first (bounded per type).",
    )


class SuppressionChange(BaseModel):
    """Published on ``suppression.changes`` when a customer's flags change.

    Bots subscribe to this instead of polling: ``raised`` and ``cleared`` name
    the rules, ``flags`` is the full current set with reasons.
    """

    customer_id: str
    state_version: int
    changed_at: AwareDatetime
    raised: list[str]
    cleared: list[str]
    flags: list[Flag]
