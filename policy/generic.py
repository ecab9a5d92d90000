"""Rule kinds over any signal type: ``recent_signal`` and ``contact_fatigue``.

Both read ``CustomerState.recent`` (the latest signals of every type, bounded
per type), so a team that declares a new signal type in a source contract can
make it suppress with a policy edit alone, e.g. a disputed payment::

    - name: payment_disputed
      kind: recent_signal
      department: billing
      channels: all
      purposes: [marketing, sales]
      reason: "Payment disputed ({summary}) on {since}"
      params:
        raised_by: [billing.payment.disputed]
        cleared_by: [billing.payment.dispute_resolved]
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from signalfold.policy.conditions import SignalMatch, matching
from signalfold.policy.evaluate import EventRef, FlagContext
from signalfold.policy.kinds import register_rule_kind
from signalfold.policy.model import Rule
from signalfold.schemas.state import CustomerState, Flag, RecentSignal

__all__ = ["FatigueParams", "RecentSignalParams"]


def _version(entry: RecentSignal) -> tuple[datetime, str]:
    return (entry.occurred_at, entry.signal_id)


def _ref(entry: RecentSignal) -> EventRef:
    return EventRef(entry.source, entry.source_event_id, entry.signal_id)


class RecentSignalParams(BaseModel):
    """``recent_signal``: the signals that raise the flag and those that clear it.

    With ``key`` (a payload field such as ``ticket_id``), raises and clears pair
    up per key value: a ``support.ticket.closed`` clears only its own ticket's
    complaint. A clearing signal without the field clears every key.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    raised_by: tuple[SignalMatch, ...] = Field(min_length=1)
    cleared_by: tuple[SignalMatch, ...] = ()
    key: str | None = None

    def signal_types(self) -> set[str]:
        return {m.type for m in (*self.raised_by, *self.cleared_by)}


@register_rule_kind(
    "recent_signal", params=RecentSignalParams, fields=("type", "key", "summary", "source")
)
def recent_signal(rule: Rule, state: CustomerState, ctx: FlagContext) -> Iterator[Flag]:
    """The latest raising signal per key, unless a clearing signal came after it.

    Lasts ``for_days`` from that signal when set, else until cleared. Only
    event times are compared, so arrival order never changes the answer.
    """
    params: RecentSignalParams = rule.params
    key = params.key
    latest: dict[str, tuple[str, RecentSignal]] = {}
    for signal_type, entry in matching(state, params.raised_by):
        group = "" if key is None else str(entry.payload.get(key, ""))
        current = latest.get(group)
        if current is None or _version(entry) > _version(current[1]):
            latest[group] = (signal_type, entry)
    if not latest:
        return
    cleared_at: dict[str | None, tuple[datetime, str]] = {}
    for _, entry in matching(state, params.cleared_by):
        value = entry.payload.get(key) if key is not None else None
        cleared = None if value is None else str(value)  # None: clears every key
        if cleared not in cleared_at or _version(entry) > cleared_at[cleared]:
            cleared_at[cleared] = _version(entry)
    for group, (signal_type, entry) in sorted(latest.items()):
        clears = [v for g, v in cleared_at.items() if g is None or g == group]
        if clears and max(clears) > _version(entry):
            continue
        flag = ctx.flag(
            rule,
            _ref(entry),
            entry.occurred_at,
            type=signal_type,
            key=group,
            summary=entry.summary,
            source=entry.source,
        )
        if flag is not None:
            yield flag


class FatigueParams(BaseModel):
    """``contact_fatigue``: at most ``max_touches`` touches in any ``window_days``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    touches: tuple[SignalMatch, ...] = Field(min_length=1)
    max_touches: int = Field(ge=1)
    window_days: float = Field(default=7, gt=0)

    def signal_types(self) -> set[str]:
        return {m.type for m in self.touches}


@register_rule_kind(
    "contact_fatigue", params=FatigueParams, fields=("count", "max_touches", "window_days")
)
def contact_fatigue(rule: Rule, state: CustomerState, ctx: FlagContext) -> Iterator[Flag]:
    """Defer once the window holds ``max_touches`` touches; lifts when the oldest leaves it.

    With touches ``t1 <= ... <= tm`` in the window and ``m >= N``, one more
    would exceed the cap until ``t(m-N+1) + window``: that is the flag's
    ``until``. ``since`` is the touch that reached the cap. The recent memory
    keeps 16 signals per type by default: keep ``max_touches`` below that.
    """
    params: FatigueParams = rule.params
    window = timedelta(days=params.window_days)
    touches = sorted(
        (e for _, e in matching(state, params.touches) if ctx.now - window < e.occurred_at),
        key=_version,
    )
    count, cap = len(touches), params.max_touches
    if count < cap:
        return
    latest = touches[-1]
    flag = ctx.flag(
        rule,
        _ref(latest),
        latest.occurred_at,
        until=touches[count - cap].occurred_at + window,
        count=count,
        max_touches=cap,
        window_days=f"{params.window_days:g}",
    )
    if flag is not None:
        yield flag
