"""Signal builders and hypothesis strategies for the state tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from signalfold.schemas.signal import Signal, make_signal_id

__all__ = ["T0", "customer_signals", "signal"]

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def signal(
    type_: str,
    payload: dict[str, Any] | None = None,
    *,
    at: datetime | int = 0,
    event_id: str = "e1",
    source: str = "zendesk",
    traits: dict[str, Any] | None = None,
) -> Signal:
    """A canonical signal; ``at`` is a datetime or minutes after ``T0``."""
    occurred = at if isinstance(at, datetime) else T0 + timedelta(minutes=at)
    return Signal(
        signal_id=make_signal_id(source, event_id),
        source=source,
        source_event_id=event_id,
        record_key="rec-1",
        type=type_,
        occurred_at=occurred,
        received_at=occurred + timedelta(seconds=5),
        traits=traits or {},
        payload=payload or {},
    )


_tickets = st.sampled_from(["T-1", "T-2"])
_orders = st.sampled_from(["O-1", "O-2"])
_priorities = st.sampled_from(["low", "normal", "high", "urgent"])
_maybe_bool = st.one_of(st.none(), st.booleans())

_EVENTS = st.one_of(
    st.tuples(
        st.just("support.ticket.opened"),
        st.fixed_dictionaries({"ticket_id": _tickets, "priority": _priorities}),
    ),
    st.tuples(
        st.just("support.ticket.updated"),
        st.fixed_dictionaries(
            {
                "ticket_id": _tickets,
                "priority": st.one_of(st.none(), _priorities),
                "status": st.sampled_from([None, "open", "pending", "solved"]),
            }
        ),
    ),
    st.tuples(st.just("support.ticket.closed"), st.fixed_dictionaries({"ticket_id": _tickets})),
    st.tuples(
        st.just("sales.order.placed"),
        st.fixed_dictionaries(
            {"order_id": _orders, "items": st.just([{"product_id": "P-1", "category": "cam"}])}
        ),
    ),
    st.tuples(
        st.just("sales.order.returned"),
        st.fixed_dictionaries(
            {"order_id": _orders, "reason": st.sampled_from(["defective", "changed_mind"])}
        ),
    ),
    st.tuples(
        st.just("marketing.email.unsubscribed"),
        st.fixed_dictionaries({"channel": st.sampled_from(["email", "sms"])}),
    ),
    st.tuples(
        st.just("marketing.form.submitted"),
        st.fixed_dictionaries(
            {"form_id": st.just("F-1"), "consent_email": _maybe_bool, "consent_sms": _maybe_bool}
        ),
    ),
    st.tuples(
        st.just("marketing.email.sent"),
        st.fixed_dictionaries({"campaign_id": st.sampled_from(["C-1", "C-2", "C-3"])}),
    ),
    st.tuples(
        st.just("support.csat.submitted"),
        st.fixed_dictionaries({"score": st.integers(1, 5), "ticket_id": _tickets}),
    ),
    st.tuples(
        st.just("sales.opportunity.stage_changed"),
        st.fixed_dictionaries(
            {
                "opportunity_id": st.sampled_from(["OP-1", "OP-2"]),
                "stage": st.sampled_from(["qualification", "negotiation", "contract"]),
                "owner": st.sampled_from(["rita", "sam"]),
                "is_closed": st.booleans(),
            }
        ),
    ),
    st.tuples(
        st.just("support.ticket.opened"),
        st.fixed_dictionaries(
            {"ticket_id": _tickets, "priority": st.just("low"), "category": st.just("complaint")}
        ),
    ),
)
_TRAITS = st.one_of(
    st.just({}),
    st.fixed_dictionaries({"city": st.sampled_from(["Lyon", "Oslo"])}),
    st.fixed_dictionaries({"full_name": st.sampled_from(["Ada L", "Ada Lovelace"])}),
    st.fixed_dictionaries({"timezone": st.sampled_from(["Europe/Paris", "Asia/Tokyo"])}),
)


@st.composite
def customer_signals(draw: st.DrawFn, max_size: int = 14) -> list[Signal]:
    """Distinct signals of one customer; times collide often to exercise tie-breaks."""
    events = draw(st.lists(st.tuples(_EVENTS, st.integers(0, 6), _TRAITS), max_size=max_size))
    sources = ["zendesk", "shopify", "hubspot"]
    return [
        signal(t, p, at=minute, event_id=f"e{i}", source=sources[i % 3], traits=traits)
        for i, ((t, p), minute, traits) in enumerate(events)
    ]
