"""Decision routes: single and batch checks, an explanation for support, the decision log.

``decision_router`` builds the routes over a ``Checks`` (the one answer path:
view, decider, clock, log); every answer given through
``/v1/suppression/check`` is written to the decision log under the caller's
key name. A serving replica also answers plain checks before FastAPI (the
fast path, ``_fast_http``, plugged in by ``_server.server_config``) through
the very same ``Checks``; these routes answer everything else, errors included.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import Response

from signalfold.schemas import SuppressionDecision
from signalfold.sinks._resolve import BadIdentifier, single_identifier
from signalfold.sinks.auth import require
from signalfold.sinks.checks import Checks
from signalfold.sinks.decision_models import (
    DecisionBatchRequest,
    DecisionBatchResponse,
    DecisionExplanation,
    DecisionLogPage,
    DecisionQuery,
)
from signalfold.sinks.errors import StrictJSONRoute, problem
from signalfold.sinks.models import MAX_CUSTOMER_ID_CHARS, MAX_ID_CHARS

__all__ = ["decision_router"]


def _unprocessable(exc: BadIdentifier) -> HTTPException:
    err = exc.error
    loc = ["query"] + ([err.field] if err.field else [])
    return HTTPException(422, detail=[problem("invalid_identifier", loc, **err.model_dump())])


def decision_router(checks: Checks) -> APIRouter:
    """The decision routes over ``checks`` (its ``log`` ``None``: not logged, unit tests only)."""
    router = APIRouter(tags=["suppression"], route_class=StrictJSONRoute)
    view, clock, log = checks.view, checks.clock, checks.log

    # async: a check is a few microseconds of CPU; a threadpool hop would cost more.
    @router.get("/v1/suppression/check", response_model=SuppressionDecision)
    async def check(
        query: Annotated[DecisionQuery, Query()],
        surface: Annotated[str, Depends(require("decisions:read"))],
    ) -> Response:
        """May this surface contact this person on this channel for this purpose now?"""
        try:
            body = checks.single(surface, query)
        except BadIdentifier as exc:
            raise _unprocessable(exc) from exc
        return Response(body, media_type="application/json")

    @router.post("/v1/suppression/check", response_model=DecisionBatchResponse)
    def check_batch(
        body: DecisionBatchRequest,
        surface: Annotated[str, Depends(require("decisions:read"))],
    ) -> Response:
        """Up to 10,000 questions (mixed identifiers), answered in order, each on its own.

        An invalid identifier gets an ``error`` at its index; the others are answered.
        """
        return Response(checks.batch(surface, body.checks), media_type="application/json")

    @router.get(
        "/v1/suppression/explain",
        response_model=DecisionExplanation,
        dependencies=[Depends(require("decisions:explain"))],
    )
    def explain(query: Annotated[DecisionQuery, Query()]) -> DecisionExplanation:
        """A decision with every flag the customer carries now, for support staff.

        Not logged as an answer: nobody is contacted on the strength of it.
        """
        try:
            decision = checks.answer(query, clock()).decision()
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
