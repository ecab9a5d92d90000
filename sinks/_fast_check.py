"""Plain checks answered before FastAPI resolves parameters, body and dependencies.

For a check, FastAPI's per-request machinery (middleware, routing, the key
dependency, body validation of 10,000 questions) cost more CPU than the
decisions. ``FastFront`` sits in front of the app (``_server.server_config``
puts it there, with ``FastHttpProtocol``: the one seam) and answers the plain
cases through the app's own ``Checks``, the same answer path as the routes:
a key that holds ``decisions:read`` (``auth.require``'s own check), a query
``DecisionQuery`` itself accepts, or a JSON body of plain questions.
Anything else (no key, a wrong key, a bad parameter or identifier, malformed
JSON, a body with no declared length or over the limit) goes to the FastAPI
route unchanged, body included, so every error keeps its status and text.

Admitted keys are remembered by the SHA-256 of the headers that carried them,
never in plain text.
"""

from __future__ import annotations

import hashlib
import logging
from collections import namedtuple
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import orjson
from fastapi import HTTPException
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from signalfold.policy.answers import CHANNELS, PURPOSES
from signalfold.sinks._resolve import BadIdentifier
from signalfold.sinks.auth import require
from signalfold.sinks.checks import Checks
from signalfold.sinks.decision_models import DecisionQuery
from signalfold.sinks.errors import declared_length, describe_failure, server_error
from signalfold.sinks.models import MAX_BATCH_CHECKS

__all__ = ["CHECK_PATH", "FastChecks", "FastFront"]

CHECK_PATH = "/v1/suppression/check"

log = logging.getLogger(__name__)

FIELD_ORDER = tuple(DecisionQuery.model_fields)
_FIELDS = frozenset(FIELD_ORDER)
# Each field's ``max_length`` as ``DecisionQuery`` declares it (channel and purpose: none,
# they are checked against their closed sets); a longer value goes to the route's 422.
_MAX_CHARS = {
    name: limit
    for name, field in DecisionQuery.model_fields.items()
    for limit in [next((m.max_length for m in field.metadata if hasattr(m, "max_length")), None)]
    if limit is not None
}
FastPath = Callable[[Scope, Receive, Send], Any]


class FastFront:
    """An ASGI app in front of the FastAPI app that answers plain checks through its ``Checks``.

    FastAPI's middleware stack and router cost ≈ 200 µs of CPU per request
    before a route runs. The front answers ``GET`` and ``POST`` on
    ``CHECK_PATH`` itself when it can (``FastChecks``) and sends everything
    else to the app. An app with middleware of its own is never bypassed
    (that middleware would be skipped).
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.checks: FastChecks | None = None
        self._paths: dict[tuple[str, str], FastPath] = {}
        checks = getattr(app.state, "checks", None)  # ``create_app``'s answer path
        if checks is not None and not getattr(app, "user_middleware", ()):
            self.checks = FastChecks(checks, getattr(app, "max_request_bytes", None))
            self._paths = {("GET", CHECK_PATH): self.checks.single}
            self._paths[("POST", CHECK_PATH)] = self.checks.batch

    def answer_now(
        self, method: str, path: str, query_string: bytes, headers: list[tuple[bytes, bytes]]
    ) -> bytes | None:
        """A 200 JSON body for a plain single check from a key admitted before; else ``None``.

        ``FastHttpProtocol`` asks this while it parses a request; ``None`` (not
        plain, a key not admitted yet) sends it the ASGI way.
        """
        if self.checks is None or method != "GET" or path != CHECK_PATH:
            return None
        return self.checks.answer_now(query_string, headers, self.app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            fast_path = self._paths.get((scope["method"], scope["path"]))
            if fast_path is not None:
                scope["app"] = self.app  # as Starlette sets it: the key check reads app.state
                try:
                    answered = await fast_path(scope, receive, send)
                except Exception as exc:  # as the app's ``RequestGuard``: no values logged
                    log.error(
                        "%s %s failed: %s", scope["method"], scope["path"], describe_failure(exc)
                    )
                    await JSONResponse({"detail": server_error()}, 500)(scope, receive, send)
                    return
                if answered is None:
                    return
                receive = answered
        await self.app(scope, receive, send)


# A batch item, in model order; its fields are DecisionQuery's, which mypy cannot follow.
_Query = namedtuple("_Query", FIELD_ORDER)  # type: ignore[misc]


def _logged_item(question: Any) -> dict[str, Any]:
    """A batch item as the log keeps it (what ``DecisionQuery.model_dump`` would give)."""
    return {f: v for f, v in zip(FIELD_ORDER, question, strict=True) if v is not None}


class FastChecks:
    """The fast single (``GET``) and batch (``POST``) checks, answered by ``checks``."""

    def __init__(self, checks: Checks, max_body_bytes: int | None = None) -> None:
        self._checks = checks
        self._max_body = max_body_bytes
        self._key_check = require("decisions:read")
        # Admitted keys → surface name, for the checker that admitted them: building a
        # ``Request`` and checking the key cost more than the decision. Keyed by the
        # SHA-256 of the key headers (``_key_digest``): no plain key is kept.
        self._checker: Any = None
        self._admitted: dict[bytes, str] = {}

    def _surface(self, scope: Scope, receive: Receive) -> str | None:
        """The caller's key name if it holds ``decisions:read``, as the route's dependency says."""
        presented = _key_digest(scope["headers"])
        checker = scope["app"].state.key_checker
        if checker is self._checker:
            name = self._admitted.get(presented)
            if name is not None:
                return name
        else:  # a new checker (or the first): forget what the old one admitted
            self._checker, self._admitted = checker, {}
        request = Request(scope, receive)
        try:
            name = self._key_check(request, request.headers.get("x-api-key") or None)
        except HTTPException:
            return None
        if len(self._admitted) >= _MAX_ADMITTED:
            self._admitted.clear()
        self._admitted[presented] = name
        return name

    def answer_now(
        self, query_string: bytes, headers: list[tuple[bytes, bytes]], app: Any
    ) -> bytes | None:
        """The JSON body for a plain single check from a key admitted before; else ``None``.

        Synchronous, for ``FastHttpProtocol``: it answers while the request is
        parsed, with no ASGI scope, task or ``Request``. A key seen for the
        first time, or anything not plain, gets ``None`` and goes the ASGI way.
        """
        params = _plain_params(query_string)
        if params is None or app.state.key_checker is not self._checker:
            return None
        surface = self._admitted.get(_key_digest(headers))
        return None if surface is None else self._answer_single(surface, params)

    async def single(self, scope: Scope, receive: Receive, send: Send) -> Receive | None:
        if scope["method"] != "GET":
            return receive
        params = _plain_params(scope["query_string"])
        if params is None:
            return receive
        surface = self._surface(scope, receive)
        if surface is None:
            return receive
        body = self._answer_single(surface, params)
        if body is None:
            return receive
        # as ``Response(body, media_type="application/json")`` sends it
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", b"%d" % len(body)), _JSON_TYPE],
            }
        )
        await send({"type": "http.response.body", "body": body})
        return None

    def _answer_single(self, surface: str, params: dict[str, str]) -> bytes | None:
        """The decision's JSON, logged under ``surface``; ``None``: the route answers."""
        try:
            return self._checks.single(surface, DecisionQuery.model_validate(params))
        except (ValidationError, BadIdentifier):
            return None  # the route answers 422 with its own text

    async def batch(self, scope: Scope, receive: Receive, send: Send) -> Receive | None:
        if scope["method"] != "POST":
            return receive
        request = Request(scope, receive)
        content_type = request.headers.get("content-type", "")
        if content_type.partition(";")[0].strip().lower() != "application/json":
            return receive
        size = declared_length(scope)
        if size is None or (self._max_body is not None and size > self._max_body):
            return receive  # the app's ``RequestGuard`` counts or refuses it
        surface = self._surface(scope, receive)
        if surface is None:
            return receive
        body = await request.body()
        replay = _replay(body, receive)
        try:
            checks = _plain_checks(orjson.loads(body))
        except orjson.JSONDecodeError:
            return replay
        if checks is None:
            return replay
        questions = [_Query._make(map(item.get, FIELD_ORDER)) for item in checks]
        payload = self._checks.batch(surface, questions, _logged_item)
        await Response(payload, media_type="application/json")(scope, receive, send)
        return None


_MAX_ADMITTED = 1024
_JSON_TYPE = (b"content-type", b"application/json")


def _key_digest(headers: list[tuple[bytes, bytes]]) -> bytes:
    """SHA-256 of the first ``x-api-key`` and ``authorization`` values: all a key check reads.

    Absent and empty headers are the same to the key check, so they hash the same;
    header values hold no newline, so the pair is unambiguous.
    """
    api_key = authorization = None
    for name, value in headers:
        if name == b"x-api-key":
            if api_key is None:
                api_key = value
        elif name == b"authorization" and authorization is None:
            authorization = value
    return hashlib.sha256(b"%b\n%b" % (api_key or b"", authorization or b"")).digest()


def _plain_params(query_string: bytes) -> dict[str, str] | None:
    """A single check's parameters if plain: known, once each, non-empty.

    Their values are ``DecisionQuery``'s to judge (``_answer_single``).
    """
    pairs = _query_pairs(query_string.decode("latin-1"))
    params = dict(pairs)
    if len(params) != len(pairs) or not params.keys() <= _FIELDS or "" in params.values():
        return None
    return params


def _query_pairs(query: str) -> list[tuple[str, str]]:
    """``parse_qsl(query, keep_blank_values=True)``, split directly when nothing is escaped."""
    if "%" in query or "+" in query:
        return parse_qsl(query, keep_blank_values=True)
    pairs = []
    for part in query.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((name, value))
    return pairs


def _plain_checks(data: Any) -> list[dict[str, Any]] | None:
    """The questions of a batch body ``DecisionBatchRequest`` accepts as is; else ``None``."""
    if type(data) is not dict:
        return None
    checks = data.get("checks")
    if type(checks) is not list or len(checks) > MAX_BATCH_CHECKS:
        return None
    for item in checks:
        if type(item) is not dict:
            return None
        channel, purpose = item.get("channel"), item.get("purpose")
        if type(channel) is not str or channel not in CHANNELS:
            return None
        if type(purpose) is not str or purpose not in PURPOSES:
            return None
        for name, value in item.items():
            if value is None or name not in _FIELDS:
                continue
            if type(value) is not str or len(value) > _MAX_CHARS.get(name, len(value)):
                return None
    return checks


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` once more, then whatever the connection says."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
