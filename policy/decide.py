"""``decide``: may this surface contact this customer on this channel for this purpose now?

Called per HTTP request (and per item of batches of thousands), so it reads
the flags already evaluated at fold time and does little policy work: the
published flags that cover the question and have not expired, plus what the
policy's ask-time kinds (quiet hours) find at ``now``, then one result model.

``decision_at`` is the same function with what a cache needs: the interval of
``now`` over which the answer stays the same (from the latest expiry already
passed to the earliest still ahead, narrowed by each ask-time part's own).
A serving replica answers with ``Decider`` (``answers.py``), which keeps
``decision_at``'s answers for that interval: ``decide`` over prepared inputs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from signalfold.policy.evaluate import SEVERITY_RANK
from signalfold.policy.inputs import DecisionInputs
from signalfold.policy.kinds import RULE_KINDS
from signalfold.policy.model import Policy, UnknownCustomerRules
from signalfold.schemas.decision import Channel, Outcome, Purpose, SuppressionDecision
from signalfold.schemas.state import CustomerState, Flag

__all__ = ["DEFAULT_UNKNOWN", "Decided", "covers", "decide", "decision_at"]

DEFAULT_UNKNOWN = UnknownCustomerRules()


class Decided(NamedTuple):
    """A decision and the interval of ``now`` over which it holds (``lo <= now < hi``)."""

    decision: SuppressionDecision
    lo: datetime | None
    hi: datetime | None


def decide(
    state: CustomerState | DecisionInputs | None,
    *,
    channel: Channel,
    purpose: Purpose,
    now: datetime,
    unknown: UnknownCustomerRules | None = None,
    policy: Policy | None = None,
    product_id: str | None = None,
    category: str | None = None,
    held: Flag | None = None,
) -> SuppressionDecision:
    """The decision for one (customer, channel, purpose) at ``now``.

    ``state`` is a published state, or its prepared ``DecisionInputs``.
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

    ``held`` is the do-not-contact flag of an erased person the question (or the
    customer) names: it counts as one of the customer's flags, and for an unknown
    customer it decides where it covers the question (``known`` stays false).
    """
    inputs = DecisionInputs(state) if isinstance(state, CustomerState) else state
    return decision_at(
        inputs,
        channel,
        purpose,
        now,
        product_id,
        category,
        policy=policy,
        unknown=unknown,
        held=held,
    ).decision


def decision_at(
    inputs: DecisionInputs | None,
    channel: str,
    purpose: str,
    now: datetime,
    product_id: str | None = None,
    category: str | None = None,
    *,
    policy: Policy | None = None,
    unknown: UnknownCustomerRules | None = None,
    held: Flag | None = None,
) -> Decided:
    """``decide``, with the interval of ``now`` over which its answer holds."""
    if held is not None and not covers(held, channel, purpose, product_id, category):
        held = None
    if inputs is None and held is not None:
        fields = _known_fields(None, [held], channel, purpose, now, product_id, category)
        return Decided(SuppressionDecision.model_validate(fields), None, None)
    if inputs is None:
        if unknown is None:
            unknown = policy.unknown_customer if policy is not None else DEFAULT_UNKNOWN
        outcome: Outcome = getattr(unknown, purpose, "deny")
        decision = SuppressionDecision.model_validate(
            {
                "outcome": outcome,
                "allowed": outcome == "allow",
                "channel": channel,
                "purpose": purpose,
                "reasons": [],
                "customer_id": None,
                "state_version": None,
                "known": False,
                "unknown_rule": f"unknown_customer.{purpose}",
                "evaluated_at": now,
                "product_id": product_id,
                "category": category,
            }
        )
        return Decided(decision, None, None)
    lo: datetime | None = None
    hi: datetime | None = None
    live: list[Flag] = [held] if held is not None else []
    # Published flags: their kinds' ask-time part is their expiry.
    for flag in inputs.flags:
        if not covers(flag, channel, purpose, product_id, category):
            continue
        until = flag.until
        if until is None or until > now:
            live.append(flag)
            if until is not None and (hi is None or until < hi):
                hi = until
        elif lo is None or until > lo:
            lo = until
    # Ask-time kinds, each through its own part in the registry. An ask-time rule
    # speaks to its own channels and purposes only.
    for rule in policy.ask_rules() if policy is not None else ():
        if channel not in rule.channels or purpose not in rule.purposes:
            continue
        ask = RULE_KINDS[rule.kind].ask
        assert ask is not None, "Policy.ask_rules holds only kinds with an ask-time part"
        asked = ask(rule, inputs, now)
        for flag in asked.flags:
            if covers(flag, channel, purpose, product_id, category) and (
                flag.until is None or flag.until > now
            ):
                live.append(flag)
        if asked.lo is not None and (lo is None or asked.lo > lo):
            lo = asked.lo
        if asked.hi is not None and (hi is None or asked.hi < hi):
            hi = asked.hi
    fields = _known_fields(inputs, live, channel, purpose, now, product_id, category)
    return Decided(SuppressionDecision.model_validate(fields), lo, hi)


def covers(
    flag: Flag, channel: str, purpose: str, product_id: str | None, category: str | None
) -> bool:
    """Whether ``flag`` speaks to this (channel, purpose, product/category), whatever the time."""
    return (
        channel in flag.channels
        and purpose in flag.purposes
        and not _out_of_scope(flag, product_id, category)
    )


def _known_fields(
    inputs: DecisionInputs | None,
    live: list[Flag],
    channel: str,
    purpose: str,
    now: datetime,
    product_id: str | None,
    category: str | None,
) -> dict[str, Any]:
    """The fields of a decision from its live covering flags (in state order).

    ``inputs`` ``None``: no customer, held by the do-not-contact list alone.
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
        "customer_id": None if inputs is None else inputs.customer_id,
        "state_version": None if inputs is None else inputs.version,
        "known": inputs is not None,
        "evaluated_at": now,
        "product_id": product_id,
        "category": category,
    }


def _out_of_scope(flag: Flag, product_id: str | None, category: str | None) -> bool:
    """A product-narrowed flag and a question about something else."""
    if not (flag.products or flag.categories) or not (product_id or category):
        return False
    return product_id not in flag.products and category not in flag.categories


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
