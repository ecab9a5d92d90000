"""One-line human summaries of signals, for the customer timeline.

A support agent reads these ("Ticket T-1 opened (high)"), so they name the
business object and the one detail that matters, never personal data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["summarize"]

_Formatter = Callable[[dict[str, Any]], str]


def _ticket_updated(p: dict[str, Any]) -> str:
    changes = [f"{key} {p[key]}" for key in ("status", "priority") if p.get(key)]
    detail = f": {', '.join(changes)}" if changes else ""
    return f"Ticket {p['ticket_id']} updated{detail}"


def _order_placed(p: dict[str, Any]) -> str:
    if p.get("amount") is None:
        return f"Order {p['order_id']} placed"
    money = " ".join(str(part) for part in (p["amount"], p.get("currency")) if part)
    return f"Order {p['order_id']} placed ({money})"


def _order_returned(p: dict[str, Any]) -> str:
    what = f" {p['product_id']}" if p.get("product_id") else ""
    return f"Order {p['order_id']}{what} returned ({p['reason']})"


def _stage_changed(p: dict[str, Any]) -> str:
    closed = " (closed)" if p.get("is_closed") else ""
    return f"Opportunity {p['opportunity_id']} moved to {p['stage']}{closed}"


def _form(p: dict[str, Any]) -> str:
    consents = [
        f"{channel} {'granted' if p[key] else 'withdrawn'}"
        for channel, key in (("email", "consent_email"), ("sms", "consent_sms"))
        if p.get(key) is not None
    ]
    detail = f"; consent {', '.join(consents)}" if consents else ""
    return f"Form {p['form_id']} submitted{detail}"


def _csat(p: dict[str, Any]) -> str:
    about = f" for ticket {p['ticket_id']}" if p.get("ticket_id") else ""
    return f"CSAT {p['score']}/5{about}"


_FORMATTERS: dict[str, _Formatter] = {
    "marketing.email.sent": lambda p: f"Email sent (campaign {p['campaign_id']})",
    "marketing.email.opened": lambda p: f"Email opened (campaign {p['campaign_id']})",
    "marketing.email.clicked": lambda p: f"Email clicked (campaign {p['campaign_id']})",
    "marketing.email.unsubscribed": lambda p: f"Unsubscribed from {p.get('channel') or 'email'}",
    "marketing.form.submitted": _form,
    "sales.lead.created": lambda p: f"Lead {p['lead_id']} created",
    "sales.opportunity.stage_changed": _stage_changed,
    "sales.order.placed": _order_placed,
    "sales.order.returned": _order_returned,
    "support.ticket.opened": lambda p: (
        f"Ticket {p['ticket_id']} opened ({p.get('priority') or 'normal'})"
    ),
    "support.ticket.updated": _ticket_updated,
    "support.ticket.closed": lambda p: f"Ticket {p['ticket_id']} closed",
    "support.csat.submitted": _csat,
}


def summarize(signal_type: str, payload: dict[str, Any]) -> str:
    """A short sentence for the timeline; types without a formatter show their name."""
    formatter = _FORMATTERS.get(signal_type)
    if formatter is None:
        return signal_type.replace(".", " ").replace("_", " ").capitalize()
    try:
        return formatter(payload)
    except KeyError:  # a payload registered with a looser shape than expected
        return signal_type
