"""Privacy routes: a subject access export of everything this replica holds about a person.

``GET /v1/customers/{id}/export`` (scope ``privacy:export``, admin keys only)
answers one ``SubjectAccessExport``: the customer's state (profile, identities,
consent, flags …), every signal of their records from the serving store, the
identity explanation with its evidence, and the decision-log rows about them
— by customer id, or asked by one of their identifiers, matched through the
keyed hash the log keeps. Its ``coverage`` names every topic and store
signalfold owns and says what the document took from each; what a replica
does not read (dead letters, raw source topics, stage stores) is listed as
not covered with what to do instead. Erasure is not implemented yet.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.responses import RedirectResponse

from signalfold.identity.explain import from_changes
from signalfold.schemas.decision_log import LoggedDecision
from signalfold.schemas.identity import CustomerIdentity
from signalfold.schemas.state import CustomerState
from signalfold.schemas.subject_access import HistoryEntry, StoreCoverage, SubjectAccessExport
from signalfold.sinks.auth import require
from signalfold.sinks.decision_log import DecisionLog
from signalfold.sinks.errors import StrictJSONRoute, refusal
from signalfold.sinks.models import MAX_CUSTOMER_ID_CHARS, RefusalReport
from signalfold.sinks.routes_identity import _gather  # the explanation's own gathering
from signalfold.sinks.store import Store
from signalfold.sinks.view import ServingView

__all__ = ["MAX_EXPORTED_DECISIONS", "coverage", "privacy_router"]

#: Decision-log rows one export carries at most; past it, ``coverage`` says so.
MAX_EXPORTED_DECISIONS = 100_000


def coverage(*, customer: bool, decisions_capped: bool = False) -> list[StoreCoverage]:
    """What an export covers, store by store (``customer``: the person is a customer)."""
    own = "yes" if customer else "no"
    who = "" if customer else " (no customer: nothing of theirs)"
    log_note = (
        "answers given about the customer's ids, and questions that named one of their "
        "identifiers, matched by keyed hash; rows written before signalfold hashed them "
        "carry the plain value and are found by customer id only"
    )
    if decisions_capped:
        log_note += f"; only the newest {MAX_EXPORTED_DECISIONS} rows are included"
    return [
        StoreCoverage(
            store="customer.state",
            covered=own,
            section="state",
            note="profile, identities, consent, tickets, orders, counters, flags" + who,
        ),
        StoreCoverage(
            store="signals.resolved",
            covered=own,
            section="history",
            note="every signal of the customer's records, from this replica's DuckDB" + who,
        ),
        StoreCoverage(
            store="identity.changes",
            covered=own,
            section="identity",
            note="records, links with evidence, refusals, operator changes, relationships" + who,
        ),
        StoreCoverage(
            store="identity.index",
            covered=own,
            section="identifiers",
            note="the identifier keys that lead to the customer now" + who,
        ),
        StoreCoverage(
            store="decisions.log",
            covered="partly" if decisions_capped else "yes",
            section="decisions",
            note=log_note,
        ),
        StoreCoverage(
            store="signals.dlq",
            covered="no",
            note="dead letters keep the original bytes of rejected events; a serving replica "
            "does not read them: search them with `signalfold dlq inspect --show-values`",
        ),
        StoreCoverage(
            store="signals.canonical",
            covered="no",
            note="the same signals as `history`, before they were resolved to a customer; "
            "not read by serving",
        ),
        StoreCoverage(
            store="suppression.changes",
            covered="no",
            note="past flag changes of the customer (the current flags are in `state`); "
            "not read by serving",
        ),
        StoreCoverage(
            store="identity.commands",
            covered="no",
            note="operators' split and pin commands (record ids and a note); their outcome "
            "is in `identity`",
        ),
        StoreCoverage(
            store="stage stores",
            covered="no",
            note="the resolve and state stages' in-memory stores and snapshots, rebuilt "
            "from the topics above; nothing in them that the topics do not hold",
        ),
        StoreCoverage(
            store="signals.raw.<source>",
            covered="no",
            note="the sources' own events, as they sent them: the operator owns these topics "
            "and their retention",
        ),
    ]


def _identifier_keys(
    view: ServingView, ids: list[str], state: CustomerState | None, identity: CustomerIdentity
) -> list[str]:
    """The index keys the customer's records added that still lead to the customer."""
    keys = {
        k for change in identity.changes if change.customer_id in ids for k in change.identifiers
    }
    members = set(ids)
    found = {k for k in keys if view.lookup(k) in members}
    if state is not None:  # identities of records whose changes this replica has not seen
        found |= {
            f"{i.type}:{i.value}"
            for i in state.identities
            if view.lookup(f"{i.type}:{i.value}") in members
        }
    return sorted(found)


def privacy_router(
    view: ServingView,
    store: Store,
    decision_log: DecisionLog | None,
    clock: Callable[[], datetime],
) -> APIRouter:
    """The export route; ``decision_log`` ``None`` exports no decisions (unit tests)."""
    router = APIRouter(tags=["privacy"], route_class=StrictJSONRoute)

    def decisions(ids: list[str], keys: list[str]) -> list[LoggedDecision]:
        if decision_log is None:
            return []
        hashes = [decision_log.hasher.key(k) for k in keys]
        return decision_log.query(
            customer_ids=ids, identifier_hashes=hashes, limit=MAX_EXPORTED_DECISIONS
        )

    @router.get(
        "/v1/customers/{customer_id}/export",
        response_model=SubjectAccessExport,
        dependencies=[Depends(require("privacy:export"))],
        responses={
            308: {"description": "merged into another customer; follow Location"},
            404: {"model": RefusalReport, "description": "no customer has this id"},
        },
    )
    def export(customer_id: Annotated[str, Path(max_length=MAX_CUSTOMER_ID_CHARS)]) -> Any:
        """Everything this replica holds about the customer, as one document (admin only).

        ``coverage`` says, for every topic and store signalfold owns, whether
        the document covers it; those it does not are named, never left out.
        """
        survivor = view.resolve(customer_id)
        if survivor != customer_id:
            return RedirectResponse(f"/v1/customers/{survivor}/export", status_code=308)
        ids = view.members(customer_id)
        state = view.state(customer_id)
        history = store.history(ids)
        changes = _gather(view, store, ids)
        if state is None and not history and not changes:
            raise refusal(
                404,
                "customer_not_found",
                ["path", "customer_id"],
                "customer_id",
                "a customer id this replica knows",
                "an id no customer has",
                "no customer has this id; find one with GET /v1/customers/lookup, or ask "
                "GET /v1/decisions/log by the identifier for someone who is no customer",
            )
        identity = from_changes(customer_id, ids, changes)
        keys = _identifier_keys(view, ids, state, identity)
        rows = decisions(ids, keys)
        return SubjectAccessExport(
            exported_at=clock(),
            customer_id=customer_id,
            customer_ids=ids,
            identifiers=keys,
            state=state,
            history=[HistoryEntry(customer_id=i.customer_id, signal=i.signal) for i in history],
            identity=identity,
            decisions=rows,
            coverage=coverage(customer=True, decisions_capped=len(rows) >= MAX_EXPORTED_DECISIONS),
        )

    return router
