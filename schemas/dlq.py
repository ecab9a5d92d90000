"""The dead-letter record: a raw event that could not become a signal, and why.

Published on ``signals.dlq`` so that nothing is lost: every raw event is either
a canonical signal or one of these, and the counts add up. ``original`` keeps
the exact bytes (base64) so a fixed contract can replay them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

__all__ = ["DeadLetter", "DeadLetterKind"]

DeadLetterKind = Literal[
    "invalid_json",
    "missing_field",
    "wrong_type",
    "unknown_type",
    "oversized",
    "invalid_value",
    "unknown_source",
]


class DeadLetter(BaseModel):
    """One rejected raw event with a human reason and where it came from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    contract_version: int | None = None
    topic: str
    partition: int | None = None
    offset: int | None = None
    key: str | None = None
    reason: str = Field(description="A sentence a source team can act on.")
    field: str | None = Field(default=None, description="Raw path (or canonical field).")
    expected: str | None = None
    found: str | None = None
    error_kind: DeadLetterKind
    original: str = Field(description="Base64 of the original message value.")
    at: AwareDatetime
