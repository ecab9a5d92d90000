"""Identity routes: explanations for readers, split and pins for operators.

``GET /v1/customers/{id}/identity`` answers from the changes this replica
stored (``identity.explain.from_changes``): the records, every link with its
evidence, the refused merges with their reasons, the operator's pins and
splits. ``POST /v1/identity/split`` and ``POST /v1/identity/pins`` publish an
``IdentityCommand`` on ``identity.commands`` and answer 202 at once: the
resolve stage carries it out, and the outcome shows up in the explanation
(the split's new customer id is known in advance and returned).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from signalfold.identity.explain import from_changes, related_ids
from signalfold.schemas import IdentityChange, IdentityCommand
from signalfold.schemas.identity import CustomerIdentity
from signalfold.settings import Settings
from signalfold.sinks.auth import require
from signalfold.sinks.store import Store
from signalfold.sinks.view import ServingView

__all__ = ["CommandAccepted", "KafkaCommands", "PinRequest", "SplitRequest", "identity_router"]

Publish = Callable[[IdentityCommand], None]
_MAX_HOPS = 8


class SplitRequest(BaseModel):
    """Move ``records`` (``source:key``) out of ``customer_id`` into a new customer."""

    customer_id: str
    records: list[str] = Field(min_length=1, max_length=10_000)
    note: str | None = Field(default=None, max_length=500)


class PinRequest(BaseModel):
    """Two records that are ``never`` / ``always`` the same customer."""

    records: list[str] = Field(min_length=2, max_length=2)
    pin: Literal["never", "always"]
    note: str | None = Field(default=None, max_length=500)


class CommandAccepted(BaseModel):
    """The command was published; the resolve stage carries it out.

    Its answer (which customer each side of a split is now named after, or why
    it was refused) is on ``identity.changes`` under ``signal_id = command_id``,
    and in ``GET /v1/customers/{id}/identity`` of the customers involved.
    """

    command_id: str


class KafkaCommands:
    """Publishes commands with one producer, created on first use."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: Any = None
        self._lock = threading.Lock()

    def __call__(self, command: IdentityCommand) -> None:
        from signalfold.streams.kafka import producer
        from signalfold.streams.stages.resolve import command_output
        from signalfold.streams.topics import Topics

        with self._lock:
            if self._producer is None:
                self._producer = producer(self._settings.kafka_client_config())
            out = command_output(Topics(self._settings.topic_prefix), command)
            self._producer.produce(out.topic, key=out.key, value=out.value)
            if self._producer.flush(10):
                raise HTTPException(
                    503,
                    detail={
                        "error": "broker_unavailable",
                        "message": "the command was not acknowledged; retry",
                    },
                )


def _gather(view: ServingView, store: Store, ids: list[str]) -> list[IdentityChange]:
    """The customer's changes, and those of the customers splits took its records from."""
    changes = store.identity_changes_for(ids) + store.identity_splits_from(ids)
    seen = set(ids)
    for _ in range(_MAX_HOPS):
        more = sorted(related_ids(changes) - seen)
        if not more:
            break
        family = [m for cid in more for m in view.members(view.resolve(cid))] + more
        seen |= set(family)
        changes += store.identity_changes_for(sorted(set(family)))
    return changes


def identity_router(
    view: ServingView, store: Store, settings: Settings, publish: Publish | None = None
) -> APIRouter:
    """The identity routes; ``publish`` defaults to Kafka (tests pass their own)."""
    router = APIRouter(tags=["identity"])
    send = publish or KafkaCommands(settings)

    @router.get(
        "/v1/customers/{customer_id}/identity",
        response_model=CustomerIdentity,
        dependencies=[Depends(require("identity:read"))],
        responses={308: {"description": "merged into another customer; follow Location"}},
    )
    def identity(customer_id: str, request: Request) -> Any:
        """Why these records are one customer: records, links with evidence, refusals, pins."""
        survivor = view.resolve(customer_id)
        if survivor != customer_id:
            query = f"?{request.url.query}" if request.url.query else ""
            return RedirectResponse(f"/v1/customers/{survivor}/identity{query}", status_code=308)
        ids = view.members(customer_id)
        changes = _gather(view, store, ids)
        if not changes and view.state(customer_id) is None:
            raise HTTPException(
                404,
                detail={
                    "error": "customer_not_found",
                    "message": "no customer has this id; look it up by an identifier "
                    "(GET /v1/customers/lookup)",
                },
            )
        return from_changes(customer_id, ids, changes)

    def _accept(command: IdentityCommand) -> CommandAccepted:
        send(command)
        return CommandAccepted(command_id=command.command_id)

    @router.post(
        "/v1/identity/split",
        response_model=CommandAccepted,
        status_code=202,
        dependencies=[Depends(require("identity:write"))],
    )
    def split(body: SplitRequest) -> CommandAccepted:
        """Unmerge: the records move to a new customer whose state is rebuilt from their signals."""
        command = IdentityCommand(
            command_id=f"cmd_{uuid.uuid4().hex}",
            kind="split",
            customer_id=body.customer_id,
            records=tuple(body.records),
            note=body.note,
            requested_at=datetime.now(UTC),
        )
        return _accept(command)

    @router.post(
        "/v1/identity/pins",
        response_model=CommandAccepted,
        status_code=202,
        dependencies=[Depends(require("identity:write"))],
    )
    def pin(body: PinRequest) -> CommandAccepted:
        """Pin two records never (splitting them if needed) or always (merging them) together."""
        command = IdentityCommand(
            command_id=f"cmd_{uuid.uuid4().hex}",
            kind="pin",
            records=tuple(body.records),
            pin=body.pin,
            note=body.note,
            requested_at=datetime.now(UTC),
        )
        return _accept(command)

    return router
