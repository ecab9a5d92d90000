"""Rule kinds evaluated when the question is asked: ``quiet_hours``.

Quiet hours depend on the clock of the question, not on any event, so they
cannot be folded into published flags without republishing every customer
twice a day. ``decide`` evaluates these kinds per question instead; they are
cheap (a time-zone conversion).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field

from signalfold.policy.evaluate import FlagContext
from signalfold.policy.kinds import register_rule_kind
from signalfold.policy.model import Rule
from signalfold.schemas.state import CustomerState, Flag

__all__ = ["QuietHoursParams", "quiet_window"]


class QuietHoursParams(BaseModel):
    """``quiet_hours``: local ``start`` to ``end`` (may cross midnight) in the customer's zone."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: time = time(21, 0)
    end: time = time(8, 0)
    profile_field: str = Field(default="timezone", description="Profile trait with the IANA zone")
    default_timezone: str | None = Field(
        default=None, description="Zone to assume when the customer's is unknown; none: skip"
    )


@lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def quiet_window(
    now: datetime, zone: ZoneInfo, start: time, end: time
) -> tuple[datetime, datetime] | None:
    """The quiet window (start, end) containing ``now`` in ``zone``, or ``None``."""
    local = now.astimezone(zone)
    today = local.date()
    candidates = []
    for day in (today - timedelta(days=1), today):
        begin = datetime.combine(day, start, zone)
        finish_day = day + timedelta(days=1) if end <= start else day
        candidates.append((begin, datetime.combine(finish_day, end, zone)))
    for begin, finish in candidates:
        if begin <= local < finish:
            return begin, finish
    return None


@register_rule_kind(
    "quiet_hours",
    params=QuietHoursParams,
    fields=("timezone", "start", "end", "local_until"),
    at_ask=True,
)
def quiet_hours(rule: Rule, state: CustomerState, ctx: FlagContext) -> Iterator[Flag]:
    """Defer while it is quiet time where the customer lives; lifts at ``end`` local time."""
    params: QuietHoursParams = rule.params
    known = state.profile.get(params.profile_field)
    name = known.value if known is not None else params.default_timezone
    zone = _zone(name) if name else None
    if zone is None:
        return
    window = quiet_window(ctx.now, zone, params.start, params.end)
    if window is None:
        return
    begin, finish = window
    if known is not None:
        ref = ctx.refs.by_signal(known.signal_id, known.source)
    else:
        ref = ctx.refs.by_signal("", "policy")
    flag = ctx.flag(
        rule,
        ref,
        begin,
        until=finish,
        timezone=name,
        start=params.start.strftime("%H:%M"),
        end=params.end.strftime("%H:%M"),
        local_until=finish.strftime("%Y-%m-%d %H:%M %Z"),
    )
    if flag is not None:
        yield flag
