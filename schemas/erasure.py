"""Erasure: a data subject's request on ``privacy.erasures``, and what outlives it.

An ``ErasureRequest`` names a customer (any id it had) or, for a person who is
no customer, only the keyed hashes of their identifiers. It carries no
personal value: the topic is the audit trail of erasures (who asked, when,
which request, why) and is kept.

A ``DoNotContact`` entry (``privacy.do_not_contact``, key: the keyed hash of a
normalised identifier, ``hmac-sha256:<hex>`` as the decision log hashes it) is
what must survive erasure: the person asked to be forgotten, so marketing to
that identifier stays held, whoever sends the next event or import with it.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from signalfold.schemas.decision import Channel
from signalfold.schemas.state import Flag

__all__ = ["DoNotContact", "ErasureRequest"]

IdentifierHash = str


class ErasureRequest(BaseModel):
    """Erase a person from everything signalfold owns (value of ``privacy.erasures``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str = Field(pattern=r"^era_[A-Za-z0-9_-]{1,64}$")
    customer_id: str | None = Field(
        default=None, max_length=64, description="The customer to erase, by any id it had."
    )
    identifier_hashes: tuple[IdentifierHash, ...] = Field(
        default=(),
        max_length=100,
        description="Keyed hashes (`hmac-sha256:<hex>`) of identifiers to hold for "
        "marketing, for a person who is no customer (a customer's are taken from it).",
    )
    reason: str = Field(min_length=1, max_length=500, description="Why (for the audit).")
    requested_by: str = Field(min_length=1, max_length=200, description="Who asked (a key name).")
    requested_at: AwareDatetime


class DoNotContact(BaseModel):
    """An erased identifier held for marketing (value of ``privacy.do_not_contact``)."""

    model_config = ConfigDict(frozen=True)

    identifier_type: str
    request_id: str
    since: AwareDatetime
    reason: Literal["erased"] = "erased"

    def flag(self) -> Flag:
        """The hold as a flag: marketing and sales denied on every channel, no end."""
        return Flag(
            rule="do_not_contact",
            department="privacy",
            severity="critical",
            effect="deny",
            channels=get_args(Channel),
            purposes=("marketing", "sales"),
            reason="erased at the person's request; this identifier stays on the "
            "do-not-contact list",
            source="privacy",
            source_event_id=self.request_id,
            signal_id=self.request_id,
            since=self.since,
        )
