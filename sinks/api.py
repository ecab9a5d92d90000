"""The HTTP API of a serving replica (FastAPI; OpenAPI at ``/openapi.json``).

Reads come from ``ServingView`` (states, identifiers, aliases: memory) and
``Store`` (timelines, identity explanations: DuckDB). Every route depends on
an API-key scope (``auth.require``); the checker is open until key files land.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse

from signalfold.schemas import CustomerState
from signalfold.settings import Settings
from signalfold.sinks._resolve import BadIdentifier, Decider, find_state
from signalfold.sinks.auth import KeyChecker, document_scopes, key_checker_for, require
from signalfold.sinks.decision_log import DecisionLog
from signalfold.sinks.errors import InvalidCursor
from signalfold.sinks.models import (
    ServiceStatus,
    TimelinePage,
)
from signalfold.sinks.routes_decisions import decision_router
from signalfold.sinks.routes_identity import identity_router
from signalfold.sinks.status import Readiness, status_response
from signalfold.sinks.store import Store
from signalfold.sinks.view import ServingView

__all__ = ["create_app"]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _default_decider() -> Decider:
    from signalfold.streams.policy import decide

    return decide


def _not_found(message: str) -> HTTPException:
    return HTTPException(404, detail={"error": "customer_not_found", "message": message})


def _unprocessable(exc: BadIdentifier, location: str) -> HTTPException:
    err = exc.error
    loc = [location] + ([err.field] if err.field else [])
    return HTTPException(
        422, detail=[{"type": "invalid_identifier", "loc": loc, **err.model_dump()}]
    )


def create_app(
    view: ServingView,
    store: Store,
    settings: Settings,
    *,
    clock: Callable[[], datetime] = _utcnow,
    decide: Decider | None = None,
    readiness: Readiness | None = None,
    key_checker: KeyChecker | None = None,
    decision_log: DecisionLog | None = None,
) -> FastAPI:
    """The serving API over ``view`` and ``store``; tests pass a fixed clock and fakes.

    ``decide`` defaults to ``signalfold.streams.policy.decide``; ``readiness``
    ``None`` means always ready (no consumer, e.g. in unit tests);
    ``decision_log`` records every check answered (``None``: not logged).
    """
    decider = decide or _default_decider()
    region = settings.default_region
    app = FastAPI(title="signalfold", version="1", summary="One customer reality, served.")
    app.state.key_checker = key_checker or key_checker_for(settings)

    @app.exception_handler(InvalidCursor)
    async def _bad_cursor(request: Request, exc: InvalidCursor) -> JSONResponse:
        detail = [{"type": "invalid_cursor", "loc": ["query", "cursor"], "msg": str(exc)}]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.get("/v1/health", response_model=ServiceStatus, tags=["ops"])
    async def health() -> JSONResponse:
        """Liveness: 503 only when the consumer thread died (restart the replica)."""
        return status_response(readiness, require_caught_up=False)

    @app.get("/v1/ready", response_model=ServiceStatus, tags=["ops"])
    async def ready() -> JSONResponse:
        """Readiness: 200 once the topics were replayed up to where they ended at start."""
        return status_response(readiness, require_caught_up=True)

    app.include_router(decision_router(view, decider, clock, region, decision_log))

    @app.get(
        "/v1/customers/lookup",
        response_model=CustomerState,
        dependencies=[Depends(require("customers:read"))],
        tags=["customers"],
    )
    async def lookup(
        email: str | None = None,
        phone: str | None = None,
        type: str | None = None,
        value: str | None = None,
    ) -> CustomerState:
        """The customer an identifier belongs to: ``email``, ``phone``, or ``type`` + ``value``."""
        given = [(t, v) for t, v in (("email", email), ("phone", phone), (type, value)) if v]
        if len(given) != 1 or given[0][0] is None:
            raise HTTPException(
                422,
                detail=[
                    {
                        "type": "missing_identifier",
                        "loc": ["query"],
                        "msg": "give exactly one of email, phone, or type and value",
                    }
                ],
            )
        id_type, id_value = given[0]
        assert id_type is not None and id_value is not None
        field = id_type if id_type in ("email", "phone") else "value"
        try:
            state = find_state(view, id_type, id_value, region, field=field)
        except BadIdentifier as exc:
            raise _unprocessable(exc, "query") from exc
        if state is None:
            raise _not_found(f"no customer is known by this {id_type}")
        return state

    def _redirect_if_merged(customer_id: str, request: Request, suffix: str) -> Any:
        survivor = view.resolve(customer_id)
        if survivor == customer_id:
            return None
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(f"/v1/customers/{survivor}{suffix}{query}", status_code=308)

    @app.get(
        "/v1/customers/{customer_id}",
        response_model=CustomerState,
        dependencies=[Depends(require("customers:read"))],
        responses={308: {"description": "merged into another customer; follow Location"}},
        tags=["customers"],
    )
    async def customer(customer_id: str, request: Request) -> Any:
        """A customer's current state; a merged-away id redirects to its survivor."""
        redirect = _redirect_if_merged(customer_id, request, "")
        if redirect is not None:
            return redirect
        state = view.state(customer_id)
        if state is None:
            raise _not_found(f"no customer with id {customer_id!r}")
        return state

    @app.get(
        "/v1/customers/{customer_id}/timeline",
        response_model=TimelinePage,
        dependencies=[Depends(require("history:read"))],
        tags=["customers"],
    )
    def timeline(
        customer_id: str,
        request: Request,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        cursor: str | None = None,
        type: Annotated[str | None, Query(description="exact, or a prefix ending in *")] = None,
        source: str | None = None,
    ) -> Any:
        """Full history across the customer's merged ids, newest first, keyset-paged."""
        redirect = _redirect_if_merged(customer_id, request, "/timeline")
        if redirect is not None:
            return redirect
        ids = view.members(customer_id)
        items, next_cursor = store.timeline(
            ids, limit=limit, cursor=cursor, type=type, source=source
        )
        if not items and cursor is None and view.state(customer_id) is None:
            raise _not_found(f"no customer with id {customer_id!r}")
        return TimelinePage(
            customer_id=customer_id, customer_ids=ids, items=items, next_cursor=next_cursor
        )

    app.include_router(identity_router(view, store, settings))
    document_scopes(app)  # after every route: publishes x-required-scope per operation

    return app
