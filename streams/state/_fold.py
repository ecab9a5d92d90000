"""Which registers one signal writes: the per-type part of the fold.

Each signal type maps to a list of ``(namespace, key, value)`` writes; the
aggregate versions them with the signal's ``(occurred_at, signal_id)`` and joins
them into its register maps. Keeping this a pure function of one signal is what
lets the aggregate stay a semilattice whatever new types are added here.
"""

from __future__ import annotations

import hashlib
from typing import Any

from signalfold.streams.state.facts import SignalFacts

__all__ = [
    "FIRST_WINS",
    "MAX_KEY_CHARS",
    "MAX_TEXT_CHARS",
    "NAMESPACES",
    "Write",
    "bounded",
    "recent_payload",
    "writes_for",
]

Write = tuple[str, str, dict[str, Any]]

NAMESPACES: tuple[str, ...] = (
    "profile",
    "touch",
    "consent",
    "ticket.status",
    "ticket.priority",
    "ticket.opened",
    "ticket.closed",
    "order.placed",
    "order.returned",
    "opportunity",
)
# A ticket's opening is the earliest opened event (a re-sent "opened" must not
# move ``opened_at`` forward); every other register is last-writer-wins.
FIRST_WINS: frozenset[str] = frozenset({"ticket.opened"})
# Free text stays out of the recent signals rules match on: it is prose (and
# often personal data), never a condition.
_FREE_TEXT = frozenset({"comment", "body", "text", "message", "subject", "notes", "description"})
_MAX_TEXT = 120
#: The longest text a register keeps (a ticket subject, a trait, a return reason):
#: longer text is cut with a marker, so no customer's state grows with what a source
#: types in. Flags read ids, statuses and priorities, never the cut part.
MAX_TEXT_CHARS = 1_000
#: The longest item id (ticket, order) kept as is; a longer one keeps a prefix and a
#: digest, so two long ids stay two items.
MAX_KEY_CHARS = 200


def bounded(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """``text``, or its first ``limit`` characters and a marker saying how long it was.

    >>> bounded("x" * 1_005).endswith("x… [1005 characters, cut]")
    True
    """
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text)} characters, cut]"


def _bounded_key(key: str) -> str:
    if len(key) <= MAX_KEY_CHARS:
        return key
    return f"{key[:MAX_KEY_CHARS]}…{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def _bounded_value(value: dict[str, Any], limit: int) -> dict[str, Any]:
    return {k: bounded(v, limit) if isinstance(v, str) else v for k, v in value.items()}


def recent_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """The scalar, non-prose fields of a payload, as a recent signal keeps them."""
    kept: dict[str, Any] = {}
    for key, value in payload.items():
        if key in _FREE_TEXT or isinstance(value, (dict, list, tuple)):
            continue
        kept[key] = value[:_MAX_TEXT] if isinstance(value, str) else value
    return kept


def writes_for(signal: SignalFacts, text_chars: int = MAX_TEXT_CHARS) -> list[Write]:
    """The register writes of ``signal`` (its payload typed, as JSON), text cut at
    ``text_chars``."""
    origin = {"source": signal.source, "source_event_id": signal.source_event_id}
    writes: list[Write] = [("touch", signal.department, {**origin, "type": signal.type})]
    for field, value in signal.traits.items():
        writes.append(("profile", field, {**origin, "value": value}))
    handler = _HANDLERS.get(signal.type)
    if handler is not None:
        writes.extend(handler(signal.payload, origin))
    return [(ns, _bounded_key(key), _bounded_value(value, text_chars)) for ns, key, value in writes]


def _ticket_opened(p: dict[str, Any], origin: dict[str, Any]) -> list[Write]:
    tid = p["ticket_id"]
    return [
        ("ticket.opened", tid, {**origin, "subject": p.get("subject")}),
        ("ticket.status", tid, {**origin, "value": p.get("status") or "open"}),
        ("ticket.priority", tid, {**origin, "value": p.get("priority") or "normal"}),
    ]


def _ticket_updated(p: dict[str, Any], origin: dict[str, Any]) -> list[Write]:
    tid = p["ticket_id"]
    writes: list[Write] = []
    if p.get("status"):
        writes.append(("ticket.status", tid, {**origin, "value": p["status"]}))
    if p.get("priority"):
        writes.append(("ticket.priority", tid, {**origin, "value": p["priority"]}))
    return writes


def _ticket_closed(p: dict[str, Any], origin: dict[str, Any]) -> list[Write]:
    tid = p["ticket_id"]
    return [
        ("ticket.closed", tid, {**origin, "resolution": p.get("resolution")}),
        ("ticket.status", tid, {**origin, "value": "closed"}),
    ]


def _order_placed(p: dict[str, Any], origin: dict[str, Any]) -> list[Write]:
    items = p.get("items") or ()
    value = {
        **origin,
        "amount": None if p.get("amount") is None else str(p["amount"]),
        "currency": p.get("currency"),
        "product_ids": [item["product_id"] for item in items],
        "categories": sorted({item["category"] for item in items if item.get("category")}),
    }
    return [("order.placed", p["order_id"], value)]


def _order_returned(p: dict[str, Any], origin: dict[str, Any]) -> list[Write]:
    value = {
        **origin,
        "reason": p["reason"],
        "product_id": p.get("product_id"),
        "category": p.get("category"),
    }
    return [("order.returned", p["order_id"], value)]


def _stage_changed(p: dict[str, Any], origin: dict[str, Any]) -> list[Write]:
    value = {
        **origin,
        "stage": p["stage"],
        "owner": p.get("owner"),
        "is_closed": bool(p.get("is_closed")),
        "amount": None if p.get("amount") is None else str(p["amount"]),
    }
    return [("opportunity", p["opportunity_id"], value)]


def _unsubscribed(p: dict[str, Any], origin: dict[str, Any]) -> list[Write]:
    return [("consent", p.get("channel") or "email", {**origin, "granted": False})]


def _form_submitted(p: dict[str, Any], origin: dict[str, Any]) -> list[Write]:
    return [
        ("consent", channel, {**origin, "granted": bool(p[key])})
        for channel, key in (("email", "consent_email"), ("sms", "consent_sms"))
        if p.get(key) is not None
    ]


_HANDLERS = {
    "support.ticket.opened": _ticket_opened,
    "support.ticket.updated": _ticket_updated,
    "support.ticket.closed": _ticket_closed,
    "sales.order.placed": _order_placed,
    "sales.order.returned": _order_returned,
    "sales.opportunity.stage_changed": _stage_changed,
    "marketing.email.unsubscribed": _unsubscribed,
    "marketing.form.submitted": _form_submitted,
}
