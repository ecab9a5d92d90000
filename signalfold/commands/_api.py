"""What the commands that talk to a serving replica share: who they ask about, the
client (``--url``, ``--key-file``, ``--timeout``), and its refusals in one line."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from signalfold.errors import SignalfoldError
from signalfold.settings import Settings

if TYPE_CHECKING:
    import httpx

__all__ = ["api_client", "api_url", "identifier", "refused"]


def identifier(args: argparse.Namespace, command: str) -> tuple[str, str]:
    """The (type, value) of ``--email``, ``--phone`` or ``--type``/``--value``."""
    if args.email:
        return "email", args.email
    if args.phone:
        return "phone", args.phone
    if args.type is None or args.value is None:
        raise SignalfoldError(
            f"{command}: give --type and --value together (e.g. --type crm_contact_id)"
        )
    return args.type, args.value


def api_url(args: argparse.Namespace, settings: Settings) -> str:
    """``--url``, else the local API of the settings."""
    return str(args.url or f"http://{settings.api_host}:{settings.api_port}")


def api_client(args: argparse.Namespace, settings: Settings) -> httpx.Client:
    """A client for the serving API with the key of ``--key-file`` (if given)."""
    import httpx

    headers = {}
    if args.key_file is not None:
        headers["X-API-Key"] = Path(args.key_file).read_text(encoding="utf-8").strip()
    return httpx.Client(base_url=api_url(args, settings), headers=headers, timeout=args.timeout)


def refused(command: str, what: str, response: Any) -> SignalfoldError:
    """The API's refusal in one line: its message, never the values the request carried."""
    try:
        message = response.json()["detail"][0]["message"]
    except (ValueError, KeyError, IndexError, TypeError):
        message = f"HTTP {response.status_code}"
    return SignalfoldError(f"{command}: {what}: {message} (HTTP {response.status_code})")
