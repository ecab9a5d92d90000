"""Decision routes: single and batch checks, an explanation for support, the decision log.

``decision_router`` builds the routes over what ``create_app`` owns (view,
decider, clock, log); every answer given through ``/v1/suppression/check`` is
written to the decision log under the caller's key name.

When the decider is the policy's ``decide`` (as ``signalfold serve`` builds
it), checks take the fast path: decisions from ``ServingView.inputs`` through
``FastDecider`` (cached per state version), responses written as bytes. A
plain single check (a key holding the scope, one value per known parameter)
is even answered before FastAPI resolves parameters and dependencies: that
machinery cost more than the decision. Anything else — a missing or bad key,
an invalid parameter or identifier, another method — goes through the FastAPI
route, which gives the same errors as ever.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import Response

from signalfold.policy._fast import as_fast_decider
from signalfold.schemas import SuppressionDecision
from signalfold.sinks._fast_check import FastChecks, FastPathRoute, batch_json
from signalfold.sinks._resolve import (
    BadIdentifier,
    Decider,
    answer_check,
    fast_answer,
    single_identifier,
)
from signalfold.sinks.auth import require
from signalfold.sinks.decision_log import DecisionLog
from signalfold.sinks.decision_models import (
    DecisionBatchRequest,
    DecisionBatchResponse,
    DecisionExplanation,
    DecisionLogPage,
    DecisionQuery,
)
from signalfold.sinks.errors import StrictJSONRoute, problem
from signalfold.sinks.models import MAX_CUSTOMER_ID_CHARS, MAX_ID_CHARS
from signalfold.sinks.view import ServingView

__all__ = ["decision_router"]


def _unprocessable(exc: BadIdentifier) -> HTTPException:
    err = exc.error
    loc = ["query"] + ([err.field] if err.field else [])
    return HTTPException(422, detail=[problem("invalid_identifier", loc, **err.model_dump())])


def decision_router(
    view: ServingView,
    decide: Decider,
    clock: Callable[[], datetime],
    region: str,
    log: DecisionLog | None,
    *,
    identifier_types: frozenset[str] | None = None,
    max_body_bytes: int | None = None,
) -> APIRouter:
    """The decision routes; ``log`` ``None`` answers without logging (unit tests only).

    ``identifier_types``: the types the loaded contracts declare; a question by
    another type that finds nobody is a 422 naming them (``None``: any type).
    ``max_body_bytes``: the app's body limit; the fast batch leaves larger
    bodies (and bodies of no declared length) to the app, which refuses them.
    """
    types = identifier_types
    router = APIRouter(tags=["suppression"], route_class=StrictJSONRoute)

    fast = as_fast_decider(decide)

    def record(surface: str, answers: list[tuple[Any, Any]], at: datetime) -> None:
        if log is not None and answers:
            log.record(surface, answers, at)

    def answer(question: Any, now: datetime) -> Any:
        """A ``SuppressionDecision``, or with the fast path an ``Answer`` (same JSON)."""
        if fast is not None:
            return fast_answer(view, fast, question, now, region, types=types)
        return answer_check(view, decide, question, now, region, types=types)

    def as_json(decision: Any) -> bytes:
        return decision.json if fast is not None else decision.model_dump_json().encode()

    # async: a check is a few microseconds of CPU; a threadpool hop would cost more.
    async def check(
        query: Annotated[DecisionQuery, Query()],
        surface: Annotated[str, Depends(require("decisions:read"))],
    ) -> Response:
        """May this surface contact this person on this channel for this purpose now?"""
        now = clock()
        try:
            decision = answer(query, now)
        except BadIdentifier as exc:
            raise _unprocessable(exc) from exc
        record(surface, [(query, decision)], now)
        return Response(as_json(decision), media_type="application/json")

    def check_batch(
        body: DecisionBatchRequest,
        surface: Annotated[str, Depends(require("decisions:read"))],
    ) -> Response:
        """Up to 10,000 questions (mixed identifiers), answered in order, each on its own.

        An invalid identifier gets an ``error`` at its index; the others are answered.
        """
        now = clock()
        parts: list[bytes] = []
        answers: list[tuple[Any, Any]] = []
        counts: Counter[str] = Counter()
        for i, question in enumerate(body.checks):
            try:
                decision = answer(question, now)
            except BadIdentifier as exc:
                error = exc.error.model_dump_json().encode()
                parts.append(b'{"index":%d,"decision":null,"error":%b}' % (i, error))
                counts["error"] += 1
                continue
            parts.append(b'{"index":%d,"decision":%b,"error":null}' % (i, as_json(decision)))
            answers.append((question, decision))
            counts[decision.outcome] += 1
        record(surface, answers, now)
        # ``DecisionBatchResponse`` JSON, written directly: validating 10,000 decisions into
        # the envelope and serialising them again cost more than answering them.
        return Response(batch_json(parts, dict(counts)), media_type="application/json")

    if fast is not None:
        checks = FastChecks(
            view, fast, clock, region, record, types=types, max_body_bytes=max_body_bytes
        )
        check.fast_path = checks.single  # type: ignore[attr-defined]
        check.answer_now = checks.answer_now  # type: ignore[attr-defined]
        check_batch.fast_path = checks.batch  # type: ignore[attr-defined]
    for endpoint, method, model in (
        (check, "GET", SuppressionDecision),
        (check_batch, "POST", DecisionBatchResponse),
    ):
        router.add_api_route(
            "/v1/suppression/check",
            endpoint,
            methods=[method],
            response_model=model,
            route_class_override=FastPathRoute,
        )

    @router.get(
        "/v1/suppression/explain",
        response_model=DecisionExplanation,
        dependencies=[Depends(require("decisions:explain"))],
    )
    def explain(query: Annotated[DecisionQuery, Query()]) -> DecisionExplanation:
        """A decision with every flag the customer carries now, for support staff.

        Not logged as an answer: nobody is contacted on the strength of it.
        """
        now = clock()
        try:
            decision = answer_check(view, decide, query, now, region, types=types)
        except BadIdentifier as exc:
            raise _unprocessable(exc) from exc
        state = view.state(decision.customer_id) if decision.customer_id else None
        return DecisionExplanation(
            decision=decision,
            flags=list(state.flags) if state is not None else [],
            aliases=list(state.aliases) if state is not None else [],
            state_updated_at=state.updated_at if state is not None else None,
        )

    @router.get(
        "/v1/decisions/log",
        response_model=DecisionLogPage,
        dependencies=[Depends(require("decisions:audit"))],
    )
    def decision_log(
        customer_id: Annotated[str | None, Query(max_length=MAX_CUSTOMER_ID_CHARS)] = None,
        surface: Annotated[str | None, Query(max_length=MAX_ID_CHARS)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        email: Annotated[str | None, Query(max_length=MAX_ID_CHARS)] = None,
        phone: Annotated[str | None, Query(max_length=MAX_ID_CHARS)] = None,
        type: Annotated[str | None, Query(max_length=MAX_ID_CHARS)] = None,
        value: Annotated[str | None, Query(max_length=MAX_ID_CHARS)] = None,
    ) -> DecisionLogPage:
        """Who was told what, and why: logged answers, newest first.

        ``customer_id`` covers the customer and every id merged into it. An
        identifier (``email``, ``phone``, or ``type`` + ``value``) selects the
        questions that named it, customer or not: rows keep its keyed hash,
        never the value, so it is hashed the same way here. Given both, a row
        about either is listed.
        """
        if log is None:
            return DecisionLogPage(items=[])
        ids = view.members(view.resolve(customer_id)) if customer_id else []
        hashes = []
        named = {"email": email, "phone": phone}
        if any(v is not None for v in (email, phone, type, value)):
            try:
                field, given = single_identifier(named | {"type": type, "value": value})
                id_type = type if field not in named else field
                hashes.append(log.hasher.identifier(str(id_type), given))
            except BadIdentifier as exc:
                raise _unprocessable(exc) from exc
        page = log.query(customer_ids=ids, surface=surface, identifier_hashes=hashes, limit=limit)
        return DecisionLogPage(items=page)

    return router
