"""Request and response envelopes of the serving API.

The things inside them (``Signal``, ``CustomerState``, ``SuppressionDecision``,
``IdentityChange``) are the schemas from ``signalfold.schemas``; only the
paging and batching wrappers, which exist for HTTP alone, are defined here.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from signalfold.schemas import IdentityChange, Signal

__all__ = [
    "MAX_BATCH_CHECKS",
    "MAX_CURSOR_CHARS",
    "MAX_CUSTOMER_ID_CHARS",
    "MAX_ID_CHARS",
    "CheckError",
    "IdentityExplanation",
    "Problem",
    "ProblemReport",
    "RefusalReport",
    "ServiceStatus",
    "TimelineItem",
    "TimelinePage",
]

MAX_BATCH_CHECKS = 10_000

MAX_ID_CHARS = 320
"""Longest identifier, record id, product id or category a request may name.

As long as an identifier a signal may carry (``schemas.Identifier.value``):
a longer value can belong to nobody, so it is a 422 rather than "unknown".
"""

MAX_CUSTOMER_ID_CHARS = 64
"""Longest customer id a request may name (signalfold's are ``cus_`` + 20 hex digits)."""

MAX_CURSOR_CHARS = 256
"""Longest timeline cursor (the ones handed out are under 100 characters)."""


class TimelineItem(BaseModel):
    """One signal of a customer's history and the customer id it was resolved to then."""

    customer_id: str
    signal: Signal


class TimelinePage(BaseModel):
    """A page of history, newest first. Pass ``next_cursor`` back to get the next page."""

    customer_id: str
    customer_ids: list[str] = Field(description="The customer and every id merged into it.")
    items: list[TimelineItem]
    next_cursor: str | None = None


class IdentityExplanation(BaseModel):
    """The identity changes that built a customer, oldest first: why these records are one."""

    customer_id: str
    customer_ids: list[str] = Field(description="The customer and every id merged into it.")
    changes: list[IdentityChange]


class CheckError(BaseModel):
    """Why one question could not be answered: the field, what was expected, what was found."""

    field: str | None
    expected: str
    found: str | None
    message: str


class Problem(BaseModel):
    """One mistake in a request; every 422's ``detail`` items have this shape.

    ``found`` says what kind of value came (``a string of 3 characters``,
    ``nothing``), never the value; ``message`` ends with the next step.
    """

    type: str = Field(description="`missing`, `literal_error`, `invalid_identifier`, …")
    loc: list[str | int] = Field(description="Where: `query`/`body`, then the field path.")
    field: str | None
    expected: str
    found: str | None
    message: str


class ProblemReport(BaseModel):
    """A 422: the first mistakes found (at most 20) and, for parameter errors, how many."""

    detail: list[Problem]
    error_count: int | None = None


class RefusalReport(BaseModel):
    """The body of a 401, 403, 404 or 503: one ``Problem`` whose ``type`` says which
    (``unauthenticated``, ``forbidden``, ``customer_not_found``, ``broker_unavailable``)."""

    detail: list[Problem]


class ServiceStatus(BaseModel):
    """Liveness / readiness of a serving replica."""

    status: str
    caught_up: bool
    applied: int
    skipped: int
    detail: str | None = None
