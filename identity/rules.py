"""Merge protection: which identifiers may join records, and how many per customer.

Identifiers shared by many people (role mailboxes, placeholders, a call-centre
number) would fold strangers into one customer; the blocklist stops them from
identifying anyone. Per-type limits catch what the blocklist misses: a customer
with two CRM contact ids is two people, so a link that would create one is
refused (``IdentityGraph`` records the refusal).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["DEFAULT_BLOCKED_EMAIL_LOCALS", "DEFAULT_LIMITS", "MatchRules"]

DEFAULT_LIMITS: Mapping[str, int] = MappingProxyType(
    {"crm_contact_id": 1, "support_user_id": 3, "email": 5, "phone": 5}
)
DEFAULT_BLOCKED_EMAIL_LOCALS: frozenset[str] = frozenset(
    {"info", "noreply", "no-reply", "donotreply", "do-not-reply", "test", "admin", "sales",
     "support"}
)  # fmt: skip
_DEFAULT_BLOCKED_KEYS: frozenset[str] = frozenset({"email:test@example.com"})
_DEFAULT_BLOCKED_PATTERNS: tuple[str, ...] = (
    r"^phone:\+\d{1,3}(\d)\1{5,}$",  # country code, then one digit repeated: +447777777777
    r"^phone:\+\d{1,3}0{6,}\d{0,2}$",  # country code, then (almost) all zeros
)


@dataclass(frozen=True)
class MatchRules:
    """What may identify a customer; pass one to ``IdentityGraph`` (defaults are safe).

    - ``limits``: the most distinct values of a type one customer may hold;
      types not listed use ``default_limit`` (``None``: unlimited).
    - ``blocked_keys``: exact normalised keys (``email:test@example.com``).
    - ``blocked_email_locals``: role mailboxes blocked at any domain
      (``info`` blocks ``info@acme.com`` and ``info+eu@acme.com``).
    - ``blocked_patterns``: regexes matched against the whole key.
    - ``max_people``: a key that more than this many otherwise distinct
      customers carried (each kept apart by another rule) stops identifying.
    """

    limits: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    default_limit: int | None = 10
    blocked_keys: frozenset[str] = _DEFAULT_BLOCKED_KEYS
    blocked_email_locals: frozenset[str] = DEFAULT_BLOCKED_EMAIL_LOCALS
    blocked_patterns: tuple[str, ...] = _DEFAULT_BLOCKED_PATTERNS
    max_people: int = 3
    _compiled: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "limits", MappingProxyType(dict(self.limits)))
        object.__setattr__(self, "_compiled", tuple(re.compile(p) for p in self.blocked_patterns))

    def __hash__(self) -> int:
        limits = tuple(sorted(self.limits.items()))
        patterns = self.blocked_patterns
        return hash((limits, self.default_limit, self.blocked_keys, patterns, self.max_people))

    def limit_for(self, identifier_type: str) -> int | None:
        """The most distinct values of ``identifier_type`` one customer may hold."""
        return self.limits.get(identifier_type, self.default_limit)

    def is_blocked(self, key: str) -> str | None:
        """Why ``key`` (``type:value``, normalised) never identifies anyone, or ``None``.

        The reason never repeats the value, so it can be logged and published.

        >>> MatchRules().is_blocked("email:info@acme.com")
        'blocked: role mailbox info@'
        """
        if key in self.blocked_keys:
            return "blocked: listed value"
        identifier_type, _, value = key.partition(":")
        if identifier_type == "email" and "@" in value:
            local = value.split("@", 1)[0].split("+", 1)[0]
            if local in self.blocked_email_locals:
                return f"blocked: role mailbox {local}@"
        for number, pattern in enumerate(self._compiled):
            if pattern.search(key):
                return f"blocked: matches pattern #{number} ({pattern.pattern})"
        return None
