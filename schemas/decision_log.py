"""``LoggedDecision``: one row of ``decisions.log``, the audit of every answer the API gave."""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, Field

__all__ = ["LoggedDecision"]


class LoggedDecision(BaseModel):
    """One answer the API gave: to which surface, about whom, and why.

    ``request`` never holds the identifier the question named: it keeps
    ``identifier_type`` and ``identifier_hash`` (HMAC-SHA256 of the normalised
    identifier under the deployment's ``SIGNALFOLD_PII_HASH_KEY``) beside the
    channel, purpose, product and category; a question by customer id keeps it.
    """

    log_id: str
    logged_at: AwareDatetime
    surface: str
    customer_id: str | None
    channel: str
    purpose: str
    outcome: str
    state_version: int | None
    request: dict[str, Any] = Field(
        description="The question without its identifier value: `identifier_type` and "
        "`identifier_hash`, or `customer_id`; `channel`, `purpose`, `product_id`, `category`."
    )
    decision: dict[str, Any]
