"""Failures of the ingest stage: a raw event that cannot become a canonical signal,
and an optional trait set aside while its event still maps.

Both read the same way (:func:`reason`): the source, the field, what was
expected and what was found, then the event, e.g. ``source `crm`: field `dob`:
expected a date formatted '%Y%m%d' like '20261120', found a string of 7 digits
(event 17)``. A dead letter shows what was found (its original bytes are kept
for replay anyway); a warning only says what kind of value it was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from signalfold.schemas.dlq import DeadLetterKind
from signalfold.streams.errors import StreamsError

__all__ = [
    "DroppedTrait",
    "ErrorKind",
    "MappingError",
    "describe_value",
    "found_text",
    "reason",
    "unknown_source_error",
]

ErrorKind = DeadLetterKind  # one closed set, defined with the DLQ record

_MAX_FOUND = 80
_SHAPE = str.maketrans("0123456789", "9999999999")
_LETTER = re.compile(r"[^\W\d_]")


def found_text(value: Any) -> str:
    """``repr`` of a raw value cut to 80 characters, for messages and DLQ records."""
    if value is None:
        return "nothing"
    text = repr(value)
    return text if len(text) <= _MAX_FOUND else text[: _MAX_FOUND - 3] + "..."


def describe_value(value: Any) -> str:
    """What kind of value ``value`` is, without any of its content.

    For warnings, which must never echo personal data: ``"19361218"`` → ``a
    string of 8 digits``, ``"1945-70-03"`` → ``a string shaped 9999-99-99``,
    ``{"a": 1}`` → ``an object with 1 key(s)``.
    """
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return f"an integer of {len(str(abs(value)))} digits"
    if isinstance(value, float):
        return "a decimal number"
    if isinstance(value, list):
        return f"an array of {len(value)} item(s)"
    if isinstance(value, dict):
        return f"an object with {len(value)} key(s)"
    if not isinstance(value, str):
        return f"a {type(value).__name__}"
    if not value.strip():
        return "an empty string" if not value else "a blank string"
    if value.isdigit():
        return f"a string of {len(value)} digits"
    if _LETTER.search(value) is None and len(value) <= 32:
        return f"a string shaped {value.translate(_SHAPE)}"
    return f"a string of {len(value)} characters"


def reason(
    source: str, field: str | None, expected: str, found: str, event_id: str | None = None
) -> str:
    """The one sentence shape of dead-letter reasons and warnings."""
    where = f"field `{field}`: " if field else ""
    event = f" (event {event_id})" if event_id else ""
    return f"source `{source}`: {where}expected {expected}, found {found}{event}"


class MappingError(StreamsError):
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
        super().__init__(reason(source, field, expected, found, event_id))


@dataclass(frozen=True, slots=True)
class DroppedTrait:
    """An optional trait left out of a mapped event: where, why, and what kind of value.

    ``found`` is a :func:`describe_value` description, never the value itself.
    """

    trait: str
    field: str
    kind: ErrorKind
    expected: str
    found: str

    def reason(self, source: str, event_id: str | None) -> str:
        """The warning sentence: :func:`reason`, then what happened to the trait."""
        text = reason(source, self.field, self.expected, self.found, event_id)
        return f"{text}; trait `{self.trait}` dropped, the event mapped without it"


def unknown_source_error(source: str, known: list[str] | tuple[str, ...]) -> MappingError:
    """The error for a raw topic no contract claims, so its events still reach the DLQ."""
    return MappingError(
        source=source,
        kind="unknown_source",
        expected=f"a source with a contract ({', '.join(sorted(known)) or 'none loaded'})",
        found=found_text(source),
    )
