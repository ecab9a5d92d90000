"""The published state as the state stage built it before issue 13: the reference.

A verbatim copy of the builders (``streams/state/_build.py`` at 3f0dbb9) and of
``CustomerAggregate.fold_state``/``to_state``, which built every part as a
pydantic model and dumped the whole ``CustomerState``. The equivalence test
holds the stage's direct serialisation to the same bytes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from signalfold.schemas.state import (
    ConsentState,
    OpportunityState,
    OrderState,
    ProfileValue,
    TicketState,
    Touch,
)
from signalfold.streams.state.aggregate import RegisterMap

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


def build_profile(regs: RegisterMap) -> dict[str, ProfileValue]:
    return {
        field: ProfileValue(
            value=r.value["value"],
            source=r.value["source"],
            observed_at=r.at,
            signal_id=r.signal_id,
        )
        for field, r in sorted(regs.items())
    }


def build_touches(regs: RegisterMap) -> dict[str, Touch]:
    return {
        dept: Touch(
            at=r.at,
            type=r.value["type"],
            signal_id=r.signal_id,
            source_event_id=r.value["source_event_id"],
        )
        for dept, r in sorted(regs.items())
    }


def build_consent(regs: RegisterMap) -> dict[str, ConsentState]:
    return {
        channel: ConsentState(
            granted=r.value["granted"],
            at=r.at,
            source=r.value["source"],
            source_event_id=r.value["source_event_id"],
            signal_id=r.signal_id,
        )
        for channel, r in sorted(regs.items())
    }


def _keys(*maps: RegisterMap) -> list[str]:
    return sorted(set().union(*maps))


def build_tickets(registers: dict[str, RegisterMap]) -> dict[str, TicketState]:
    """Tickets from their status / priority / opened / closed registers.

    ``source`` is the opening event's source when known. ``closed_at`` is the
    latest close, kept even if a later update reopened the ticket.
    """
    status, priority = registers["ticket.status"], registers["ticket.priority"]
    opened, closed = registers["ticket.opened"], registers["ticket.closed"]
    tickets: dict[str, TicketState] = {}
    for tid in _keys(status, priority, opened, closed):
        st, pr, op, cl = status.get(tid), priority.get(tid), opened.get(tid), closed.get(tid)
        first = next(r for r in (op, st, pr, cl) if r is not None)
        fields: dict[str, Any] = {"ticket_id": tid, "source": first.value["source"]}
        if st is not None:
            fields |= {
                "status": st.value["value"],
                "status_at": st.at,
                "status_signal_id": st.signal_id,
            }
        if pr is not None:
            fields |= {
                "priority": pr.value["value"],
                "priority_at": pr.at,
                "priority_signal_id": pr.signal_id,
            }
        if op is not None:
            fields |= {
                "opened_at": op.at,
                "opened_event_id": op.value["source_event_id"],
                "subject": op.value.get("subject"),
            }
        if cl is not None:
            fields |= {"closed_at": cl.at, "closed_event_id": cl.value["source_event_id"]}
        tickets[tid] = TicketState(**fields)
    return _recent_closed(tickets)


#: Closed tickets a published state keeps (the latest by close time); every open one
#: stays, so the open-ticket flags never miss one. Older ones are in the timeline API.
MAX_CLOSED_TICKETS = 20
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _recent_closed(tickets: dict[str, TicketState]) -> dict[str, TicketState]:
    closed = [t for t in tickets.values() if t.status == "closed"]
    if len(closed) <= MAX_CLOSED_TICKETS:
        return tickets
    closed.sort(key=lambda t: (t.closed_at or t.status_at or _EPOCH, t.ticket_id), reverse=True)
    dropped = {t.ticket_id for t in closed[MAX_CLOSED_TICKETS:]}
    return {tid: t for tid, t in tickets.items() if tid not in dropped}


def build_orders(registers: dict[str, RegisterMap]) -> dict[str, OrderState]:
    """Orders from their placed / returned registers; ``source`` prefers the placing event."""
    placed, returned = registers["order.placed"], registers["order.returned"]
    orders: dict[str, OrderState] = {}
    for oid in _keys(placed, returned):
        pl, rt = placed.get(oid), returned.get(oid)
        first = pl if pl is not None else rt
        assert first is not None
        fields: dict[str, Any] = {"order_id": oid, "source": first.value["source"]}
        if pl is not None:
            v = pl.value
            fields |= {
                "placed_at": pl.at,
                "placed_event_id": v["source_event_id"],
                "amount": v["amount"],
                "currency": v["currency"],
                "product_ids": list(v["product_ids"]),
                "categories": list(v["categories"]),
            }
        if rt is not None:
            v = rt.value
            fields |= {
                "returned_at": rt.at,
                "returned_event_id": v["source_event_id"],
                "return_reason": v["reason"],
                "returned_product_id": v["product_id"],
                "returned_category": v["category"],
            }
        orders[oid] = OrderState(**fields)
    return orders


def build_timeline(timeline: RegisterMap) -> list[dict[str, Any]]:
    """Newest first, ties broken by signal id, so every replica lists the same order.

    Plain dicts: ``CustomerState`` validates them in one native pass, which is
    several times faster than building fifty ``TimelineEntry`` objects here.
    """
    ordered = sorted(timeline.values(), key=_VERSION, reverse=True)
    return [{"signal_id": r.signal_id, "occurred_at": r.at, **r.value} for r in ordered]


def build_counters(seen: dict[str, str]) -> dict[str, int]:
    return dict(sorted(Counter(seen.values()).items()))


def build_opportunities(regs: RegisterMap) -> dict[str, OpportunityState]:
    return {
        oid: OpportunityState(
            opportunity_id=oid,
            source=r.value["source"],
            stage=r.value["stage"],
            owner=r.value["owner"],
            is_closed=r.value["is_closed"],
            amount=r.value["amount"],
            at=r.at,
            signal_id=r.signal_id,
            source_event_id=r.value["source_event_id"],
        )
        for oid, r in sorted(regs.items())
    }


def build_recent(recent: dict[str, RegisterMap], types: Iterable[str] | None) -> dict[str, Any]:
    """Recent signals of ``types`` (every type when ``None``), newest first per type."""
    wanted = sorted(recent) if types is None else sorted(t for t in types if t in recent)
    return {
        t: [
            {"signal_id": r.signal_id, "occurred_at": r.at, **r.value}
            for r in sorted(recent[t].values(), key=_VERSION, reverse=True)
        ]
        for t in wanted
        if recent[t]
    }


def reference_json(agg: Any, policy: Any, now: datetime) -> bytes:
    """``agg.to_state(policy, now).model_dump_json()`` as it was computed before issue 13."""
    from signalfold.policy.evaluate import evaluate_flags
    from signalfold.schemas.state import CustomerState

    state = CustomerState.model_validate(
        dict(
            customer_id=agg.customer_id,
            version=agg.version,
            updated_at=now,
            aliases=sorted(agg.aliases),
            identities=[
                {"type": t, "value": v, "source": s, "record_id": r}
                for t, v, s, r in sorted(agg.identities)
            ],
            profile=build_profile(agg.registers["profile"]),
            last_touch=build_touches(agg.registers["touch"]),
            tickets=build_tickets(agg.registers),
            orders=build_orders(agg.registers),
            consent=build_consent(agg.registers["consent"]),
            counters=build_counters(agg.seen),
            timeline=build_timeline(agg.timeline),
            opportunities=build_opportunities(agg.registers["opportunity"]),
            recent=build_recent(agg.recent, policy.referenced_types()),
        )
    )
    state.flags = evaluate_flags(state, policy, now, refs=agg.event_refs())
    return state.model_dump_json().encode()
