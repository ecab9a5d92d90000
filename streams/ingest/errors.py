"""Failures of the ingest stage: a raw event that cannot become a canonical signal."""

from __future__ import annotations

from typing import Any

from signalfold.errors import SignalfoldError
from signalfold.schemas.dlq import DeadLetterKind

__all__ = ["ErrorKind", "MappingError", "found_text", "unknown_source_error"]

ErrorKind = DeadLetterKind  # one closed set, defined with the DLQ record

_MAX_FOUND = 80


def found_text(value: Any) -> str:
    """``repr`` of a raw value cut to 80 characters, for messages and DLQ records."""
    if value is None:
        return "nothing"
    text = repr(value)
    return text if len(text) <= _MAX_FOUND else text[: _MAX_FOUND - 3] + "..."


class MappingError(SignalfoldError):
    """A raw event does not fit its source contract; it goes to the DLQ with this reason.

    ``field`` is the path in the raw event when known (``ticket.priority``), else
    the canonical field; ``found`` is already cut to 80 characters.
    """

    def __init__(
        self,
        *,
        source: str,
        kind: ErrorKind,
        expected: str,
        found: str,
        field: str | None = None,
        event_id: str | None = None,
    ) -> None:
        self.source = source
        self.kind: ErrorKind = kind
        self.expected = expected
        self.found = found
        self.field = field
        self.event_id = event_id
        where = f"field `{field}`: " if field else ""
        event = f" (event {event_id})" if event_id else ""
        super().__init__(f"source `{source}`: {where}expected {expected}, found {found}{event}")


def unknown_source_error(source: str, known: list[str] | tuple[str, ...]) -> MappingError:
    """The error for a raw topic no contract claims, so its events still reach the DLQ."""
    return MappingError(
        source=source,
        kind="unknown_source",
        expected=f"a source with a contract ({', '.join(sorted(known)) or 'none loaded'})",
        found=found_text(source),
    )
