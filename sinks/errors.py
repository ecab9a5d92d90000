"""Failures of the serving process, and the one shape the API reports mistakes in.

Every 422 the API gives — a parameter FastAPI rejects, an identifier signalfold
rejects, a bad cursor, JSON with ``NaN`` or a lone surrogate — its 413 (a
body over ``SIGNALFOLD_MAX_REQUEST_BYTES``), 500, and every request refused as
a whole (401, 403, 404, 503: ``refusal``) have ``detail`` items of one shape:
``type``, ``loc``, ``field``, ``expected``, ``found`` (the kind of value,
never the value) and a ``message`` that ends with the next step.

``RequestGuard`` answers oversized bodies before anything reads them and keeps
request values out of the log when a request fails (``describe_failure``);
``StrictJSONRoute`` parses bodies as JSON allows them, nothing more.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

import orjson
from fastapi import HTTPException
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from signalfold.errors import SignalfoldError

__all__ = [
    "MAX_DETAILS",
    "ConsumerFailed",
    "InvalidCursor",
    "RequestGuard",
    "SinkError",
    "StrictJSONRoute",
    "TopicMissing",
    "body_too_large",
    "declared_length",
    "describe",
    "describe_failure",
    "problem",
    "refusal",
    "server_error",
    "validation_details",
]

log = logging.getLogger(__name__)

MAX_DETAILS = 20
"""Most ``detail`` items a 422 lists (a 10,000-item batch can hold 10,000 mistakes)."""


class SinkError(SignalfoldError):
    """Root of the errors the sinks (store, materializer, API) raise on purpose."""


class InvalidCursor(SinkError):
    """A timeline cursor that this service did not hand out (or that was edited)."""


class ConsumerFailed(SinkError):
    """The replica's Kafka consumer hit a fatal error; the replica is no longer ready."""


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


def refusal(
    status: int,
    type_: str,
    loc: Sequence[str | int],
    field: str | None,
    expected: str,
    found: str | None,
    message: str,
    headers: dict[str, str] | None = None,
) -> HTTPException:
    """A request refused as a whole (401, 403, 404, 503), in the same one shape."""
    return HTTPException(
        status, detail=[problem(type_, loc, field, expected, found, message)], headers=headers
    )


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
        return "a JSON body (no NaN or Infinity, no lone surrogates)", "send valid JSON"
    if kind == "string_too_long":
        return f"at most {ctx.get('max_length')} characters", "shorten it"
    if kind == "string_too_short":
        least = ctx.get("min_length")
        return f"at least {least} character{'' if least == 1 else 's'}", "fill it in"
    if kind == "string_pattern_mismatch":
        return f"text matching {ctx.get('pattern')}", _NEXT
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
        where = error.get("loc", ())[-1:]
        at = f" at character {where[0]}" if where and isinstance(where[0], int) else ""
        return f"invalid JSON ({ctx.get('error', 'unreadable')}{at})"
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


def body_too_large(limit: int, size: int | None) -> list[dict[str, Any]]:
    """The ``detail`` of a 413: the limit, and the declared size when the client sent one."""
    found = f"a body of {size} bytes" if size is not None else "a longer body"
    expected = f"a body of at most {limit} bytes"
    message = (
        f"body: expected {expected}, found {found}; send fewer items per request "
        "(the limit is SIGNALFOLD_MAX_REQUEST_BYTES)"
    )
    return [problem("body_too_large", ["body"], None, expected, found, message)]


def server_error() -> list[dict[str, Any]]:
    """The ``detail`` of a 500: nothing about the request, what to do next."""
    message = "the service failed on this request; retry, and report it if it repeats"
    return [problem("internal_error", [], None, "a request this service answers", None, message)]


def describe_failure(exc: BaseException) -> str:
    """An exception for the log: its type and where it was raised, never its message.

    Messages and arguments carry values (a pydantic error quotes the input, a
    ``KeyError`` its key), so only the type and the innermost frames are kept::

        UnicodeEncodeError at sinks/routes_identity.py:71 in __call__ < …
    """
    frames = traceback.extract_tb(exc.__traceback__)[-4:]
    where = " < ".join(
        f"{Path(f.filename).parent.name}/{Path(f.filename).name}:{f.lineno} in {f.name}"
        for f in reversed(frames)
    )
    causes: list[str] = []
    cause = exc.__cause__ or exc.__context__
    while cause is not None and len(causes) < 3:
        causes.append(type(cause).__name__)
        cause = cause.__cause__ or cause.__context__
    chain = f" (from {', '.join(causes)})" if causes else ""
    return f"{type(exc).__name__}{chain} at {where or 'an unknown place'}"


def declared_length(scope: Scope) -> int | None:
    """The request's ``content-length``, ``None`` when absent or not a number."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


class RequestGuard:
    """ASGI wrapper: bodies over ``max_bytes`` get 413; a failure is logged without values.

    A declared ``content-length`` over the limit is answered before the body is
    read (with ``connection: close``: the rest is not worth reading); a chunked
    body is counted as it is read and refused once past the limit. An exception
    that escapes the app is logged as ``describe_failure`` says (never the
    traceback's messages, which quote request values) and not re-raised, so the
    server does not log its traceback either; the app's own handler already
    answered the 500.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        size = declared_length(scope)
        if size is not None and size > limit:
            await _too_large(limit, size)(scope, receive, send)
            return
        started, read = False, 0

        async def counted() -> Message:
            nonlocal read
            message = await receive()
            read += len(message.get("body", b""))
            if read > limit:
                raise HTTPException(413, body_too_large(limit, None), {"connection": "close"})
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive if size is not None else counted, tracked)
        except HTTPException as exc:  # a 413 from ``counted`` that no route turned into one
            if exc.status_code != 413:
                raise
            if not started:
                await _too_large(limit, None)(scope, receive, send)
        except Exception as exc:
            log.error("%s %s failed: %s", scope["method"], _route(scope), describe_failure(exc))
            if not started:
                await JSONResponse({"detail": server_error()}, 500)(scope, receive, send)


def _too_large(limit: int, size: int | None) -> Response:
    detail = {"detail": body_too_large(limit, size)}
    return JSONResponse(detail, 413, headers={"connection": "close"})


def _route(scope: Scope) -> str:
    """The route's path template (``/v1/customers/{customer_id}``): ids stay out of logs."""
    route = scope.get("route")
    return getattr(route, "path", None) or "(no route)"


class _StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            # orjson refuses NaN, Infinity, lone surrogates and nesting past 1,024 levels,
            # all of which ``json.loads`` accepts (and a later encode or a log line fails on).
            # Its error is a ``json.JSONDecodeError``: FastAPI answers it as ``json_invalid``.
            self._json = orjson.loads(await self.body())
        return self._json


class StrictJSONRoute(APIRoute):
    """An ``APIRoute`` whose JSON body is parsed strictly (see ``_StrictJSONRequest``)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(_StrictJSONRequest(request.scope, request.receive))

        return strict
