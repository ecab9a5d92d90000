"""What the commands that talk to a serving replica share: its refusals in one line."""

from __future__ import annotations

from typing import Any

from signalfold.errors import SignalfoldError

__all__ = ["refused"]


def refused(command: str, what: str, response: Any) -> SignalfoldError:
    """The API's refusal in one line: its message, never the values the request carried."""
    try:
        message = response.json()["detail"][0]["message"]
    except (ValueError, KeyError, IndexError, TypeError):
        message = f"HTTP {response.status_code}"
    return SignalfoldError(f"{command}: {what}: {message} (HTTP {response.status_code})")
