"""Shared helpers for the ingest unit tests: shipped contracts, a fixed clock, a mapper."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from signalfold.schemas.contract import SourceContract, load_contracts
from signalfold.schemas.signal import Signal
from signalfold.streams.ingest import map_event

__all__ = ["MAX", "NOW", "contract_file", "contracts", "map_json", "support_event"]

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
MAX = 256 * 1024

MINIMAL = """\
name: {name}
version: 1
owner: test-team
record_key: user.id
event_id: id
occurred_at: {{path: at, format: "{fmt}"{tz}}}
identifiers:
  - {{type: email, path: user.email}}
type:
  field: kind
  map: {{opened: support.ticket.opened}}
payloads:
  support.ticket.opened:
    ticket_id: ticket.id
"""


@cache
def contracts() -> dict[str, SourceContract]:
    """The shipped contracts, loaded once per test session."""
    return load_contracts()


def map_json(source: str, body: Any, max_bytes: int = MAX) -> Signal:
    """Map a JSON-able body with the shipped contract of ``source``."""
    raw = json.dumps(body).encode()
    return map_event(contracts()[source], raw, received_at=NOW, max_bytes=max_bytes)


def contract_file(
    tmp: Path, name: str = "billing", fmt: str = "iso", tz: str | None = "UTC", text: str = ""
) -> Path:
    """Write a small valid contract (or ``text`` when given) to ``tmp/<name>.yaml``."""
    zone = f", timezone: {tz}" if tz else ""
    path = tmp / f"{name}.yaml"
    path.write_text(text or MINIMAL.format(name=name, fmt=fmt, tz=zone), encoding="utf-8")
    return path


def support_event(**changes: Any) -> dict[str, Any]:
    """A valid helpdesk ``ticket_created`` event with top-level ``changes`` applied."""
    event: dict[str, Any] = {
        "id": 17,
        "type": "ticket_created",
        "created": "20/11/2026 10:00:00",
        "requester": {"id": 1234, "phone": "07700 900123", "name": "Jane Doe"},
        "ticket": {"id": 5501, "priority": "High", "status": "open", "subject": "Broken kettle"},
    }
    event.update(changes)
    return event
