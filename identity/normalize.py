"""Identifier normalisation: pure functions, no I/O.

Two spellings of the same identifier must give the same string, or strong
matching silently misses people; a value that is not an identifier at all must
be rejected (``InvalidIdentifier``), never guessed. Provider-specific email
rules apply only where the provider defines them (Gmail ignores dots and
``+tags``); everyone else's local part is kept as written, lowercased.

The text folds (``fold_text``, ``fold_name``, ``fold_company``) live in
``identity._folding`` and are re-exported here; they prepare traits for
probabilistic matching and never decide a match on their own.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

import phonenumbers

from signalfold.identity._folding import fold_company, fold_name, fold_text
from signalfold.identity.errors import InvalidIdentifier, redact
from signalfold.schemas.signal import Identifier, Trust

__all__ = [
    "NormalizedId",
    "fold_company",
    "fold_name",
    "fold_text",
    "normalize_email",
    "normalize_identifier",
    "normalize_phone",
]

_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
_SPACE_RE = re.compile(r"\s")  # Unicode whitespace: exactly what ``str.isspace`` says
_LOCAL_RE = re.compile(r"^[\w!#$%&'*+/=?^`{|}~.-]+$")
_LABEL_RE = re.compile(r"^[^\W_](?:[^\W_]|-)*(?<!-)$")
_ASCENDING = "01234567890"
_MIN_PLACEHOLDER_RUN = 6
_Rejection = tuple[str, str, str | None]  # (identifier type, reason, redacted value)


@dataclass(frozen=True)
class NormalizedId:
    """An identifier in its canonical form; ``key`` (``type:value``) is what the graph indexes."""

    type: str
    value: str
    trust: Trust
    key: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", f"{self.type}:{self.value}")


# Characters that print as nothing and that no address or number contains: a BOM a
# file export left, zero-width spaces and joiners a paste carried, NULs. Dropped
# before checking, so ``\ufeffjane@example.com`` is Jane's address, not a reject.
_INVISIBLE = dict.fromkeys(map(ord, "\ufeff\u200b\u200c\u200d\u2060\u00ad\x00"))


def _clean(raw: str) -> str:
    return unicodedata.normalize("NFKC", raw.translate(_INVISIBLE)).strip()


def normalize_email(raw: str, *, provider_rules: bool = True) -> str:
    """Canonical email: trimmed, NFKC, lowercased, syntax-checked.

    With ``provider_rules``, Gmail addresses drop dots and ``+tag`` from the
    local part and ``googlemail.com`` becomes ``gmail.com``.

    >>> normalize_email("  J.Doe+news@GoogleMail.com ")
    'jdoe@gmail.com'
    """
    return _reraise(_email_outcome(raw, provider_rules))


def _reraise(outcome: str | _Rejection) -> str:
    """The cached outcome of a normalisation: the value, or a fresh ``InvalidIdentifier``.

    Rejections are cached too (``lru_cache`` alone caches only returns): an
    invalid phone repeats on every signal of its record, and phonenumbers
    spends ≈0.5 ms to reject it again.
    """
    if isinstance(outcome, str):
        return outcome
    identifier_type, reason, shown = outcome
    raise InvalidIdentifier(identifier_type, reason, redacted=shown)


def _rejected(exc: InvalidIdentifier) -> _Rejection:
    return (exc.identifier_type, exc.reason, exc.redacted)


@lru_cache(maxsize=65_536)
def _email_outcome(raw: str, provider_rules: bool) -> str | _Rejection:
    try:
        return _normalize_email(raw, provider_rules)
    except InvalidIdentifier as exc:
        return _rejected(exc)


def _normalize_email(raw: str, provider_rules: bool) -> str:
    value = _clean(raw).lower()

    def bad(reason: str) -> InvalidIdentifier:
        return InvalidIdentifier("email", reason, redacted=redact("email", value))

    if not value:
        raise bad("expected an address, found an empty string")
    if _SPACE_RE.search(value):  # ``str.isspace`` per character, in C
        raise bad("expected no whitespace inside the address, found some")
    if value.count("@") != 1:
        raise bad(f"expected exactly one '@', found {value.count('@')}")
    local, domain = value.split("@")
    if not local or len(local) > 64:
        raise bad(f"expected a local part of 1-64 characters, found {len(local)}")
    if not _LOCAL_RE.match(local) or ".." in local or local[0] == "." or local[-1] == ".":
        raise bad("expected a local part of letters, digits, dots and symbols, found other text")
    labels = domain.split(".")
    if len(labels) < 2 or len(domain) > 253:
        raise bad("expected a domain with a dot (e.g. example.com), found none")
    if not all(_LABEL_RE.match(label) for label in labels):
        raise bad("expected domain labels of letters, digits and inner hyphens, found other text")
    if len(labels[-1]) < 2 or labels[-1].isdigit():
        raise bad("expected a top-level domain of 2+ letters, found something else")
    if provider_rules and domain in _GMAIL_DOMAINS:
        local = local.split("+", 1)[0].replace(".", "")
        domain = "gmail.com"
        if not local:
            raise bad("expected a Gmail local part besides dots and +tag, found nothing")
    return f"{local}@{domain}"


def _is_placeholder(digits: str) -> bool:
    """All one digit, or a straight run like 1234567: numbers people type to get past a form."""
    if len(set(digits)) == 1:
        return True
    return len(digits) >= _MIN_PLACEHOLDER_RUN and digits in _ASCENDING


def normalize_phone(raw: str, region: str) -> str:
    """E.164 phone number; ``region`` (ISO 3166 alpha-2) applies to numbers without ``+CC``.

    >>> normalize_phone("020 7946 0958", "GB")
    '+442079460958'
    """
    return _reraise(_phone_outcome(raw, region))


@lru_cache(maxsize=65_536)  # phonenumbers parses in ≈0.5 ms; a person's number repeats
def _phone_outcome(raw: str, region: str) -> str | _Rejection:
    try:
        return _normalize_phone(raw, region)
    except InvalidIdentifier as exc:
        return _rejected(exc)


def _normalize_phone(raw: str, region: str) -> str:
    value = _clean(raw)
    shown = redact("phone", value)

    def bad(reason: str) -> InvalidIdentifier:
        return InvalidIdentifier("phone", reason, redacted=shown)

    digits = "".join(ch for ch in value if ch.isdigit())
    if not digits:
        raise bad("expected digits, found none")
    if _is_placeholder(digits.lstrip("0") or "0"):
        raise bad("expected a real number, found a placeholder (repeated or sequential digits)")
    try:
        parsed = phonenumbers.parse(value, region.upper())
    except phonenumbers.NumberParseException as exc:
        reason = f"expected a phone number (default region {region}), found {exc.error_type!r}"
        raise bad(reason) from exc
    national = str(parsed.national_number)
    if _is_placeholder(national):
        raise bad("expected a real number, found a placeholder (repeated or sequential digits)")
    if not phonenumbers.is_valid_number(parsed):
        raise bad(f"expected a number valid in its region (default {region}), found an invalid one")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalize_identifier(identifier: Identifier, *, region: str) -> NormalizedId:
    """Normalise one identifier by type: email and phone by their rules, others stripped.

    Ids of other types (crm_contact_id, support_user_id, …) are opaque and may be
    case-sensitive, so only surrounding whitespace is removed.
    """
    if identifier.type == "email":
        value = normalize_email(identifier.value)
    elif identifier.type == "phone":
        value = normalize_phone(identifier.value, region)
    else:
        value = _clean(identifier.value)
        if not value:
            raise InvalidIdentifier(identifier.type, "expected a non-empty id, found only spaces")
    return NormalizedId(identifier.type, value, identifier.trust)
