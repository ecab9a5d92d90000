"""Evaluating a policy over folded state: ``evaluate_flags``.

Runs at fold time (in the ``state`` stage) so every published ``CustomerState``
carries its flags and a decision is a lookup. Flags whose ``until`` has passed
are dropped; ``decide`` drops them again at ask time, so a state published
before the expiry does not suppress after it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from signalfold.policy.kinds import RULE_KINDS
from signalfold.schemas.decision import Channel
from signalfold.schemas.signal import make_signal_id
from signalfold.schemas.state import CustomerState, Flag

if TYPE_CHECKING:
    from signalfold.policy.model import Policy, Rule

__all__ = [
    "SEVERITY_RANK",
    "EventRef",
    "EventRefs",
    "FlagContext",
    "evaluate_flags",
    "state_refs",
]

SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}


class EventRef(NamedTuple):
    """Where a flag came from: the source, its event id and the signal id."""

    source: str
    source_event_id: str
    signal_id: str


class EventRefs:
    """Finds the full provenance of an event from what the state kept of it.

    ``CustomerState`` keeps some events by source event id only (a ticket's
    opening) and others by signal id only (the event that set a ticket's
    status); the aggregate knows all three, a bare state knows its timeline,
    consent and recent signals (``state_refs``). The signal id of a known
    ``(source, source_event_id)`` is derived with ``make_signal_id``, as ingest does.
    """

    def __init__(self, refs: Iterable[EventRef] = ()) -> None:
        self._pending: Iterable[EventRef] | None = refs
        self._by_signal: dict[str, EventRef] = {}
        self._by_event: dict[tuple[str, str], EventRef] = {}
        self._by_event_id: dict[str, EventRef] = {}

    def _index(self) -> None:
        """Index on first lookup; ``refs`` may be a generator that is never consumed."""
        if self._pending is None:
            return
        for ref in self._pending:
            self._by_signal[ref.signal_id] = ref
            self._by_event[(ref.source, ref.source_event_id)] = ref
            self._by_event_id.setdefault(ref.source_event_id, ref)
        self._pending = None

    @classmethod
    def from_state(cls, state: CustomerState) -> EventRefs:
        """Provenance a bare state knows; read lazily, only when a flag needs it."""
        return cls(state_refs(state))

    def by_event(self, source_event_id: str, source_hint: str) -> EventRef:
        self._index()
        ref = self._by_event.get((source_hint, source_event_id))
        if ref is None:
            ref = self._by_event_id.get(source_event_id)
        if ref is None:
            ref = EventRef(
                source_hint, source_event_id, make_signal_id(source_hint, source_event_id)
            )
        return ref

    def by_signal(self, signal_id: str, source_hint: str) -> EventRef:
        self._index()
        ref = self._by_signal.get(signal_id)
        return ref if ref is not None else EventRef(source_hint, "", signal_id)


@dataclass(frozen=True)
class FlagContext:
    """What evaluators need besides the state: the clock and event provenance."""

    now: datetime
    refs: EventRefs

    def flag(
        self,
        rule: Rule,
        ref: EventRef,
        since: datetime,
        *,
        channels: tuple[Channel, ...] | None = None,
        until: datetime | None = None,
        products: tuple[str, ...] = (),
        categories: tuple[str, ...] = (),
        **values: Any,
    ) -> Flag | None:
        """A flag of ``rule`` raised at ``since``, or ``None`` if already expired at ``now``.

        ``until`` defaults to ``since + for_days`` (no end without ``for_days``);
        ``products``/``categories`` narrow the flag to messages about them;
        ``values`` fill the reason template and become the flag's ``details``.
        """
        if until is None and rule.for_days is not None:
            until = since + timedelta(days=rule.for_days)
        if until is not None and until <= self.now:
            return None
        text = rule.reason.format(
            rule=rule.name,
            since=_when(since),
            until=_when(until) if until is not None else "further notice",
            **values,
        )
        return Flag(
            rule=rule.name,
            department=rule.department,
            severity=rule.severity,
            effect=rule.effect,
            channels=channels if channels is not None else rule.channels,
            purposes=rule.purposes,
            reason=text,
            source=ref.source,
            source_event_id=ref.source_event_id,
            signal_id=ref.signal_id,
            since=since,
            until=until,
            products=products,
            categories=categories,
            details={k: str(v) for k, v in values.items() if v not in (None, "")},
        )


def state_refs(state: CustomerState) -> Iterator[EventRef]:
    """The provenance a published state keeps: its timeline, consent and recent signals."""
    for e in state.timeline:
        yield EventRef(e.source, e.source_event_id, e.signal_id)
    for c in state.consent.values():
        yield EventRef(c.source, c.source_event_id, c.signal_id)
    for entries in state.recent.values():
        for r in entries:
            yield EventRef(r.source, r.source_event_id, r.signal_id)


def evaluate_flags(
    state: CustomerState,
    policy: Policy,
    now: datetime,
    *,
    refs: EventRefs | None = None,
) -> list[Flag]:
    """The flags ``policy``'s fold-time rules raise on ``state`` at ``now``, most severe first.

    ``refs`` is the provenance to cite (the state stage passes its aggregate's
    fuller one, ``CustomerAggregate.event_refs``); by default the state's own.
    """
    refs = refs if refs is not None else EventRefs.from_state(state)
    ctx = FlagContext(now=now, refs=refs)
    flags = [
        flag
        for rule in policy.fold_rules()
        for flag in RULE_KINDS[rule.kind].evaluate(rule, state, ctx)
    ]
    flags.sort(key=lambda f: (SEVERITY_RANK[f.severity], f.since, f.rule, f.signal_id))
    return flags


def _when(moment: datetime) -> str:
    """``2024-05-01 10:00 UTC``: readable in a reason, unambiguous across zones."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
