"""From what a caller sends (email, phone, customer id) to a customer and a decision.

Identifiers are normalised exactly as identity resolution normalises them, so
``" J.Doe@GoogleMail.com"`` finds the customer indexed as ``email:jdoe@gmail.com``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from signalfold.identity.errors import InvalidIdentifier
from signalfold.identity.normalize import normalize_email, normalize_identifier
from signalfold.schemas import CustomerState, Identifier
from signalfold.sinks.errors import SinkError
from signalfold.sinks.models import CheckError
from signalfold.sinks.view import ServingView

__all__ = [
    "ALWAYS_ACCEPTED",
    "BadIdentifier",
    "customer_asked",
    "declared_identifier_types",
    "describe_given",
    "find_state",
    "identifier_key",
    "question_key",
    "single_identifier",
]

ALWAYS_ACCEPTED = frozenset({"customer_id", "email", "phone"})
"""Identifier types every replica accepts, whatever the contracts declare."""
_CUSTOMER_ID = re.compile(r"cus_[0-9a-f]{20}")  # as ``identity.resolution`` names customers
_EXPECTED_FOUND = re.compile(r"^expected (?P<expected>.+?), found (?P<found>.+)$")


class BadIdentifier(SinkError, ValueError):
    """A question that names no customer we can look for; ``error`` says why."""

    def __init__(self, error: CheckError) -> None:
        super().__init__(error.message)
        self.error = error


def _invalid(field: str, exc: InvalidIdentifier) -> BadIdentifier:
    match = _EXPECTED_FOUND.match(exc.reason)
    expected = match["expected"] if match else f"a valid {exc.identifier_type}"
    found = match["found"] if match else exc.reason
    return BadIdentifier(
        CheckError(
            field=field,
            expected=expected,
            found=found,  # not ``exc.redacted``: a body never echoes a value back
            message=f"{field}: {exc.reason}; send the identifier as the customer gave it",
        )
    )


def identifier_key(type_: str, value: str, region: str, field: str | None = None) -> str:
    """The index key (``<type>:<normalised value>``) of an identifier, or ``BadIdentifier``.

    Valid keys are remembered (normalising is pure; a send list asks about the
    same people again and again); errors are not, they name the ``field``.
    """
    known = _KEYS.get((type_, value, region))
    if known is not None:
        return known
    key = _identifier_key(type_, value, region, field or type_)
    if len(_KEYS) >= _MAX_KEYS:
        _KEYS.clear()
    _KEYS[(type_, value, region)] = key
    return key


_KEYS: dict[tuple[str, str, str], str] = {}
_MAX_KEYS = 65_536


def _identifier_key(type_: str, value: str, region: str, field: str) -> str:
    try:
        if type_ == "email":
            return f"email:{normalize_email(value)}"
        normalized = normalize_identifier(Identifier(type=type_, value=value), region=region)
    except InvalidIdentifier as exc:
        raise _invalid(field, exc) from exc
    except ValidationError as exc:
        raise BadIdentifier(
            CheckError(
                field=field,
                expected="an identifier type of lowercase letters, digits and _, and a value "
                "of 1-320 characters",
                found=f"a type of {len(type_)} and a value of {len(value)} characters",
                message=f"{field}: not an identifier ({exc.error_count()} problem(s)); send "
                "a type a source contract declares and the value as the customer gave it",
            )
        ) from exc
    return normalized.key


def single_identifier(given: dict[str, str | None]) -> tuple[str, str]:
    """The one (field, value) among ``email``/``phone``/``customer_id``, or ``BadIdentifier``.

    A ``type`` key names the identifier type of ``value`` (e.g. ``crm_contact_id``).
    """
    given = dict(given)
    id_type, id_value = given.pop("type", None), given.pop("value", None)
    present = [(f, v) for f, v in given.items() if v is not None]
    if id_type is not None or id_value is not None:
        present.append((id_type or "type", id_value or ""))
    if len(present) != 1 or not present[0][1] or (id_type is None) != (id_value is None):
        found = describe_given(given, id_type, id_value)
        raise BadIdentifier(
            CheckError(
                field=None,
                expected="exactly one of email, phone, customer_id, or type and value",
                found=found,
                message="give exactly one of email, phone, customer_id, or type and value; "
                f"found {found}",
            )
        )
    return present[0]


def describe_given(given: dict[str, str | None], id_type: str | None, id_value: str | None) -> str:
    """The identifier fields a question named, empty ones said so (never their values)."""
    parts = [f if v else f"an empty {f}" for f, v in given.items() if v is not None]
    if id_type is not None and id_value is not None:
        parts.append("type and value" if id_type and id_value else "an empty type or value")
    elif id_type is not None:
        parts.append("type without value")
    elif id_value is not None:
        parts.append("value without type")
    return ", ".join(parts) or "none of them"


def _unknown_type(accepted: frozenset[str]) -> BadIdentifier:
    names = ", ".join(sorted(accepted | ALWAYS_ACCEPTED))
    return BadIdentifier(
        CheckError(
            field="type",
            expected=f"one of {names}",
            found="a type no loaded source contract declares",
            message=f"type: not an identifier type of any source; use one of {names} "
            "(a source's types are the `identifiers:` of its contract)",
        )
    )


def _malformed_customer_id() -> BadIdentifier:
    return BadIdentifier(
        CheckError(
            field="customer_id",
            expected="a customer id as signalfold gives them (cus_ and 20 hex digits)",
            found="another shape, and no customer has it",
            message="customer_id: not a customer id; copy it from a lookup or a decision, "
            "or ask by email, phone, or type and value",
        )
    )


def find_state(
    view: ServingView,
    type_: str,
    value: str,
    region: str,
    *,
    field: str | None = None,
    types: frozenset[str] | None = None,
) -> CustomerState | None:
    """The current state of the customer an identifier (or a customer id) points to.

    ``types``: the identifier types the loaded contracts declare; when given, a
    type outside them (and ``ALWAYS_ACCEPTED``) that finds nobody is a
    ``BadIdentifier``, not an unknown customer. ``None`` accepts any type.
    """
    customer_id = _customer_by(view, type_, value, region, field or type_, types)
    return None if customer_id is None else view.state(customer_id)


def _customer_by(
    view: ServingView,
    type_: str,
    value: str,
    region: str,
    field: str,
    types: frozenset[str] | None,
) -> str | None:
    if type_ == "customer_id":
        shaped = _CUSTOMER_ID.fullmatch(value) is not None
        # another shape that no customer (or absorbed id) has: a typo, not a stranger
        if not shaped and not view.is_alias(value) and view.inputs(value) is None:
            raise _malformed_customer_id()
        return view.resolve(value)
    customer_id = view.lookup(identifier_key(type_, value, region, field))
    # Checked after a miss: an identifier the index holds is a known type, even one
    # registered after this replica loaded its contracts.
    unknown = types is not None and type_ not in types and type_ not in ALWAYS_ACCEPTED
    if customer_id is None and unknown:
        raise _unknown_type(types or frozenset())
    return customer_id


def question_key(check: Any, region: str) -> str | None:
    """The index key of the identifier a question names (``None``: a customer id, or none).

    For questions ``customer_asked`` accepted: it raised for any other.
    """
    type_, value = getattr(check, "type", None), getattr(check, "value", None)
    if type_ is None or value is None:
        for name in ("email", "phone"):
            if (given := getattr(check, name, None)) is not None:
                type_, value = name, given
                break
    if type_ is None or value is None or type_ == "customer_id":
        return None
    try:
        return identifier_key(type_, value, region)
    except BadIdentifier:
        return None


def _customer_of(
    view: ServingView,
    region: str,
    email: str | None,
    phone: str | None,
    customer_id: str | None,
    type_: str | None,
    value: str | None,
    types: frozenset[str] | None = None,
) -> str | None:
    """The current customer id a question names, ``None`` if unknown; or ``BadIdentifier``."""
    # The common shapes first, without ``single_identifier``'s bookkeeping (same answers).
    field: str | None = None
    if type_ is None and value is None:
        if email is not None:
            if email and phone is None and customer_id is None:
                field, value = "email", email
        elif phone is not None:
            if phone and customer_id is None:
                field, value = "phone", phone
        elif customer_id:
            field, value = "customer_id", customer_id
    elif type_ and value and email is None and phone is None and customer_id is None:
        field = type_
    if field is None:
        given = {"email": email, "phone": phone, "customer_id": customer_id}
        field, value = single_identifier(given | {"type": type_, "value": value})
    assert value is not None
    field_name = field if field in ALWAYS_ACCEPTED else "value"
    return _customer_by(view, field, value, region, field_name, types)


def customer_asked(
    view: ServingView, check: Any, region: str, types: frozenset[str] | None
) -> str | None:
    """The current customer id ``check`` names (``None``: nobody), or ``BadIdentifier``.

    ``check`` is anything with ``DecisionQuery``'s attributes. Raises for a
    missing or invalid identifier, a malformed customer id, or (with
    ``types``) an identifier type no contract declares.
    """
    return _customer_of(
        view,
        region,
        getattr(check, "email", None),
        getattr(check, "phone", None),
        getattr(check, "customer_id", None),
        getattr(check, "type", None),
        getattr(check, "value", None),
        types,
    )


def declared_identifier_types(contracts_dir: Path | None) -> frozenset[str]:
    """The identifier types the contract files declare (shipped and ``contracts_dir``)."""
    from signalfold.schemas.contract import load_contracts

    contracts = load_contracts([contracts_dir] if contracts_dir else [])
    return frozenset(i.type for c in contracts.values() for i in c.identifiers)
