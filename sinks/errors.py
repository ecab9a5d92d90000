"""Failures of the serving process, and the one shape the API reports mistakes in.

Every 422 the API gives — a parameter FastAPI rejects, an identifier signalfold
rejects, a bad cursor — has ``detail`` items of one shape: ``type``, ``loc``,
``field``, ``expected``, ``found`` (the kind of value, never the value) and a
``message`` that ends with the next step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from signalfold.errors import SignalfoldError

__all__ = [
    "MAX_DETAILS",
    "InvalidCursor",
    "SinkError",
    "TopicMissing",
    "describe",
    "problem",
    "validation_details",
]

MAX_DETAILS = 20
"""Most ``detail`` items a 422 lists (a 10,000-item batch can hold 10,000 mistakes)."""


class SinkError(SignalfoldError):
    """Root of the errors the sinks (store, materializer, API) raise on purpose."""


class InvalidCursor(SinkError):
    """A timeline cursor that this service did not hand out (or that was edited)."""


class TopicMissing(SinkError):
    """A topic ``serve`` must read does not exist on the broker."""


def problem(
    type_: str,
    loc: Sequence[str | int],
    field: str | None,
    expected: str,
    found: str | None,
    message: str,
) -> dict[str, Any]:
    """One ``detail`` item of a 422, in the API's one error shape."""
    return {
        "type": type_,
        "loc": list(loc),
        "field": field,
        "expected": expected,
        "found": found,
        "message": message,
    }


def describe(value: Any) -> str:
    """The kind of a value a caller sent, never the value: ``a string of 5 characters``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str | bytes):
        return "an empty string" if not value else f"a string of {len(value)} characters"
    if isinstance(value, dict):
        return f"an object with {len(value)} keys"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)} items"
    return "another kind of value"


_NEXT = "see the request's schema at /docs"
_PLAIN = {
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "bool_parsing": "true or false",
    "datetime_parsing": "an ISO 8601 date and time",
    "datetime_from_date_parsing": "an ISO 8601 date and time",
}


def _expected(kind: str, ctx: dict[str, Any], msg: str) -> tuple[str, str]:
    """(expected, next step) for one pydantic error."""
    if kind == "missing":
        return "a value", "add it"
    if kind in ("literal_error", "enum"):
        return f"one of {ctx.get('expected', '?')}", "use one of those"
    if kind == "too_long":
        limit = ctx.get("max_length")
        return f"at most {limit} items", f"split it into requests of at most {limit}"
    if kind == "too_short":
        return f"at least {ctx.get('min_length')} items", "add the missing ones"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        words = {
            "greater_than_equal": "at least",
            "greater_than": "more than",
            "less_than_equal": "at most",
            "less_than": "less than",
        }[kind]
        limit = next(iter(ctx.values()), "?")
        return f"a number {words} {limit}", "change it"
    if kind == "json_invalid":
        return "a JSON body", "send valid JSON"
    if kind in _PLAIN:
        return _PLAIN[kind], _NEXT
    return msg.removeprefix("Input should be ").removeprefix("Value error, "), _NEXT


def _found(kind: str, error: dict[str, Any]) -> str:
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "nothing"
    if kind == "too_long" and "actual_length" in ctx:
        return f"{ctx['actual_length']} items"
    if kind == "json_invalid":
        return f"invalid JSON ({ctx.get('error', 'unreadable')})"
    return describe(error.get("input"))


def validation_details(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """FastAPI's ``RequestValidationError.errors()`` in the API's shape, inputs dropped.

    At most ``MAX_DETAILS`` items: a body's mistakes repeat, and its values stay out.
    """
    out = []
    for error in errors[:MAX_DETAILS]:
        kind = str(error.get("type", "invalid"))
        loc = [p if isinstance(p, int) else str(p) for p in error.get("loc", ())]
        path = loc[1:] if loc and loc[0] in ("query", "body", "path", "header", "cookie") else loc
        field = ".".join(str(p) for p in path) if path and kind != "json_invalid" else None
        expected, step = _expected(kind, error.get("ctx") or {}, str(error.get("msg", "")))
        found = _found(kind, error)
        where = field or (loc[0] if loc else "request")
        message = f"{where}: expected {expected}, found {found}; {step}"
        out.append(problem(kind, loc, field, expected, found, message))
    return out
