"""``decide``: may this surface contact this customer on this channel for this purpose now?

Called per HTTP request (and per item of batches of thousands), so it reads
the flags already evaluated at fold time and does no policy work: a filter,
a sort of the few matching flags, and one result model.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from signalfold.policy.evaluate import SEVERITY_RANK, EventRefs, FlagContext
from signalfold.policy.kinds import RULE_KINDS
from signalfold.policy.model import Policy, UnknownCustomerRules
from signalfold.schemas.decision import Channel, Outcome, Purpose, SuppressionDecision
from signalfold.schemas.state import CustomerState, Flag

__all__ = ["covers", "decide", "known_fields"]

_DEFAULT_UNKNOWN = UnknownCustomerRules()


def decide(
    state: CustomerState | None,
    *,
    channel: Channel,
    purpose: Purpose,
    now: datetime,
    unknown: UnknownCustomerRules | None = None,
    policy: Policy | None = None,
    product_id: str | None = None,
    category: str | None = None,
) -> SuppressionDecision:
    """The decision for one (customer, channel, purpose) at ``now``.

    ``policy`` adds its ask-time rules (quiet hours) and, unless ``unknown`` is
    given, its unknown-customer rules. ``product_id``/``category`` say what the
    message promotes: a flag narrowed to products or categories (a defective
    return) applies when either matches, or when the question names neither.

    - unknown customer (``state is None``): the outcome ``unknown`` configures for
      ``purpose``; ``unknown_rule`` names it (e.g. ``unknown_customer.marketing``);
    - any live deny flag covering (channel, purpose) → ``deny``; ``until`` is the
      latest deny expiry, or ``None`` while any deny flag has no end;
    - else any live defer flag → ``defer`` until the latest defer expiry;
    - else ``allow``.

    Flags with ``until <= now`` are ignored. Reasons list deny flags then defer
    flags, each ordered by severity then ``since``.
    """
    if unknown is None:
        unknown = policy.unknown_customer if policy is not None else _DEFAULT_UNKNOWN
    if state is None:
        outcome: Outcome = getattr(unknown, purpose)
        return SuppressionDecision(
            outcome=outcome,
            allowed=outcome == "allow",
            channel=channel,
            purpose=purpose,
            reasons=[],
            customer_id=None,
            state_version=None,
            known=False,
            unknown_rule=f"unknown_customer.{purpose}",
            evaluated_at=now,
            product_id=product_id,
            category=category,
        )
    flags = state.flags
    if policy is not None and policy.ask_rules():
        flags = flags + _ask_flags(state, policy, now)
    live = [
        flag
        for flag in flags
        if covers(flag, channel, purpose, product_id, category)
        and (flag.until is None or flag.until > now)
    ]
    return SuppressionDecision.model_validate(
        known_fields(
            state.customer_id, state.version, live, channel, purpose, now, product_id, category
        )
    )


def covers(
    flag: Flag, channel: str, purpose: str, product_id: str | None, category: str | None
) -> bool:
    """Whether ``flag`` speaks to this (channel, purpose, product/category), whatever the time."""
    return (
        channel in flag.channels
        and purpose in flag.purposes
        and not _out_of_scope(flag, product_id, category)
    )


def known_fields(
    customer_id: str,
    version: int,
    live: list[Flag],
    channel: str,
    purpose: str,
    now: datetime,
    product_id: str | None,
    category: str | None,
) -> dict[str, Any]:
    """The fields of a known customer's decision from its live covering flags (in state order).

    Shared with the serving fast path (``_fast``), so both build the very same decision.
    """
    deny = [flag for flag in live if flag.effect == "deny"]
    defer = [flag for flag in live if flag.effect != "deny"]
    if deny:
        outcome, applied = "deny", deny
    elif defer:
        outcome, applied = "defer", defer
    else:
        outcome, applied = "allow", []
    ordered = sorted(deny, key=_order) + sorted(defer, key=_order)
    return {
        "outcome": outcome,
        "allowed": outcome == "allow",
        "channel": channel,
        "purpose": purpose,
        "until": _latest_until(applied),
        "reasons": [_reason(flag) for flag in ordered],
        "customer_id": customer_id,
        "state_version": version,
        "known": True,
        "evaluated_at": now,
        "product_id": product_id,
        "category": category,
    }


def _out_of_scope(flag: Flag, product_id: str | None, category: str | None) -> bool:
    """A product-narrowed flag and a question about something else."""
    if not (flag.products or flag.categories) or not (product_id or category):
        return False
    return product_id not in flag.products and category not in flag.categories


def _ask_flags(state: CustomerState, policy: Policy, now: datetime) -> list[Flag]:
    ctx = FlagContext(now=now, refs=EventRefs.from_state(state))
    return [
        flag
        for rule in policy.ask_rules()
        for flag in RULE_KINDS[rule.kind].evaluate(rule, state, ctx)
    ]


def _order(flag: Flag) -> tuple[int, datetime]:
    return (SEVERITY_RANK[flag.severity], flag.since)


def _latest_until(flags: list[Flag]) -> datetime | None:
    """When the outcome can next change by expiry alone; ``None`` if never (or allow)."""
    untils = [flag.until for flag in flags]
    if not untils or any(until is None for until in untils):
        return None
    return max(u for u in untils if u is not None)


def _reason(flag: Flag) -> dict[str, object]:
    # A plain dict: pydantic-core validates the whole decision in one native call,
    # which measured faster than ``Reason(...)`` or ``Reason.model_construct``.
    return {
        "rule": flag.rule,
        "department": flag.department,
        "effect": flag.effect,
        "text": flag.reason,
        "source": flag.source,
        "source_event_id": flag.source_event_id,
        "signal_id": flag.signal_id,
        "since": flag.since,
        "until": flag.until,
        "severity": flag.severity,
        "products": flag.products,
        "categories": flag.categories,
        "details": flag.details,
    }
