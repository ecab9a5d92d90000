"""The HTTP API of a serving replica (FastAPI; OpenAPI at ``/openapi.json``).

Reads come from ``ServingView`` (states, identifiers, aliases: memory) and
``Store`` (timelines, identity explanations: DuckDB). Every route depends on
an API-key scope (``auth.require``); the checker is open until key files land.

Bad input is never a 5xx: bodies over ``max_request_bytes`` get 413 and
failures are logged without values (``errors.RequestGuard``), JSON bodies are
parsed strictly (``errors.StrictJSONRoute``: NaN, Infinity and lone surrogates
are a 422), ids and cursors have a length and a shape.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from signalfold.policy import Decider
from signalfold.schemas import CustomerState
from signalfold.settings import Settings
from signalfold.sinks._resolve import (
    BadIdentifier,
    declared_identifier_types,
    describe_given,
    find_state,
)
from signalfold.sinks.auth import KeyChecker, document_scopes, key_checker_for, require
from signalfold.sinks.checks import Checks, DecideFunction, as_decider
from signalfold.sinks.decision_log import DecisionLog
from signalfold.sinks.errors import (
    InvalidCursor,
    RequestGuard,
    StrictJSONRoute,
    problem,
    refusal,
    server_error,
    validation_details,
)
from signalfold.sinks.models import (
    MAX_CURSOR_CHARS,
    MAX_CUSTOMER_ID_CHARS,
    MAX_ID_CHARS,
    Problem,
    ProblemReport,
    RefusalReport,
    ServiceStatus,
    TimelinePage,
)
from signalfold.sinks.routes_decisions import decision_router
from signalfold.sinks.routes_erasure import ErasureWiring, erasure_router
from signalfold.sinks.routes_identity import Publish, identity_router
from signalfold.sinks.routes_privacy import privacy_router
from signalfold.sinks.status import Readiness, status_response
from signalfold.sinks.store import Store, decode_cursor
from signalfold.sinks.view import ServingView

__all__ = ["create_app"]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _not_found(message: str) -> HTTPException:
    return refusal(
        404, "customer_not_found", ["path"], None, "a customer signalfold knows", "none", message
    )


def _unprocessable(exc: BadIdentifier, location: str) -> HTTPException:
    err = exc.error
    loc = [location] + ([err.field] if err.field else [])
    return HTTPException(422, detail=[problem("invalid_identifier", loc, **err.model_dump())])


CustomerPath = Annotated[str, PathParam(max_length=MAX_CUSTOMER_ID_CHARS)]
IdQuery = Annotated[str | None, Query(max_length=MAX_ID_CHARS)]
_INT64 = range(-(2**63), 2**63)
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": RefusalReport, "description": "no customer has this id or identifier"}
}
MERGED: dict[int | str, dict[str, Any]] = {
    308: {"description": "merged into another customer; follow Location"}
}


class _App(FastAPI):
    """FastAPI with ``RequestGuard`` around its whole stack.

    Not a user middleware: ``FastFront`` still sends learned fast paths past the stack.
    """

    max_request_bytes: int

    def build_middleware_stack(self) -> Any:
        return RequestGuard(super().build_middleware_stack(), self.max_request_bytes)


def _checked_cursor(cursor: str | None) -> str | None:
    """``cursor`` if it is one ``Store.timeline`` can page from; else ``InvalidCursor``.

    The query's length bound already keeps its JSON shallow; the event time must
    fit DuckDB's 64-bit integer.
    """
    if cursor is not None:
        occurred_us, _ = decode_cursor(cursor)
        if occurred_us not in _INT64:
            raise InvalidCursor("cursor is not one this service handed out")
    return cursor


_DOCS_ASSETS = "/static/docs"


def _docs_assets() -> Path:
    """Swagger UI and ReDoc as the ``fastapi-offline`` wheel ships them (no CDN)."""
    import fastapi_offline

    return Path(fastapi_offline.__file__).parent / "static"


def _serve_docs(app: FastAPI) -> None:
    """``/docs`` and ``/redoc`` from assets served here, so they work offline."""
    app.mount(_DOCS_ASSETS, StaticFiles(directory=_docs_assets()), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"
    title = f"{app.title} API"

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=title,
            swagger_js_url=f"{_DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{_DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{_DOCS_ASSETS}/favicon.png",
            oauth2_redirect_url="/docs/oauth2-redirect",
            # no badge from the public validator: nothing leaves the page
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=title,
            redoc_js_url=f"{_DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{_DOCS_ASSETS}/favicon.png",
            with_google_fonts=False,
        )


def _document_problems(app: FastAPI) -> None:
    """Make OpenAPI's 422 schema the shape the API answers with (``ProblemReport``).

    Operations with a body also document the 413 of ``RequestGuard``, in that shape;
    operations that need a key, its 401 and 403 (``RefusalReport``).
    """
    default = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = default()
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            ref = "#/components/schemas/ValidationError"
            schemas["ValidationError"] = Problem.model_json_schema(ref_template=ref)
            report = ProblemReport.model_json_schema()
            report.pop("$defs", None)
            report["title"] = "HTTPValidationError"
            report["properties"]["detail"] = {"type": "array", "items": {"$ref": ref}}
            schemas["HTTPValidationError"] = report
            too_large = {
                "description": "body over SIGNALFOLD_MAX_REQUEST_BYTES",
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/HTTPValidationError"}
                    }
                },
            }
            refused = {
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/RefusalReport"}}
                }
            }
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    responses = operation.setdefault("responses", {})
                    if "requestBody" in operation:
                        responses["413"] = too_large
                    if operation.get("security"):
                        responses["401"] = {"description": "no key, or an unknown one", **refused}
                        responses["403"] = {"description": "the key lacks the scope", **refused}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override


def create_app(
    view: ServingView,
    store: Store,
    settings: Settings,
    *,
    clock: Callable[[], datetime] = _utcnow,
    decide: Decider | DecideFunction | None = None,
    readiness: Readiness | None = None,
    key_checker: KeyChecker | None = None,
    decision_log: DecisionLog | None = None,
    identifier_types: Iterable[str] | None = None,
    publish: Publish | None = None,
    erasures: ErasureWiring | None = None,
) -> FastAPI:
    """The serving API over ``view`` and ``store``; tests pass a fixed clock and fakes.

    ``decide``: the ``Decider`` checks are answered with (default: the
    shipped policy's; a plain function stands in for ``decide`` in tests); ``readiness``
    ``None`` means always ready (no consumer, e.g. in unit tests);
    ``decision_log`` records every check answered (``None``: not logged);
    ``identifier_types`` defaults to the types the contract files declare;
    ``publish`` sends identity commands (default: to Kafka); ``erasures``
    wires the erasure routes (none: they are not served).
    """
    region = settings.default_region
    types = frozenset(
        identifier_types
        if identifier_types is not None
        else declared_identifier_types(settings.contracts_dir)
    )
    app = _App(
        title="signalfold",
        version="1",
        summary="One customer reality, served.",
        docs_url=None,
        redoc_url=None,
    )
    app.max_request_bytes = settings.max_request_bytes
    app.router.route_class = StrictJSONRoute
    app.state.key_checker = key_checker or key_checker_for(settings)
    _serve_docs(app)

    @app.exception_handler(Exception)
    async def _failed(request: Request, exc: Exception) -> JSONResponse:
        # the 500 in the one shape; ``RequestGuard`` logs the failure without its values
        return JSONResponse({"detail": server_error()}, status_code=500)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        body = {"detail": validation_details(errors), "error_count": len(errors)}
        return JSONResponse(body, status_code=422)

    @app.exception_handler(InvalidCursor)
    async def _bad_cursor(request: Request, exc: InvalidCursor) -> JSONResponse:
        detail = [
            problem(
                "invalid_cursor",
                ["query", "cursor"],
                "cursor",
                "a next_cursor this service handed out",
                "another value",
                f"cursor: {exc}",
            )
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    unavailable: dict[int | str, dict[str, Any]] = {
        503: {"model": ServiceStatus, "description": "not ready; see detail"}
    }

    @app.get("/v1/health", response_model=ServiceStatus, responses=unavailable, tags=["ops"])
    async def health() -> JSONResponse:
        """Liveness: 503 only when the consumer thread died (restart the replica)."""
        return status_response(readiness, require_caught_up=False)

    @app.get("/v1/ready", response_model=ServiceStatus, responses=unavailable, tags=["ops"])
    async def ready() -> JSONResponse:
        """Readiness: 200 once the topics were replayed up to where they ended at start."""
        return status_response(readiness, require_caught_up=True)

    checks = Checks(view, as_decider(decide), clock, region, decision_log, types=types)
    app.state.checks = checks  # the fast path in front of the app answers through it too
    app.include_router(decision_router(checks))

    @app.get(
        "/v1/customers/lookup",
        response_model=CustomerState,
        dependencies=[Depends(require("customers:read"))],
        responses=NOT_FOUND,
        tags=["customers"],
    )
    async def lookup(
        email: IdQuery = None,
        phone: IdQuery = None,
        type: IdQuery = None,
        value: IdQuery = None,
    ) -> CustomerState:
        """The customer an identifier belongs to: ``email``, ``phone``, or ``type`` + ``value``."""
        given = [(t, v) for t, v in (("email", email), ("phone", phone), (type, value)) if v]
        if len(given) != 1 or given[0][0] is None or (type is None) != (value is None):
            found = describe_given({"email": email, "phone": phone}, type, value)
            expected = "exactly one of email, phone, or type and value"
            message = f"give {expected}; found {found}"
            detail = [problem("missing_identifier", ["query"], None, expected, found, message)]
            raise HTTPException(422, detail=detail)
        id_type, id_value = given[0]
        assert id_type is not None and id_value is not None
        field = id_type if id_type in ("email", "phone") else "value"
        try:
            state = find_state(view, id_type, id_value, region, field=field, types=types)
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
        responses={**MERGED, **NOT_FOUND},
        tags=["customers"],
    )
    async def customer(customer_id: CustomerPath, request: Request) -> Any:
        """A customer's current state; a merged-away id redirects to its survivor."""
        redirect = _redirect_if_merged(customer_id, request, "")
        if redirect is not None:
            return redirect
        state = view.state(customer_id)
        if state is None:
            raise _not_found("no customer has this id; find one with /v1/customers/lookup")
        return state

    @app.get(
        "/v1/customers/{customer_id}/timeline",
        response_model=TimelinePage,
        dependencies=[Depends(require("history:read"))],
        responses={**MERGED, **NOT_FOUND},
        tags=["customers"],
    )
    def timeline(
        customer_id: CustomerPath,
        request: Request,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        cursor: Annotated[
            str | None,
            Query(
                max_length=MAX_CURSOR_CHARS,
                pattern=r"^[A-Za-z0-9_-]+=*$",
                description="the `next_cursor` of the previous page, unchanged",
            ),
        ] = None,
        type: Annotated[
            str | None, Query(max_length=MAX_ID_CHARS, description="exact, or a prefix ending in *")
        ] = None,
        source: IdQuery = None,
    ) -> Any:
        """Full history across the customer's merged ids, newest first, keyset-paged.

        An id no customer has is a 404, with or without a cursor.
        """
        redirect = _redirect_if_merged(customer_id, request, "/timeline")
        if redirect is not None:
            return redirect
        ids = view.members(customer_id)
        items, next_cursor = store.timeline(
            ids, limit=limit, cursor=_checked_cursor(cursor), type=type, source=source
        )
        if not items and view.state(customer_id) is None and not store.timeline(ids, limit=1)[0]:
            raise _not_found("no customer has this id; find one with /v1/customers/lookup")
        return TimelinePage(
            customer_id=customer_id, customer_ids=ids, items=items, next_cursor=next_cursor
        )

    app.include_router(identity_router(view, store, settings, publish))
    app.include_router(privacy_router(view, store, decision_log, clock))
    if erasures is not None:
        app.include_router(erasure_router(view, erasures, region=region))
    document_scopes(app)  # after every route: publishes x-required-scope per operation
    _document_problems(app)

    return app
