"""What the fold reads of a signal (``SignalFacts``), from a model or from its JSON.

The state stage folds every record of ``signals.resolved``; parsing each into a
``Resolved`` model only to read seven fields of its signal was a third of the
stage's CPU. ``facts_from_json`` reads those fields from the record as
``orjson`` decoded it (the signal was validated at ingest); ``facts_of`` reads
them from a ``Signal`` model. Both type the payload through the model
registered for the signal's type, so the fold sees the same payload either way
(defaults filled, amounts as strings).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple

from pydantic import AwareDatetime, TypeAdapter

from signalfold.schemas.payloads import payload_model_for
from signalfold.schemas.signal import Signal

__all__ = ["IdentityKey", "SignalFacts", "facts_from_json", "facts_of", "identity_keys"]

#: ``(type, value, source, record_id)`` of an ``IdentityRef``.
IdentityKey = tuple[str, str, str, str]

_AWARE = TypeAdapter(AwareDatetime)


class SignalFacts(NamedTuple):
    """The fields of a signal the fold reads, in JSON form except the event time (UTC)."""

    signal_id: str
    type: str
    source: str
    source_event_id: str
    occurred_at: datetime
    traits: dict[str, str]
    payload: dict[str, Any]

    @property
    def department(self) -> str:
        return self.type.split(".", 1)[0]


def _typed(signal_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    model = payload_model_for(signal_type)
    if model is None:
        raise ValueError(f"unknown signal type {signal_type!r}; declare it in a contract")
    return model.model_validate(payload).model_dump(mode="json")


def facts_of(signal: Signal) -> SignalFacts:
    """The facts of a ``Signal`` model."""
    return SignalFacts(
        signal.signal_id,
        signal.type,
        signal.source,
        signal.source_event_id,
        signal.occurred_at.astimezone(UTC),
        {k: str(v) for k, v in signal.traits.model_dump(mode="json", exclude_none=True).items()},
        signal.typed_payload().model_dump(mode="json"),
    )


def _when(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        moment = _AWARE.validate_python(text)  # any other form pydantic reads
    if moment.tzinfo is None:
        raise ValueError("occurred_at: a timezone-aware time was expected")
    return moment.astimezone(UTC)


def facts_from_json(data: dict[str, Any]) -> SignalFacts:
    """The facts of a signal's canonical JSON (as ``orjson.loads`` returns it).

    Raises ``KeyError``/``ValueError`` on a record that is not a signal, before
    anything is folded.
    """
    signal_type = data["type"]
    traits = data.get("traits") or {}
    return SignalFacts(
        str(data["signal_id"]),
        signal_type,
        str(data["source"]),
        str(data["source_event_id"]),
        _when(data["occurred_at"]),
        {k: str(v) for k, v in traits.items() if v is not None},
        _typed(signal_type, data.get("payload") or {}),
    )


def identity_keys(identities: list[dict[str, Any]]) -> list[IdentityKey]:
    """The keys of a resolved record's ``identities`` (as ``orjson.loads`` returns them)."""
    return [(i["type"], i["value"], i["source"], i["record_id"]) for i in identities]
