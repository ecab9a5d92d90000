"""Identity events: what ``identity.changes`` and ``identity.index`` carry."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from signalfold.schemas.signal import Scope

__all__ = [
    "CustomerIdentity",
    "IdentityChange",
    "IdentityCommand",
    "IndexEntry",
    "LinkEvidence",
    "PinKind",
    "RecordLink",
    "Relationship",
]

PinKind = Literal["never", "always"]


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
    - ``refused``: a merge (or an operator command) broke a protection rule and did not happen;
    - ``shared``: ``identifiers`` stopped identifying (used by people who disagree);
    - ``pinned``: an operator pinned ``record_id`` and ``other_record_id`` (``pin``);
    - ``split``: ``records`` moved out of ``from_customer_id`` into ``customer_id`` (an
      operator's split, evidence ``operator:split``, or new evidence that keeps them
      apart, evidence ``recluster``); when every record moves, ``from_customer_id``
      becomes an alias of ``customer_id``; ``identifiers`` are the keys that moved;
    - ``matched``: Splink scored ``record_id`` and ``other_record_id`` at or above the
      match threshold (evidence for clustering; the link itself is a ``linked``/``merged``);
    - ``related``: the two records share an identifier but are kept apart as different
      people (household, organisation, shared identifier): a relationship, never a merge;
    - ``possible_match``: a pair between the review and match thresholds (the best few
      per record), kept for review, never merged;
    - ``erased``: ``customer_id`` and the ids merged into it (``absorbed_ids``) were
      erased at a data subject's request (``signal_id``: the request): its records
      and everything they showed are forgotten. It names no record (``record_id``
      is empty; ``records`` holds the erased records' keyed ids, hex, which only
      the deployment's secret can match: ``signalfold erase-report`` finds the raw
      events that still hold the person with them) and is the one kind published
      unsealed.

    ``scopes`` holds the scope a source declared for some of ``identifiers``.
    """

    model_config = ConfigDict(frozen=True)

    change_id: str
    kind: Literal[
        "created",
        "linked",
        "merged",
        "refused",
        "split",
        "shared",
        "pinned",
        "possible_match",
        "matched",
        "related",
        "erased",
    ]
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
    signal_id: str = Field(description="The signal, or the operator command (`cmd_…`), behind it.")
    at: AwareDatetime
    records: tuple[str, ...] = Field(
        default=(),
        description="Records a `split` moved; for `erased`, the keyed ids (hex) of the "
        "records erased, never their names.",
    )
    from_customer_id: str | None = Field(default=None, description="What a `split` split.")
    pin: PinKind | None = None
    names: tuple[str, ...] = Field(
        default=(), description="Folded names the record showed (merge protection evidence)."
    )
    birth_dates: tuple[date, ...] = Field(
        default=(), description="Birth dates the record showed (merge protection evidence)."
    )
    companies: tuple[str, ...] = Field(
        default=(),
        description="Folded employer names the record showed: its mailboxes may be work "
        "addresses, where one that shows no holder's name may be a role's.",
    )
    scopes: dict[str, Scope] = Field(
        default_factory=dict, description="Declared scope of some identifiers (key → scope)."
    )


class IdentityCommand(BaseModel):
    """An operator's instruction on ``identity.commands`` (key: ``command_id``).

    - ``split``: move ``records`` out of ``customer_id`` into a new customer;
    - ``pin``: ``records`` (exactly two) are never / always the same customer.

    The resolve stage answers with changes whose ``signal_id`` is ``command_id``.
    """

    model_config = ConfigDict(frozen=True)

    command_id: str = Field(pattern=r"^cmd_[A-Za-z0-9_-]+$")
    kind: Literal["split", "pin"]
    customer_id: str | None = None
    records: tuple[str, ...] = Field(min_length=1)
    pin: PinKind | None = None
    note: str | None = Field(default=None, max_length=500, description="Why (for the audit).")
    requested_at: AwareDatetime


class IndexEntry(BaseModel):
    """``identity.index`` value: identifier (or absorbed id) → current customer id.

    Key: ``<type>:<normalised value>``, or ``customer:<absorbed id>`` for aliases.
    """

    model_config = ConfigDict(frozen=True)

    key: str
    customer_id: str
    identifier_type: str
    value: str


class RecordLink(BaseModel):
    """One link between two records of a customer and the evidence behind it.

    ``evidence.rule`` is the rule that fired (``exact:email``, ``pin:always``)
    or, for a probabilistic match, ``match_weight`` with each comparison's
    contribution in ``detail``. ``other_record_id`` is ``None`` when the other
    end is not known (an older log).
    """

    model_config = ConfigDict(frozen=True)

    record_id: str
    other_record_id: str | None
    evidence: LinkEvidence
    change_id: str
    at: AwareDatetime


class Relationship(BaseModel):
    """Another customer this one is related to but is not: they share an identifier.

    ``kind``: ``household`` (a household value, or people sharing one who also
    share a family name), ``organisation`` (a role mailbox, a switchboard) or
    ``shared_identifier`` (people who clearly differ, with nothing else in common).
    """

    model_config = ConfigDict(frozen=True)

    kind: Literal["household", "organisation", "shared_identifier"]
    customer_id: str | None = Field(description="The related customer now, if known.")
    record_id: str = Field(description="This customer's record.")
    other_record_id: str = Field(description="The related customer's record.")
    evidence: LinkEvidence
    change_id: str


class CustomerIdentity(BaseModel):
    """Why these records are one customer: the records, each link with its evidence,
    the merges refused (with their reasons), the operator's pins and splits."""

    customer_id: str
    customer_ids: list[str] = Field(description="The customer and every id merged into it.")
    records: list[str]
    links: list[RecordLink]
    refused: list[IdentityChange] = Field(description="Merges refused, with the rule that refused.")
    operator: list[IdentityChange] = Field(description="Pins and splits that concern it.")
    relationships: list[Relationship] = Field(
        default_factory=list, description="Related customers: shared identifiers, never merged."
    )
    changes: list[IdentityChange] = Field(description="Every change behind it, oldest first.")
