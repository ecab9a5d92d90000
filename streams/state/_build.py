"""From register maps to the published ``CustomerState`` shape (flags excluded).

Kept apart from the aggregate so the mergeable representation and the public
shape can evolve separately; this is the only place that knows both. Every
builder returns plain dicts with the fields of the schema's model in its order
and with its defaults (times as ``datetime``): the document a ``CustomerState``
dumps to, so the state stage serialises it directly (``orjson``) instead of
building the models and dumping them for every changed customer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from signalfold.streams.state._registers import RegisterMap
from signalfold.streams.state.bounds import DEFAULT_BOUNDS

_VERSION = itemgetter(0, 1)  # (at, signal_id) of a Register

__all__ = [
    "build_consent",
    "build_counters",
    "build_opportunities",
    "build_orders",
    "build_profile",
    "build_recent",
    "build_tickets",
    "build_timeline",
    "build_touches",
]

Doc = dict[str, Any]


def build_profile(regs: RegisterMap) -> dict[str, Doc]:
    return {
        field: {
            "value": r.value["value"],
            "source": r.value["source"],
            "observed_at": r.at,
            "signal_id": r.signal_id,
        }
        for field, r in sorted(regs.items())
    }


def build_touches(regs: RegisterMap) -> dict[str, Doc]:
    return {
        dept: {
            "at": r.at,
            "type": r.value["type"],
            "signal_id": r.signal_id,
            "source_event_id": r.value["source_event_id"],
        }
        for dept, r in sorted(regs.items())
    }


def build_consent(regs: RegisterMap) -> dict[str, Doc]:
    return {
        channel: {
            "granted": r.value["granted"],
            "at": r.at,
            "source": r.value["source"],
            "source_event_id": r.value["source_event_id"],
            "signal_id": r.signal_id,
        }
        for channel, r in sorted(regs.items())
    }


def _keys(*maps: RegisterMap) -> list[str]:
    return sorted(set().union(*maps))


def build_tickets(
    registers: dict[str, RegisterMap], closed_kept: int = DEFAULT_BOUNDS.closed_tickets
) -> dict[str, Doc]:
    """Tickets from their status / priority / opened / closed registers.

    ``source`` is the opening event's source when known. ``closed_at`` is the
    latest close, kept even if a later update reopened the ticket.
    """
    status, priority = registers["ticket.status"], registers["ticket.priority"]
    opened, closed = registers["ticket.opened"], registers["ticket.closed"]
    tickets: dict[str, Doc] = {}
    for tid in _keys(status, priority, opened, closed):
        st, pr, op, cl = status.get(tid), priority.get(tid), opened.get(tid), closed.get(tid)
        first = next(r for r in (op, st, pr, cl) if r is not None)
        tickets[tid] = {
            "ticket_id": tid,
            "source": first.value["source"],
            "status": "open" if st is None else st.value["value"],
            "status_at": None if st is None else st.at,
            "status_signal_id": "" if st is None else st.signal_id,
            "priority": "normal" if pr is None else pr.value["value"],
            "priority_at": None if pr is None else pr.at,
            "priority_signal_id": "" if pr is None else pr.signal_id,
            "opened_at": None if op is None else op.at,
            "opened_event_id": None if op is None else op.value["source_event_id"],
            "closed_at": None if cl is None else cl.at,
            "closed_event_id": None if cl is None else cl.value["source_event_id"],
            "subject": None if op is None else op.value.get("subject"),
        }
    return _recent_closed(tickets, closed_kept)


#: Closed tickets a published state keeps by default (the latest by close time); every
#: open one stays, so the open-ticket flags never miss one. Older ones are in the
#: timeline API. Configured by ``Bounds.closed_tickets``.
MAX_CLOSED_TICKETS = DEFAULT_BOUNDS.closed_tickets
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _recent_closed(tickets: dict[str, Doc], kept: int) -> dict[str, Doc]:
    closed = [t for t in tickets.values() if t["status"] == "closed"]
    if len(closed) <= kept:
        return tickets
    closed.sort(
        key=lambda t: (t["closed_at"] or t["status_at"] or _EPOCH, t["ticket_id"]), reverse=True
    )
    dropped = {t["ticket_id"] for t in closed[kept:]}
    return {tid: t for tid, t in tickets.items() if tid not in dropped}


def _recent_orders(orders: dict[str, Doc], kept: int, returned_kept: int) -> dict[str, Doc]:
    """The latest ``returned_kept`` returned orders and the latest ``kept`` others."""
    returned = [o for o in orders.values() if o["returned_at"] is not None]
    others = [o for o in orders.values() if o["returned_at"] is None]
    if len(returned) <= returned_kept and len(others) <= kept:
        return orders
    returned.sort(key=lambda o: (o["returned_at"], o["order_id"]), reverse=True)
    others.sort(key=lambda o: (o["placed_at"] or _EPOCH, o["order_id"]), reverse=True)
    keep = {o["order_id"] for o in returned[:returned_kept] + others[:kept]}
    return {oid: o for oid, o in orders.items() if oid in keep}


def build_orders(
    registers: dict[str, RegisterMap],
    kept: int = DEFAULT_BOUNDS.orders,
    returned_kept: int = DEFAULT_BOUNDS.returned_orders,
) -> dict[str, Doc]:
    """Orders from their placed / returned registers; ``source`` prefers the placing event."""
    placed, returned = registers["order.placed"], registers["order.returned"]
    orders: dict[str, Doc] = {}
    for oid in _keys(placed, returned):
        pl, rt = placed.get(oid), returned.get(oid)
        first = pl if pl is not None else rt
        assert first is not None
        p = pl.value if pl is not None else None
        r = rt.value if rt is not None else None
        orders[oid] = {
            "order_id": oid,
            "source": first.value["source"],
            "placed_at": None if pl is None else pl.at,
            "placed_event_id": None if p is None else p["source_event_id"],
            "amount": None if p is None else p["amount"],
            "currency": None if p is None else p["currency"],
            "product_ids": [] if p is None else list(p["product_ids"]),
            "categories": [] if p is None else list(p["categories"]),
            "returned_at": None if rt is None else rt.at,
            "returned_event_id": None if r is None else r["source_event_id"],
            "return_reason": None if r is None else r["reason"],
            "returned_product_id": None if r is None else r["product_id"],
            "returned_category": None if r is None else r["category"],
        }
    return _recent_orders(orders, kept, returned_kept)


def build_timeline(timeline: RegisterMap) -> list[Doc]:
    """Newest first, ties broken by signal id, so every replica lists the same order."""
    ordered = sorted(timeline.values(), key=_VERSION, reverse=True)
    return [
        {
            "signal_id": r.signal_id,
            "type": r.value["type"],
            "source": r.value["source"],
            "source_event_id": r.value["source_event_id"],
            "occurred_at": r.at,
            "summary": r.value["summary"],
        }
        for r in ordered
    ]


def build_counters(seen: dict[str, str]) -> dict[str, int]:
    return dict(sorted(Counter(seen.values()).items()))


def build_opportunities(regs: RegisterMap) -> dict[str, Doc]:
    return {
        oid: {
            "opportunity_id": oid,
            "source": r.value["source"],
            "stage": r.value["stage"],
            "owner": r.value["owner"],
            "is_closed": r.value["is_closed"],
            "amount": r.value["amount"],
            "at": r.at,
            "signal_id": r.signal_id,
            "source_event_id": r.value["source_event_id"],
        }
        for oid, r in sorted(regs.items())
    }


def build_recent(recent: dict[str, RegisterMap], types: Iterable[str] | None) -> dict[str, Any]:
    """Recent signals of ``types`` (every type when ``None``), newest first per type."""
    wanted = sorted(recent) if types is None else sorted(t for t in types if t in recent)
    return {
        t: [
            {
                "signal_id": r.signal_id,
                "source": r.value["source"],
                "source_event_id": r.value["source_event_id"],
                "occurred_at": r.at,
                "summary": r.value["summary"],
                "payload": r.value["payload"],
            }
            for r in sorted(recent[t].values(), key=_VERSION, reverse=True)
        ]
        for t in wanted
        if recent[t]
    }
