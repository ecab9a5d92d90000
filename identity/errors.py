"""Failures the identity library reports on purpose.

Every message names the identifier type, what was expected and what was found,
and never carries the raw value: at most a redacted form such as
``j***@example.com``, so the message is safe to log.
"""

from __future__ import annotations

from signalfold.errors import SignalfoldError

__all__ = ["IdentityError", "InvalidIdentifier", "redact"]


class IdentityError(SignalfoldError):
    """Root of the identity library's errors."""


class InvalidIdentifier(IdentityError):
    """An identifier that cannot be normalised; it is dropped from matching.

    ``identifier_type`` and ``reason`` are PII-free and meant to be reported
    (``Resolution.rejected``); ``redacted`` is a masked hint of the value.
    """

    def __init__(self, identifier_type: str, reason: str, *, redacted: str | None = None) -> None:
        self.identifier_type = identifier_type
        self.reason = reason
        self.redacted = redacted
        shown = f" {redacted!r}" if redacted else ""
        super().__init__(
            f"{identifier_type} identifier{shown} rejected: {reason}; "
            "it is dropped from matching — fix it at the source or in its contract mapping"
        )


def redact(identifier_type: str, value: str) -> str:
    """Mask a raw value for messages: ``jane@example.com`` → ``j***@example.com``.

    Emails keep the first character and the domain (enough to recognise a
    typo'd domain); anything else keeps at most its last two characters.
    """
    value = value.strip()
    if not value:
        return "<empty>"
    if identifier_type == "email" and value.count("@") == 1:
        local, domain = value.split("@")
        return f"{local[:1]}***@{domain}"
    tail = value[-2:] if len(value) > 4 else ""
    return f"***{tail}"
