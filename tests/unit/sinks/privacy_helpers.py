"""An ASGI client and a fake policy for the privacy tests (export, PII in the log)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import httpx
from fastapi import FastAPI

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


class Client:
    """A synchronous client on the ASGI transport: the real app, no socket."""

    def __init__(self, app: FastAPI) -> None:
        self._transport = httpx.ASGITransport(app=app)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            async with httpx.AsyncClient(transport=self._transport, base_url="http://t") as c:
                return await c.request(method, url, **kwargs)

        return asyncio.run(send())

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)
