"""Rule kinds evaluated when the question is asked: ``quiet_hours``.

Quiet hours depend on the clock of the question, not on any event, so they
cannot be folded into published flags without republishing every customer
twice a day. The kind declares its ask-time part (``quiet_hours_at``) in the
registry; ``decide`` runs it per question over the prepared inputs. It is
cheap (a time-zone conversion) and says when its answer next changes (the
window's end, or the next window's start), so a cached decision stays exact.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field

from signalfold.policy.evaluate import FlagContext
from signalfold.policy.inputs import DecisionInputs
from signalfold.policy.kinds import Asked, register_rule_kind
from signalfold.policy.model import Rule
from signalfold.schemas.state import CustomerState, Flag

__all__ = ["QuietHoursParams", "quiet_hours_at", "quiet_window"]


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


def _windows(
    local: datetime, zone: ZoneInfo, start: time, end: time
) -> list[tuple[datetime, datetime]]:
    """The quiet windows (start, end) that begin on the days around ``local``, in order."""
    today = local.date()
    windows = []
    for offset in (-2, -1, 0, 1):
        day = today + timedelta(days=offset)
        finish_day = day + timedelta(days=1) if end <= start else day
        windows.append(
            (datetime.combine(day, start, zone), datetime.combine(finish_day, end, zone))
        )
    return windows


def quiet_window(
    now: datetime, zone: ZoneInfo, start: time, end: time
) -> tuple[datetime, datetime] | None:
    """The quiet window (start, end) containing ``now`` in ``zone``, or ``None``."""
    local = now.astimezone(zone)
    for begin, finish in _windows(local, zone, start, end)[1:3]:
        if begin <= local < finish:
            return begin, finish
    return None


def _between(now: datetime, zone: ZoneInfo, start: time, end: time) -> tuple[datetime, datetime]:
    """The end of the last quiet window before ``now`` and the start of the next one."""
    local = now.astimezone(zone)
    windows = _windows(local, zone, start, end)
    lo = max(finish for _, finish in windows if finish <= local)
    hi = min(begin for begin, _ in windows if begin > local)
    return lo, hi


def quiet_hours_at(rule: Rule, inputs: DecisionInputs, now: datetime) -> Asked:
    """The ask-time part of ``quiet_hours``: a defer while it is quiet where the customer lives.

    The flag lifts at ``end`` local time; the answer holds until the window
    ends, or (outside one) until the next begins. A customer with no known
    zone (and no ``default_timezone``) is never held.
    """
    params: QuietHoursParams = rule.params
    known = inputs.profile.get(params.profile_field)
    name = known.value if known is not None else params.default_timezone
    zone = _zone(name) if name else None
    if zone is None:
        return Asked()
    window = quiet_window(now, zone, params.start, params.end)
    if window is None:
        return Asked((), *_between(now, zone, params.start, params.end))
    begin, finish = window
    refs = inputs.refs()
    if known is not None:
        ref = refs.by_signal(known.signal_id, known.source)
    else:
        ref = refs.by_signal("", "policy")
    flag = FlagContext(now=now, refs=refs).flag(
        rule,
        ref,
        begin,
        until=finish,
        timezone=name,
        start=params.start.strftime("%H:%M"),
        end=params.end.strftime("%H:%M"),
        local_until=finish.strftime("%Y-%m-%d %H:%M %Z"),
    )
    return Asked((flag,) if flag is not None else (), begin, finish)


@register_rule_kind(
    "quiet_hours",
    params=QuietHoursParams,
    fields=("timezone", "start", "end", "local_until"),
    ask=quiet_hours_at,
)
def quiet_hours(rule: Rule, state: CustomerState, ctx: FlagContext) -> Iterator[Flag]:
    """Quiet hours over a whole state: what ``quiet_hours_at`` finds at ``ctx.now``."""
    yield from quiet_hours_at(rule, DecisionInputs(state), ctx.now).flags
