"""The canonical signal envelope every source is mapped into."""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    model_validator,
)

from signalfold.schemas.payloads import payload_model_for

__all__ = ["TRUSTED", "Identifier", "Scope", "Signal", "Traits", "Trust", "make_signal_id"]

TRUSTED_KEY = "signalfold.trusted"
#: Validation context for records read from signalfold's own topics: payloads
#: were checked at ingest, so parsing skips that (the costliest) part.
TRUSTED: dict[str, bool] = {TRUSTED_KEY: True}

Trust = Literal["strong", "weak"]
#: Who an identifier value belongs to, as the source knows it: ``personal`` (one
#: person's own email or mobile), ``household`` (a home landline, a family
#: mailbox: shared by people who live together), ``organisation`` (a role
#: mailbox, a switchboard). ``None``: unknown, identity learns it from the names
#: the value is seen with. Only personal-or-unknown values join records on their own.
Scope = Literal["personal", "household", "organisation"]


class Identifier(BaseModel):
    """One identifier as the source sent it; normalisation happens in ``identity``.

    ``type`` is open: email, phone, crm_contact_id, support_user_id, or any id
    type a source contract declares.
    """

    model_config = ConfigDict(frozen=True)

    type: str = Field(min_length=1, pattern=r"^[a-z][a-z0-9_]*$")
    value: str = Field(min_length=1, max_length=320)
    trust: Trust = "strong"
    scope: Scope | None = None


class Traits(BaseModel):
    """What a source knows of the person; every field optional."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    full_name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    company: str | None = None
    birth_date: date | None = None
    address: str | None = None
    postcode: str | None = None
    city: str | None = None
    region: str | None = None
    country: str | None = None
    timezone: str | None = None
    locale: str | None = None


def make_signal_id(source: str, source_event_id: str) -> str:
    """Idempotency key: stable for the same source event, whatever re-delivers it."""
    digest = hashlib.sha256(f"{source}\x1f{source_event_id}".encode()).hexdigest()
    return f"sig_{digest[:24]}"


class Signal(BaseModel):
    """A business event from one source, in the shape every stage understands.

    ``record_key`` is the source's own key for the person (a CRM contact id, a
    support user id, a subscriber email); identity resolution joins records.
    ``payload`` is validated against the model registered for ``type``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = 1
    signal_id: str
    source: str = Field(min_length=1)
    source_event_id: str = Field(min_length=1)
    record_key: str = Field(min_length=1)
    type: str = Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
    occurred_at: AwareDatetime
    received_at: AwareDatetime
    identifiers: tuple[Identifier, ...] = ()
    traits: Traits = Traits()
    payload: dict[str, Any] = Field(default_factory=dict)

    @property
    def record_id(self) -> str:
        """Globally unique id of the source record this signal belongs to."""
        return f"{self.source}:{self.record_key}"

    @property
    def department(self) -> str:
        """The department namespace of the type: ``support.ticket.opened`` → ``support``."""
        return self.type.split(".", 1)[0]

    @model_validator(mode="after")
    def _payload_matches_type(self, info: ValidationInfo) -> Signal:
        if info.context is not None and info.context.get(TRUSTED_KEY):
            return self  # validated at ingest; internal hops skip the second check
        model = payload_model_for(self.type)
        if model is None:
            raise ValueError(f"unknown signal type {self.type!r}; declare it in a contract")
        model.model_validate(self.payload)
        return self

    @classmethod
    def from_internal_json(cls, data: bytes | str) -> Signal:
        """Parse a signal read from an internal topic (already validated at ingest)."""
        return cls.model_validate_json(data, context=TRUSTED)

    def typed_payload(self) -> BaseModel:
        """The payload as the model registered for this signal's type."""
        model = payload_model_for(self.type)
        assert model is not None  # checked at construction
        return model.model_validate(self.payload)
