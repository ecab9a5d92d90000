"""Request and response envelopes of the decision routes (check, batch, explain, log).

The decision itself is ``signalfold.schemas.SuppressionDecision``, a log row
``signalfold.schemas.decision_log.LoggedDecision`` (a topic value, so it lives
in ``schemas/``; re-exported here); these are the HTTP wrappers around them.
"""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, Field

from signalfold.schemas import Channel, Flag, Purpose, SuppressionDecision
from signalfold.schemas.decision_log import LoggedDecision
from signalfold.sinks.models import (
    MAX_BATCH_CHECKS,
    MAX_CUSTOMER_ID_CHARS,
    MAX_ID_CHARS,
    CheckError,
)

__all__ = [
    "DecisionBatchRequest",
    "DecisionBatchResponse",
    "DecisionBatchResult",
    "DecisionExplanation",
    "DecisionLogPage",
    "DecisionQuery",
    "LoggedDecision",
]


class DecisionQuery(BaseModel):
    """One question. Name the person by exactly one of ``email``, ``phone``,
    ``customer_id`` (as signalfold gives them: ``cus_`` and 20 hex digits), or
    ``type`` + ``value`` (an identifier type a source contract declares, e.g.
    ``crm_contact_id``); say what the message promotes with ``product_id`` /
    ``category`` when a product-specific hold (a defective return) should apply.
    A type no contract declares, or a customer id of another shape that no
    customer has, is a 422 that names what is accepted: a typo never becomes
    the unknown-customer answer. Values are at most 320 characters (customer
    ids 64): a longer one is a 422, never a lookup.
    """

    email: str | None = Field(default=None, max_length=MAX_ID_CHARS)
    phone: str | None = Field(default=None, max_length=MAX_ID_CHARS)
    customer_id: str | None = Field(default=None, max_length=MAX_CUSTOMER_ID_CHARS)
    type: str | None = Field(
        default=None,
        max_length=MAX_ID_CHARS,
        description="identifier type a source contract declares, with `value`",
    )
    value: str | None = Field(default=None, max_length=MAX_ID_CHARS)
    channel: Channel
    purpose: Purpose
    product_id: str | None = Field(default=None, max_length=MAX_ID_CHARS)
    category: str | None = Field(default=None, max_length=MAX_ID_CHARS)


class DecisionBatchRequest(BaseModel):
    """Up to 10,000 questions (a send list, mixed identifiers), answered in order."""

    checks: list[DecisionQuery] = Field(max_length=MAX_BATCH_CHECKS)


class DecisionBatchResult(BaseModel):
    """The answer to ``checks[index]``: a decision, or an error for that question alone."""

    index: int
    decision: SuppressionDecision | None = None
    error: CheckError | None = None


class DecisionBatchResponse(BaseModel):
    results: list[DecisionBatchResult]
    counts: dict[str, int] = Field(description="How many allow / deny / defer / error.")


class DecisionExplanation(BaseModel):
    """A decision for support staff: the answer, and every flag the customer carries now."""

    decision: SuppressionDecision
    flags: list[Flag] = Field(description="All current flags, whatever channel they cover.")
    aliases: list[str] = Field(default_factory=list)
    state_updated_at: AwareDatetime | None = None


class DecisionLogPage(BaseModel):
    """Logged decisions, newest first."""

    items: list[LoggedDecision]
