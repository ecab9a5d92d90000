"""The published state as a document: its JSON, and the view the policy reads of it.

``CustomerAggregate.document`` builds the plain dict a ``CustomerState`` dumps
to; ``serialize`` writes it with ``orjson`` (UTC as ``Z``, as pydantic writes
it), so a changed customer costs one pass over its registers instead of
building some hundred models and dumping them. A document ``orjson`` cannot
write (an integer past 64 bits in a payload) goes through the model instead.

``policy_view`` gives the policy a ``CustomerState`` validated from part of
the document: the built-in fold rule kinds read tickets, orders, consent,
opportunities and recent signals only, so those are all the view holds
(identities, profile, touches, counters and timeline are left empty; the
timeline alone is half the cost of validating the whole). A policy with a rule
kind registered elsewhere gets the whole document validated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

from signalfold.schemas.state import CustomerState, Flag

if TYPE_CHECKING:
    from signalfold.policy.model import Policy

__all__ = ["VIEW_KINDS", "Document", "Published", "policy_view", "serialize"]

Document = dict[str, Any]

#: Fold rule kinds known to read only the fields ``policy_view`` fills.
VIEW_KINDS = frozenset(
    {
        "open_ticket",
        "defective_return",
        "unsubscribed",
        "open_deal",
        "recent_signal",
        "contact_fatigue",
    }
)


_VIEW_FIELDS = (
    "customer_id",
    "version",
    "updated_at",
    "aliases",
    "tickets",
    "orders",
    "consent",
    "opportunities",
    "recent",
)


class Published(NamedTuple):
    """One customer's state as the stage publishes it."""

    version: int
    json: bytes
    flags: list[Flag]


def serialize(doc: Document, flags: list[Flag]) -> bytes:
    """The JSON of ``doc`` with ``flags``: the bytes ``CustomerState.model_dump_json`` gives."""
    doc["flags"] = [flag.model_dump() for flag in flags]
    try:
        return orjson.dumps(doc, option=orjson.OPT_UTC_Z)
    except TypeError:  # outside orjson's range (a payload integer past 64 bits)
        return CustomerState.model_validate(doc).model_dump_json().encode()


def policy_view(doc: Document, policy: Policy) -> CustomerState:
    """A ``CustomerState`` over ``doc`` holding what ``policy``'s fold rules read."""
    if any(rule.kind not in VIEW_KINDS for rule in policy.fold_rules()):
        return CustomerState.model_validate(doc)
    return CustomerState.model_validate({name: doc[name] for name in _VIEW_FIELDS})
