"""``SubjectAccessExport``: everything one serving replica holds about a person, as one document.

What ``GET /v1/customers/{id}/export`` and ``signalfold export`` answer a
subject access request with. ``coverage`` lists every topic and store
signalfold owns and says, for each, whether the document covers it and how;
a store it does not cover is named there, never silently left out.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from signalfold.schemas.decision_log import LoggedDecision
from signalfold.schemas.dlq import DeadLetter
from signalfold.schemas.identity import CustomerIdentity
from signalfold.schemas.signal import Signal
from signalfold.schemas.state import CustomerState

__all__ = ["HistoryEntry", "StoreCoverage", "SubjectAccessExport"]


class HistoryEntry(BaseModel):
    """One signal of the person's history and the customer id it was resolved to."""

    customer_id: str
    signal: Signal


class StoreCoverage(BaseModel):
    """One topic or store signalfold owns, and what the export took from it."""

    model_config = ConfigDict(frozen=True)

    store: str = Field(description="A topic name (`customer.state`) or a store (`…duckdb`).")
    covered: Literal["yes", "no", "partly"]
    section: str | None = Field(default=None, description="Where it is in this document.")
    note: str = Field(description="What is in it and, when not covered, what to do instead.")


class SubjectAccessExport(BaseModel):
    """Everything this replica holds about one person: state, history, identity, decisions.

    ``customer_id`` is ``None`` for a person who is no customer (only asked
    about): then only ``decisions`` can hold anything.
    """

    model_config = ConfigDict(frozen=True)

    kind: Literal["signalfold.subject_access_export"] = "signalfold.subject_access_export"
    version: Literal[1] = 1
    exported_at: AwareDatetime
    customer_id: str | None
    customer_ids: list[str] = Field(description="The customer and every id merged into it.")
    identifiers: list[str] = Field(
        description="Normalised identifier keys (`type:value`) that lead to the customer now."
    )
    state: CustomerState | None = Field(
        description="Profile, identities, consent, tickets, orders, counters, recent timeline "
        "and flags, as `customer.state` holds them."
    )
    history: list[HistoryEntry] = Field(
        description="Every signal of the customer's records, oldest first (`signals.resolved`)."
    )
    identity: CustomerIdentity | None = Field(
        description="Records, links with evidence, refused merges, operator changes, "
        "relationships (`identity.changes`)."
    )
    decisions: list[LoggedDecision] = Field(
        description="Answers given about the person: by customer id, or asked by one of "
        "their identifiers (matched by keyed hash), newest first (`decisions.log`)."
    )
    dead_letters: list[DeadLetter] | None = Field(
        default=None, description="`None`: not searched (see `coverage`)."
    )
    coverage: list[StoreCoverage]
