"""One request on a FastAPI app through httpx's ASGI transport: the real app, no socket.

Shared by the API's unit tests (import by module name: ``from asgi_client import call``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

__all__ = ["Client", "call"]


def call(app: Any, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """``method url`` on ``app``, answered in process."""

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.request(method, url, **kwargs)

    return asyncio.run(send())


class Client:
    """``call`` bound to one app, with ``get`` and ``post`` like httpx's client."""

    def __init__(self, app: Any) -> None:
        self._app = app

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return call(self._app, method, url, **kwargs)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)
