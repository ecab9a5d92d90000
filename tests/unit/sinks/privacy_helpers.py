"""An ASGI client and a fake policy for the privacy tests (export, PII in the log)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from asgi_client import Client

from signalfold.schemas import CustomerState, SuppressionDecision

__all__ = ["Client", "fake_decide"]


def fake_decide(
    state: CustomerState | None, *, channel: str, purpose: str, now: datetime, **_: Any
) -> SuppressionDecision:
    """Allow everyone; enough to see what is logged."""
    return SuppressionDecision(
        outcome="allow",
        allowed=True,
        channel=channel,  # type: ignore[arg-type]
        purpose=purpose,  # type: ignore[arg-type]
        reasons=[],
        customer_id=state.customer_id if state else None,
        state_version=state.version if state else None,
        known=state is not None,
        evaluated_at=now,
    )
