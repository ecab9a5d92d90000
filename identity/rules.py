"""Merge protection: which identifiers may join records, and how many per customer.

Identifiers shared by many people would fold strangers into one customer.
Placeholders (``test@example.com``, ``+447777777777``) never identify anyone:
the blocklist drops them. Role mailboxes (``info@``, ``accounts@``,
``team-*@``: a list in configuration, ``signalfold/defaults/identity.yaml`` or
``SIGNALFOLD_IDENTITY_RULES_FILE``) are organisation values: kept, shown as a
relationship between the colleagues who share one, never a join. What no list
names is learned (``identity._overlay``: a value seen with clearly different
people stops joining on its own; a mailbox at an organisation's domain that
shows none of its holders' names joins only records whose names agree).
Mail providers where anyone can open a personal mailbox
(``personal_mail_domains``) are exempt from that: their local parts are
chosen, not assigned. Per-type limits catch the rest: a customer
with two CRM contact ids is two people, so a link that would create one is
refused (``IdentityGraph`` records the refusal).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from types import MappingProxyType
from typing import Any

from signalfold.identity.errors import IdentityError

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_PERSONAL_MAIL_DOMAINS",
    "DEFAULT_ROLE_MAILBOXES",
    "MatchRules",
    "RulesFileError",
]

DEFAULT_LIMITS: Mapping[str, int] = MappingProxyType(
    {"crm_contact_id": 1, "support_user_id": 3, "email": 5, "phone": 5}
)
#: The minimum when no rules file is read; the shipped ``identity.yaml`` lists more.
DEFAULT_ROLE_MAILBOXES: frozenset[str] = frozenset(
    {"info", "noreply", "no-reply", "donotreply", "do-not-reply", "test", "admin", "sales",
     "support"}
)  # fmt: skip
#: Consumer mail providers (shell patterns): a mailbox there is one person's, whatever
#: its local part says. The shipped ``identity.yaml`` lists more.
DEFAULT_PERSONAL_MAIL_DOMAINS: frozenset[str] = frozenset(
    {"gmail.com", "googlemail.com", "outlook.*", "hotmail.*", "live.*", "yahoo.*",
     "icloud.com", "me.com", "aol.com", "proton.me", "protonmail.com", "gmx.*"}
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
    - ``role_mailboxes``: local parts (shell patterns: ``team-*``) of role
      mailboxes at any domain (``info`` names ``info@acme.com`` and
      ``info+eu@acme.com``): organisation values, never a join.
    - ``blocked_patterns``: regexes matched against the whole key.
    - ``max_people``: a key that more than this many otherwise distinct
      customers carried (each kept apart by another rule) stops identifying.
    - ``personal_mail_domains``: domains (shell patterns: ``yahoo.*``) of
      consumer mail providers. Elsewhere a mailbox whose local part shows
      none of its holders' names (``studio@acme.com`` held by Ann Lee) may be
      a role's, so it joins only records whose names agree.
    """

    limits: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    default_limit: int | None = 10
    blocked_keys: frozenset[str] = _DEFAULT_BLOCKED_KEYS
    role_mailboxes: frozenset[str] = DEFAULT_ROLE_MAILBOXES
    blocked_patterns: tuple[str, ...] = _DEFAULT_BLOCKED_PATTERNS
    max_people: int = 3
    personal_mail_domains: frozenset[str] = DEFAULT_PERSONAL_MAIL_DOMAINS
    _compiled: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)
    _roles: tuple[frozenset[str], tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "limits", MappingProxyType(dict(self.limits)))
        object.__setattr__(self, "_compiled", tuple(re.compile(p) for p in self.blocked_patterns))
        wild = tuple(sorted(e for e in self.role_mailboxes if any(c in e for c in "*?[")))
        object.__setattr__(self, "_roles", (self.role_mailboxes - set(wild), wild))

    def __hash__(self) -> int:
        limits = tuple(sorted(self.limits.items()))
        patterns = self.blocked_patterns
        return hash((limits, self.default_limit, self.blocked_keys, patterns, self.max_people,
                     self.role_mailboxes, self.personal_mail_domains))  # fmt: skip

    def limit_for(self, identifier_type: str) -> int | None:
        """The most distinct values of ``identifier_type`` one customer may hold."""
        return self.limits.get(identifier_type, self.default_limit)

    def is_blocked(self, key: str) -> str | None:
        """Why ``key`` (``type:value``, normalised) never identifies anyone, or ``None``.

        The reason never repeats the value, so it can be logged and published.

        >>> MatchRules().is_blocked("email:test@example.com")
        'blocked: listed value'
        """
        if key in self.blocked_keys:
            return "blocked: listed value"
        for number, pattern in enumerate(self._compiled):
            if pattern.search(key):
                return f"blocked: matches pattern #{number} ({pattern.pattern})"
        return None

    def role_mailbox(self, key: str) -> str | None:
        """The role-mailbox entry ``key`` matches (``info``, ``team-*``), or ``None``.

        >>> MatchRules().role_mailbox("email:info+eu@acme.com")
        'info'
        """
        identifier_type, _, value = key.partition(":")
        if identifier_type != "email" or "@" not in value:
            return None
        local = value.split("@", 1)[0].split("+", 1)[0]
        exact, wild = self._roles
        if local in exact:
            return local
        return next((entry for entry in wild if fnmatchcase(local, entry)), None)

    def personal_domain(self, domain: str) -> bool:
        """Whether ``domain`` is a consumer mail provider's (anyone's own mailbox).

        >>> MatchRules().personal_domain("yahoo.co.uk"), MatchRules().personal_domain("acme.com")
        (True, False)
        """
        return any(fnmatchcase(domain, entry) for entry in self.personal_mail_domains)

    @classmethod
    def from_mapping(cls, data: Any, *, file: str) -> MatchRules:
        """Rules from a parsed rules file (``identity.yaml``); ``file`` names it in errors.

        Keys: ``role_mailboxes`` (list), ``blocked_values`` (list of ``type:value``),
        ``blocked_patterns`` (list of regexes), ``limits`` (type → int),
        ``default_limit`` (int or null), ``max_people`` (int),
        ``personal_mail_domains`` (list).
        """
        known = {"role_mailboxes", "blocked_values", "blocked_patterns", "limits",
                 "default_limit", "max_people", "personal_mail_domains"}  # fmt: skip
        if not isinstance(data, dict):
            raise RulesFileError(
                f"{file}: expected a mapping of rules, found {type(data).__name__}"
            )
        if unknown := sorted(set(data) - known):
            raise RulesFileError(
                f"{file}: expected only {sorted(known)}, found {unknown}; check the spelling"
            )
        lists = {}
        for name in ("role_mailboxes", "blocked_values", "blocked_patterns",
                     "personal_mail_domains"):  # fmt: skip
            value = data.get(name, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise RulesFileError(f"{file}: `{name}` expected a list of strings")
            lists[name] = value
        for pattern in lists["blocked_patterns"]:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise RulesFileError(
                    f"{file}: `blocked_patterns` expected regexes, found one that fails ({exc})"
                ) from exc
        limits = data.get("limits", dict(DEFAULT_LIMITS))
        if not isinstance(limits, dict) or not all(
            isinstance(v, int) and v >= 1 for v in limits.values()
        ):
            raise RulesFileError(f"{file}: `limits` expected identifier type → whole number ≥ 1")
        return cls(
            limits=limits,
            default_limit=data.get("default_limit", 10),
            blocked_keys=frozenset(lists["blocked_values"]),
            role_mailboxes=frozenset(v.lower() for v in lists["role_mailboxes"]),
            blocked_patterns=tuple(lists["blocked_patterns"]) or _DEFAULT_BLOCKED_PATTERNS,
            max_people=int(data.get("max_people", 3)),
            personal_mail_domains=frozenset(
                v.lower() for v in data.get("personal_mail_domains", DEFAULT_PERSONAL_MAIL_DOMAINS)
            ),
        )


class RulesFileError(IdentityError):
    """An identity rules file is malformed; the message names the file and the rule."""
