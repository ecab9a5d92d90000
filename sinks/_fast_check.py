"""Plain checks answered before FastAPI resolves parameters, body and dependencies.

For a check, FastAPI's per-request machinery (parameter models, the key
dependency, body validation of 10,000 questions) cost more CPU than the
decisions. ``FastChecks`` answers the plain cases itself — a key that holds
``decisions:read``, well-formed parameters or JSON body — with the same key
check (``auth.require``'s own function), the same decisions (``FastDecider``)
and the same JSON. Anything else (no key, a wrong key, a bad parameter or
identifier, malformed JSON, a value over its length, a body with no declared
length or over the limit) is handed to the FastAPI route unchanged, body
included, so every error keeps its status and text.

Admitted keys are remembered by the SHA-256 of the headers that carried them,
never in plain text.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

import orjson
import pydantic_core
from fastapi import HTTPException
from fastapi.responses import JSONResponse, Response
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from signalfold.policy._fast import CHANNELS, PURPOSES, FastDecider
from signalfold.sinks._resolve import BadIdentifier, fast_answer, fast_answer_item
from signalfold.sinks.auth import require
from signalfold.sinks.decision_models import DecisionQuery
from signalfold.sinks.errors import StrictJSONRoute, declared_length, describe_failure, server_error
from signalfold.sinks.models import MAX_BATCH_CHECKS
from signalfold.sinks.view import ServingView

__all__ = ["FastChecks", "FastFront", "FastPathRoute", "batch_json", "logged_request"]

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
AnswerNow = Callable[[bytes, list[tuple[bytes, bytes]], Any], bytes | None]


class FastPathRoute(StrictJSONRoute):
    """An ``APIRoute`` whose endpoint may answer first through its ``fast_path`` attribute.

    ``fast_path(scope, receive, send)`` returns ``None`` once it answered, or the
    ``receive`` the route must read the request from (the body replayed if read).
    An ``answer_now(query_string, headers, app)`` attribute, if any, answers
    the same requests synchronously (``FastFront.answer_now``).
    """

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        fast_path = getattr(self.endpoint, "fast_path", None)
        if fast_path is not None and not scope.get(_TRIED):
            learn = scope.get(_LEARN)
            if learn is not None:
                answer_now = getattr(self.endpoint, "answer_now", None)
                for method in self.methods:
                    learn(method, self.path, fast_path, answer_now)
            receive = await fast_path(scope, receive, send)
            if receive is None:
                return
        await super().handle(scope, receive, send)


class FastFront:
    """An ASGI app in front of the FastAPI app that sends fast-path routes straight there.

    FastAPI's middleware stack and router cost ≈ 200 µs of CPU per request
    before a route runs. The front learns each fast path when its route first
    handles a request (``FastPathRoute`` reports it through the scope), then
    calls it directly for that method and path; whatever it does not answer
    goes to the app as before. An app with middleware of its own is never
    bypassed (that middleware would be skipped).
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self._paths: dict[tuple[str, str], FastPath] = {}
        self._now: dict[tuple[str, str], AnswerNow] = {}

    def routes(self) -> set[tuple[str, str]]:
        """The (method, path) pairs answered here so far (for tests)."""
        return set(self._paths)

    def answer_now(
        self, method: str, path: str, query_string: bytes, headers: list[tuple[bytes, bytes]]
    ) -> bytes | None:
        """A 200 JSON body for a request a learned route answers synchronously; else ``None``.

        ``FastHttpProtocol`` asks this while it parses a request; ``None`` (not
        learned, not plain, a key not admitted yet) sends it the ASGI way.
        """
        answer = self._now.get((method, path))
        return None if answer is None else answer(query_string, headers, self.app)

    def _learn(
        self, method: str, path: str, fast_path: FastPath, answer_now: AnswerNow | None = None
    ) -> None:
        if not getattr(self.app, "user_middleware", ()):
            self._paths[(method, path)] = fast_path
            if answer_now is not None:
                self._now[(method, path)] = answer_now

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            fast_path = self._paths.get((scope["method"], scope["path"]))
            if fast_path is None:
                scope[_LEARN] = self._learn
            else:
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
                receive, scope[_TRIED] = answered, True
        await self.app(scope, receive, send)


_LEARN = "signalfold.fast_path.learn"
_TRIED = "signalfold.fast_path.tried"


class _Query(NamedTuple):
    """A plain single check's parameters, as ``DecisionQuery`` would hold them."""

    channel: str
    purpose: str
    email: str | None = None
    phone: str | None = None
    customer_id: str | None = None
    type: str | None = None
    value: str | None = None
    product_id: str | None = None
    category: str | None = None


def logged_request(given: dict[str, Any]) -> dict[str, Any]:
    """The request as the log keeps it: ``DecisionQuery``'s set fields, in its order."""
    keys = tuple(given)
    order = _ORDERS.get(keys)
    if order is None:  # a send list repeats a handful of shapes
        order = tuple(f for f in FIELD_ORDER if f in given)
        if len(_ORDERS) < 1024:
            _ORDERS[keys] = order
    return {f: given[f] for f in order if given[f] is not None}


_ORDERS: dict[tuple[str, ...], tuple[str, ...]] = {}


def batch_json(parts: list[bytes], counts: dict[str, int]) -> bytes:
    """``DecisionBatchResponse`` JSON from each result's ``{"index", "decision", "error"}`` JSON."""
    return b'{"results":[%b],"counts":%b}' % (b",".join(parts), pydantic_core.to_json(counts))


class FastChecks:
    """The fast single (``GET``) and batch (``POST``) checks over one view and decider."""

    def __init__(
        self,
        view: ServingView,
        fast: FastDecider,
        clock: Callable[[], datetime],
        region: str,
        record: Callable[[str, list[tuple[Any, Any]], datetime], None],
        *,
        types: frozenset[str] | None = None,
        max_body_bytes: int | None = None,
    ) -> None:
        self._view, self._fast, self._clock, self._region = view, fast, clock, region
        self._types = types
        self._max_body = max_body_bytes
        self._record = record
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
        """The decision's JSON, logged under ``surface``; ``None`` for a bad identifier."""
        now = self._clock()
        try:
            decision = fast_answer(
                self._view, self._fast, _Query(**params), now, self._region, types=self._types
            )
        except BadIdentifier:
            return None  # the route answers 422 with its own text
        self._record(surface, [(logged_request(params), decision)], now)
        return decision.json

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
        now = self._clock()
        parts: list[bytes] = []
        answers: list[tuple[Any, Any]] = []
        counts: Counter[str] = Counter()
        view, fast, region, types = self._view, self._fast, self._region, self._types
        for i, item in enumerate(checks):
            try:
                decision = fast_answer_item(view, fast, item, now, region, types=types)
            except BadIdentifier as exc:
                error = exc.error.model_dump_json().encode()
                parts.append(b'{"index":%d,"decision":null,"error":%b}' % (i, error))
                counts["error"] += 1
                continue
            parts.append(b'{"index":%d,"decision":%b,"error":null}' % (i, decision.json))
            answers.append((logged_request(item), decision))
            counts[decision.outcome] += 1
        self._record(surface, answers, now)
        payload = batch_json(parts, dict(counts))
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
    """A single check's parameters if plain (known, once each, non-empty, valid enums)."""
    pairs = _query_pairs(query_string.decode("latin-1"))
    params = dict(pairs)
    if (
        len(params) != len(pairs)
        or not params.keys() <= _FIELDS
        or "" in params.values()
        or params.get("channel") not in CHANNELS
        or params.get("purpose") not in PURPOSES
        or any(len(v) > _MAX_CHARS.get(k, len(v)) for k, v in params.items())
    ):
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
