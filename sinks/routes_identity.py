"""Identity routes: explanations for readers, split and pins for operators.

``GET /v1/customers/{id}/identity`` answers from the changes this replica
stored (``identity.explain.from_changes``): the records, every link with its
evidence, the refused merges with their reasons, the operator's pins and
splits. ``POST /v1/identity/split`` and ``POST /v1/identity/pins`` publish an
``IdentityCommand`` on ``identity.commands`` and answer 202 at once: the
resolve stage carries it out, and the outcome shows up in the explanation
(the split's new customer id is known in advance and returned).

Ids are checked before anything is published: a customer id is 1 to 64
letters, digits, ``_`` or ``-``; a record is ``source:key`` of at most 320
characters; a command that would not fit a Kafka record is a 422.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from signalfold.identity.explain import from_changes, related_ids
from signalfold.schemas import IdentityChange, IdentityCommand
from signalfold.schemas.identity import CustomerIdentity
from signalfold.settings import Settings
from signalfold.sinks._acked import AckedSender
from signalfold.sinks.auth import require
from signalfold.sinks.errors import StrictJSONRoute, problem, refusal
from signalfold.sinks.models import MAX_CUSTOMER_ID_CHARS, MAX_ID_CHARS, RefusalReport
from signalfold.sinks.store import Store
from signalfold.sinks.view import ServingView

if TYPE_CHECKING:
    from signalfold.streams.keylog import KeyLog

__all__ = ["CommandAccepted", "KafkaCommands", "PinRequest", "SplitRequest", "identity_router"]

Publish = Callable[[IdentityCommand], None]
_MAX_HOPS = 8
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": RefusalReport, "description": "the broker did not take the command; retry"}
}

CustomerId = Annotated[
    str,
    Field(min_length=1, max_length=MAX_CUSTOMER_ID_CHARS, pattern=r"^[A-Za-z0-9_-]+$"),
]
RecordId = Annotated[
    str,
    Field(
        min_length=3,
        max_length=MAX_ID_CHARS,
        pattern=r"^[a-z][a-z0-9_]*:.+$",
        description="`source:key`, as the identity explanation lists records",
    ),
]


class SplitRequest(BaseModel):
    """Move ``records`` (``source:key``) out of ``customer_id`` into a new customer."""

    customer_id: CustomerId
    records: list[RecordId] = Field(min_length=1, max_length=10_000)
    note: str | None = Field(default=None, max_length=500)


class PinRequest(BaseModel):
    """Two records that are ``never`` / ``always`` the same customer."""

    records: list[RecordId] = Field(min_length=2, max_length=2)
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

    def __init__(self, settings: Settings, keys: KeyLog | None = None) -> None:
        from signalfold.streams.topics import Topics

        self._topics = Topics(settings.topic_prefix)
        self._keys = keys  # commands name records (often emails): sealed with their keys
        self._sender = AckedSender(settings, "command", "the command was not acknowledged; retry")

    def __call__(self, command: IdentityCommand) -> None:
        from signalfold.streams.topics import command_record

        with self._sender.lock:  # sealed, its keys published, then sent: one at a time
            topic, key, value = command_record(self._topics, command, self._keys)
            if self._keys is not None:
                self._keys.publish()
            self._sender.send(topic, key, value)


def _fits(command: IdentityCommand) -> None:
    """Raise a 422 if ``command`` is larger than a Kafka record may be."""
    from signalfold.streams.kafka import MAX_RECORD_BYTES

    size = len(command.model_dump_json().encode())
    if size <= MAX_RECORD_BYTES:
        return
    expected = f"a command of at most {MAX_RECORD_BYTES} bytes"
    found = f"a command of {size} bytes ({len(command.records)} records)"
    message = f"records: expected {expected}, found {found}; send the records in several commands"
    detail = [
        problem("command_too_large", ["body", "records"], "records", expected, found, message)
    ]
    raise HTTPException(422, detail=detail)


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
    router = APIRouter(tags=["identity"], route_class=StrictJSONRoute)
    send = publish or KafkaCommands(settings)

    @router.get(
        "/v1/customers/{customer_id}/identity",
        response_model=CustomerIdentity,
        dependencies=[Depends(require("identity:read"))],
        responses={
            308: {"description": "merged into another customer; follow Location"},
            404: {"model": RefusalReport, "description": "no customer has this id"},
        },
    )
    def identity(
        customer_id: Annotated[str, Path(max_length=MAX_CUSTOMER_ID_CHARS)], request: Request
    ) -> Any:
        """Why these records are one customer: records, links with evidence, refusals, pins."""
        survivor = view.resolve(customer_id)
        if survivor != customer_id:
            query = f"?{request.url.query}" if request.url.query else ""
            return RedirectResponse(f"/v1/customers/{survivor}/identity{query}", status_code=308)
        ids = view.members(customer_id)
        changes = _gather(view, store, ids)
        if not changes and view.state(customer_id) is None:
            raise refusal(
                404,
                "customer_not_found",
                ["path", "customer_id"],
                "customer_id",
                "a customer signalfold knows",
                "none with this id",
                "no customer has this id; look it up by an identifier (GET /v1/customers/lookup)",
            )
        return from_changes(customer_id, ids, changes)

    def _accept(command: IdentityCommand) -> CommandAccepted:
        _fits(command)
        send(command)
        return CommandAccepted(command_id=command.command_id)

    @router.post(
        "/v1/identity/split",
        response_model=CommandAccepted,
        status_code=202,
        dependencies=[Depends(require("identity:write"))],
        responses=UNAVAILABLE,
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
        responses=UNAVAILABLE,
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
