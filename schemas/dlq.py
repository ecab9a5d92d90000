"""What ingest sets aside: dead letters, and warnings about dropped traits.

A :class:`DeadLetter` is published on ``signals.dlq`` so that nothing is lost:
every raw event is either a canonical signal or one of these, and the counts
add up. ``original`` keeps the exact bytes (base64) so a fixed contract can
replay them — up to ``EXCERPT_BYTES``: a larger event keeps an excerpt, its
size and SHA-256 (``truncated``), and the pointer (topic, partition, offset)
to the full event, so a dead letter always fits the topic it goes to.

A :class:`FieldWarning` is published on ``signals.warnings`` for an optional
trait that did not fit (a birth date in no known form): the event is a
canonical signal without that trait, and the warning says which field, what
was expected and what kind of value was found — never the value itself, so
it carries no personal data. Both read ``source `s`: field `f`: expected …,
found …``.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

__all__ = [
    "EXCERPT_BYTES",
    "DeadLetter",
    "DeadLetterKind",
    "FieldWarning",
    "kept_bytes",
    "letter_key",
]

#: The most of an event's bytes a dead letter keeps (base64 makes it a third larger);
#: with the reason and the pointer, a letter stays far below Kafka's 1 MB default.
EXCERPT_BYTES = 64 * 1024

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
    original: str = Field(description="Base64 of the original message value (or its excerpt).")
    truncated: bool = Field(
        default=False, description="`original` is the first bytes only (see `original_bytes`)."
    )
    original_bytes: int | None = Field(default=None, description="Size of the whole value.")
    original_sha256: str | None = Field(default=None, description="Digest of the whole value.")
    sealed: bool = Field(
        default=False,
        description="`original`, `key` and `found` are base64 of values sealed with the key of the "
        "record `source:key` (privacy/sealing.py): erasing the person makes them unreadable.",
    )
    at: AwareDatetime


def kept_bytes(raw: bytes | None) -> dict[str, Any]:
    """The ``original`` fields of a dead letter for ``raw``: all of it, or an excerpt.

    >>> kept_bytes(b"{}")["original"], kept_bytes(b"x" * (EXCERPT_BYTES + 1))["truncated"]
    ('e30=', True)
    """
    value = bytes(raw or b"")
    if len(value) <= EXCERPT_BYTES:
        return {"original": base64.b64encode(value).decode("ascii")}
    return {
        "original": base64.b64encode(value[:EXCERPT_BYTES]).decode("ascii"),
        "truncated": True,
        "original_bytes": len(value),
        "original_sha256": hashlib.sha256(value).hexdigest(),
    }


def letter_key(key: bytes | None) -> bytes | None:
    """The Kafka key of a dead letter: a digest of the raw record's key, never the key itself.

    Raw keys are often an email or a phone number; a key is shown wherever a
    topic is listed, compacted or partitioned, so it carries ``sha256:<hex>``
    instead (the same raw key gives the same digest, so a source record's
    letters still share a partition). This is the unkeyed form, for a stage with
    no key log; ingest keys it with the deployment's secret
    (``privacy.sealing.SubjectIds.letter_key``), since its letters' values are
    sealed and erasure leaves the key alone.

    >>> letter_key(b"jane@example.com")[:15], letter_key(None), letter_key(b"")
    (b'sha256:8c87b489', None, None)
    """
    if not key:
        return None
    return b"sha256:" + hashlib.sha256(key).hexdigest().encode("ascii")


class FieldWarning(BaseModel):
    """One optional trait dropped from a mapped event, with where the event came from.

    ``found`` describes the value's kind (``a string of 8 digits``), never its content.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    contract_version: int | None = None
    signal_id: str
    source_event_id: str
    topic: str
    partition: int | None = None
    offset: int | None = None
    trait: str
    reason: str = Field(description="A sentence a source team can act on.")
    field: str = Field(description="Raw path the trait was read from.")
    expected: str
    found: str = Field(description="What kind of value was found, not the value.")
    error_kind: DeadLetterKind
    at: AwareDatetime
