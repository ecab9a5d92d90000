"""Erasure routes: forget a person everywhere signalfold owns, keep them off marketing.

``POST /v1/customers/{id}/erase`` erases a customer (any id it had);
``POST /v1/erasures`` erases whoever holds the given identifiers (or, for a person
who is no customer, puts them on the do-not-contact list). Both need scope
``privacy:erase`` (admin keys only), a reason, and answer 202 with the request
id: the request goes onto ``privacy.erasures`` and the pipeline carries it out
(``streams/stages/resolve.py``). ``GET /v1/erasures/{request_id}`` says whether
this replica has applied it.

Nothing personal is kept about the request: the topic holds the customer id,
keyed hashes of identifiers, who asked, when and why.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from signalfold.schemas.erasure import ErasureRequest
from signalfold.settings import Settings
from signalfold.sinks._acked import AckedSender
from signalfold.sinks._resolve import BadIdentifier, identifier_key
from signalfold.sinks.auth import require
from signalfold.sinks.errors import StrictJSONRoute, refusal
from signalfold.sinks.models import MAX_CUSTOMER_ID_CHARS, RefusalReport
from signalfold.sinks.view import ServingView

__all__ = ["ErasureAccepted", "ErasureWiring", "KafkaErasures", "erasure_router"]


@dataclass(frozen=True)
class ErasureWiring:
    """What the routes need: where requests go, how identifiers are hashed, what is done."""

    send: Callable[[ErasureRequest], None]
    hash_key: Callable[[str], str]  # an identifier key → its keyed hash
    applied: Callable[[str], str | None]  # a request id → when this replica applied it


class EraseCustomer(BaseModel):
    """Why (kept with the request, for the audit)."""

    reason: str = Field(min_length=1, max_length=500)


class IdentifierIn(BaseModel):
    type: str = Field(min_length=1, max_length=64)
    value: str = Field(min_length=1, max_length=512)


class EraseIdentifiers(BaseModel):
    """Erase whoever holds these identifiers; hold them for marketing in any case."""

    identifiers: list[IdentifierIn] = Field(min_length=1, max_length=20)
    reason: str = Field(min_length=1, max_length=500)


class ErasureAccepted(BaseModel):
    """The request is on ``privacy.erasures``; every stage and replica applies it."""

    request_id: str
    customer_id: str | None = Field(description="The customer erased (null: no customer).")
    held_identifiers: int = Field(description="Identifier hashes put on do-not-contact now.")


class ErasureStatus(BaseModel):
    request_id: str
    status: Literal["applied", "pending"]
    applied_at: datetime | None = None


class KafkaErasures:
    """Publishes erasure requests on ``privacy.erasures``, acknowledged (else 503)."""

    def __init__(self, settings: Settings) -> None:
        from signalfold.streams.topics import Topics

        self._topic = Topics(settings.topic_prefix).erasures
        self._sender = AckedSender(
            settings,
            "erasure request",
            "the erasure was not recorded; retry when the broker is back",
        )

    def __call__(self, request: ErasureRequest) -> None:
        body = request.model_dump_json().encode()
        self._sender.send(self._topic, request.request_id.encode(), body)


def erasure_router(view: ServingView, wiring: ErasureWiring, *, region: str) -> APIRouter:
    """The erasure routes over ``view`` (who is who) and ``wiring``."""
    send, hash_key, applied = wiring.send, wiring.hash_key, wiring.applied
    router = APIRouter(tags=["privacy"], route_class=StrictJSONRoute)
    admin = [Depends(require("privacy:erase"))]

    def _request(cid: str | None, hashes: list[str], reason: str, who: str) -> ErasureRequest:
        return ErasureRequest(
            request_id=f"era_{uuid.uuid4().hex}",
            customer_id=cid,
            identifier_hashes=tuple(sorted(set(hashes))),
            reason=reason,
            requested_by=who,
            requested_at=datetime.now(UTC),
        )

    @router.post(
        "/v1/customers/{customer_id}/erase",
        response_model=ErasureAccepted,
        status_code=202,
        dependencies=admin,
        responses={
            308: {"description": "merged into another customer; follow Location"},
            404: {"model": RefusalReport, "description": "no customer has this id"},
            503: {"model": RefusalReport, "description": "the broker did not take it"},
        },
    )
    def erase_customer(
        customer_id: Annotated[str, Path(max_length=MAX_CUSTOMER_ID_CHARS)],
        body: EraseCustomer,
        who: Annotated[str, Depends(require("privacy:erase"))],
    ) -> Any:
        """Erase a customer: identifiers, traits, history, state, from every topic and store."""
        survivor = view.resolve(customer_id)
        if survivor != customer_id:
            return RedirectResponse(f"/v1/customers/{survivor}/erase", status_code=308)
        if view.state(customer_id) is None:
            raise refusal(
                404,
                "customer_not_found",
                ["path", "customer_id"],
                "customer_id",
                "a customer signalfold knows",
                "none with this id",
                "no customer has this id; erase by identifier (POST /v1/erasures) instead",
            )
        request = _request(customer_id, [], body.reason, who)
        send(request)
        return ErasureAccepted(
            request_id=request.request_id, customer_id=customer_id, held_identifiers=0
        )

    @router.post(
        "/v1/erasures",
        response_model=ErasureAccepted,
        status_code=202,
        dependencies=admin,
        responses={
            409: {"model": RefusalReport, "description": "they lead to different customers"},
            422: {"model": RefusalReport, "description": "an identifier that does not parse"},
            503: {"model": RefusalReport, "description": "the broker did not take it"},
        },
    )
    def erase_identifiers(
        body: EraseIdentifiers, who: Annotated[str, Depends(require("privacy:erase"))]
    ) -> ErasureAccepted:
        """Erase whoever holds these identifiers, and hold the identifiers for marketing."""
        keys = []
        for n, identifier in enumerate(body.identifiers):
            try:
                keys.append(identifier_key(identifier.type, identifier.value, region))
            except BadIdentifier as exc:
                raise refusal(
                    422,
                    "invalid_identifier",
                    ["body", "identifiers", n, "value"],
                    "value",
                    f"a valid {identifier.type}",
                    "a value that does not normalise",
                    str(exc),
                ) from None
        owners = sorted({c for k in keys if (c := view.lookup(k)) is not None})
        if len(owners) > 1:  # a shared landline, a family mailbox: never erase the wrong one
            raise refusal(
                409,
                "identifiers_of_several_customers",
                ["body", "identifiers"],
                "identifiers",
                "identifiers that lead to one customer",
                f"{len(owners)} customers",
                "these identifiers lead to different customers; find the person's customer "
                "id (GET /v1/customers/lookup) and erase it (POST /v1/customers/{id}/erase)",
            )
        hashes = [hash_key(k) for k in keys]
        request = _request(owners[0] if owners else None, hashes, body.reason, who)
        send(request)
        return ErasureAccepted(
            request_id=request.request_id,
            customer_id=request.customer_id,
            held_identifiers=len(set(hashes)),
        )

    @router.get(
        "/v1/erasures/{request_id}",
        response_model=ErasureStatus,
        dependencies=admin,
    )
    def erasure_status(
        request_id: Annotated[str, Path(pattern=r"^era_[A-Za-z0-9_-]{1,64}$")],
    ) -> ErasureStatus:
        """Whether this replica has applied the erasure (its state, index and history)."""
        at = applied(request_id)
        return ErasureStatus(
            request_id=request_id, status="applied" if at else "pending", applied_at=at
        )

    return router
