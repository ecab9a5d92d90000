"""Identity events: what ``identity.changes`` and ``identity.index`` carry."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

__all__ = ["IdentityChange", "IndexEntry", "LinkEvidence"]


class LinkEvidence(BaseModel):
    """Why two records are one customer (or why a merge was refused)."""

    model_config = ConfigDict(frozen=True)

    rule: str
    identifier_type: str | None = None
    identifier_value: str | None = None
    match_weight: float | None = None
    detail: dict[str, float] = Field(default_factory=dict)


class IdentityChange(BaseModel):
    """A change to the identity graph, published on ``identity.changes``.

    - ``created``: a new customer from a first record;
    - ``linked``: a record joined an existing customer;
    - ``merged``: ``absorbed_ids`` were folded into ``customer_id`` (the older);
    - ``refused``: a merge broke a protection rule and did not happen.
    """

    model_config = ConfigDict(frozen=True)

    change_id: str
    kind: Literal["created", "linked", "merged", "refused", "split"]
    customer_id: str
    record_id: str
    absorbed_ids: tuple[str, ...] = ()
    other_record_id: str | None = None
    identifiers: tuple[str, ...] = Field(
        default=(), description="Normalised identifier keys (`type:value`) the record added."
    )
    birth: AwareDatetime | None = Field(
        default=None, description="Event time of the record's first signal (`created`)."
    )
    evidence: tuple[LinkEvidence, ...] = ()
    signal_id: str
    at: AwareDatetime


class IndexEntry(BaseModel):
    """``identity.index`` value: identifier (or absorbed id) → current customer id.

    Key: ``<type>:<normalised value>``, or ``customer:<absorbed id>`` for aliases.
    """

    model_config = ConfigDict(frozen=True)

    key: str
    customer_id: str
    identifier_type: str
    value: str
