"""Rule kinds over folded business objects: tickets, returns, consent, open deals."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from signalfold.policy.evaluate import EventRef, FlagContext
from signalfold.policy.kinds import register_rule_kind
from signalfold.policy.model import Rule
from signalfold.schemas.state import CustomerState, Flag

__all__ = ["OpenDealParams", "OpenTicketParams", "ReturnParams"]


class OpenTicketParams(BaseModel):
    """``open_ticket``: which priorities raise the flag."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    priorities: tuple[str, ...] = ("high", "urgent")


class OpenDealParams(BaseModel):
    """``open_deal``: the late stages at which marketing automation holds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stages: tuple[str, ...] = ("proposal", "negotiation", "contract")
    require_owner: bool = True


class ReturnParams(BaseModel):
    """``defective_return``: which return reasons raise the flag."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reasons: tuple[str, ...] = ("defective",)


@register_rule_kind(
    "open_ticket",
    params=OpenTicketParams,
    fields=("ticket_id", "priority", "status", "subject"),
)
def open_ticket(rule: Rule, state: CustomerState, ctx: FlagContext) -> Iterator[Flag]:
    """An open ticket of a listed priority; cleared when its status closes it.

    Provenance is the opening event, or — when the opened event is unknown —
    the event that set the status (or the priority) of the ticket.
    """
    priorities = rule.params.priorities
    for ticket in state.tickets.values():
        if not ticket.is_open or ticket.priority not in priorities:
            continue
        since: datetime | None
        if ticket.opened_at is not None and ticket.opened_event_id is not None:
            ref = ctx.refs.by_event(ticket.opened_event_id, ticket.source)
            since = ticket.opened_at
        else:
            signal_id = ticket.status_signal_id or ticket.priority_signal_id
            ref = ctx.refs.by_signal(signal_id, ticket.source)
            since = ticket.status_at or ticket.priority_at
        if since is None:  # a ticket always has at least one versioned field
            continue
        flag = ctx.flag(
            rule,
            ref,
            since,
            ticket_id=ticket.ticket_id,
            priority=ticket.priority,
            status=ticket.status,
            subject=ticket.subject or "",
        )
        if flag is not None:
            yield flag


@register_rule_kind(
    "defective_return",
    params=ReturnParams,
    fields=("order_id", "reason", "product", "category"),
)
def defective_return(rule: Rule, state: CustomerState, ctx: FlagContext) -> Iterator[Flag]:
    """An order returned for a listed reason; lasts ``for_days`` from the return."""
    reasons = rule.params.reasons
    for order in state.orders.values():
        if order.returned_at is None or order.return_reason not in reasons:
            continue
        ref = ctx.refs.by_event(order.returned_event_id or "", order.source)
        products: tuple[str, ...] = (
            (order.returned_product_id,) if order.returned_product_id else ()
        )
        categories: tuple[str, ...] = ()
        if order.returned_category:
            categories = (order.returned_category,)
        elif len(order.categories) == 1:  # the product's category, when the order says it
            categories = (order.categories[0],)
        elif not products:  # a whole order returned: every category it held
            products, categories = tuple(order.product_ids), tuple(order.categories)
        flag = ctx.flag(
            rule,
            ref,
            order.returned_at,
            products=products,
            categories=categories,
            order_id=order.order_id,
            reason=order.return_reason,
            product=order.returned_product_id or order.returned_category or "an item",
            category=", ".join(categories),
        )
        if flag is not None:
            yield flag


@register_rule_kind("unsubscribed", fields=("channel",))
def unsubscribed(rule: Rule, state: CustomerState, ctx: FlagContext) -> Iterator[Flag]:
    """Consent withdrawn on a channel the rule covers; blocks that channel only.

    Cleared by a later grant in event time (consent is a last-writer-wins register).
    """
    for channel, consent in state.consent.items():
        if consent.granted or channel not in rule.channels:
            continue
        ref = EventRef(consent.source, consent.source_event_id, consent.signal_id)
        flag = ctx.flag(rule, ref, consent.at, channels=(channel,), channel=channel)
        if flag is not None:
            yield flag


@register_rule_kind(
    "open_deal", params=OpenDealParams, fields=("opportunity_id", "stage", "owner", "amount")
)
def open_deal(rule: Rule, state: CustomerState, ctx: FlagContext) -> Iterator[Flag]:
    """An open opportunity at a listed stage (owned by someone, by default): the owner leads."""
    params: OpenDealParams = rule.params
    for opp in state.opportunities.values():
        if opp.is_closed or opp.stage not in params.stages:
            continue
        if params.require_owner and not opp.owner:
            continue
        ref = EventRef(opp.source, opp.source_event_id, opp.signal_id)
        flag = ctx.flag(
            rule,
            ref,
            opp.at,
            opportunity_id=opp.opportunity_id,
            stage=opp.stage,
            owner=opp.owner or "nobody",
            amount=opp.amount or "",
        )
        if flag is not None:
            yield flag
