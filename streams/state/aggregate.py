"""``CustomerAggregate``: the internal, mergeable state of one customer.

Every field is a register versioned by ``(occurred_at, signal_id)`` (see
``_registers``), ``seen`` maps each signal id to its type, identities and
aliases are grow-only sets and the timeline keeps the N greatest versions.
Hence the state is a function of the *set* of signals: arrival order and
duplicates do not matter, and :meth:`CustomerAggregate.merge` is commutative,
associative and idempotent (on everything but which id survives), which is what
identity merges across partitions need.

``recent`` keeps, for every signal type, the ``recent_size`` greatest
versions (a bounded, generic memory that rules such as ``recent_signal`` and
``contact_fatigue`` read), joined like the timeline.

``version`` is ``|seen| + |identities| + |aliases|``: it grows with every
change, and a replay of the same signals gives the same number.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from signalfold.errors import ConfigError
from signalfold.policy.evaluate import EventRef, EventRefs, evaluate_flags
from signalfold.schemas.signal import Signal
from signalfold.schemas.state import CustomerState, Flag, IdentityRef
from signalfold.streams.state import _build
from signalfold.streams.state._document import Document, Published, policy_view, serialize
from signalfold.streams.state._fold import (
    FIRST_WINS,
    NAMESPACES,
    bounded,
    recent_payload,
    writes_for,
)
from signalfold.streams.state._registers import (
    Register,
    RegisterMap,
    join_into,
    register_from_json,
    register_to_json,
)
from signalfold.streams.state.bounds import DEFAULT_BOUNDS, Bounds
from signalfold.streams.state.facts import IdentityKey, SignalFacts, facts_of
from signalfold.streams.state.summary import summarize

if TYPE_CHECKING:
    from signalfold.policy.model import Policy

__all__ = ["TRANSFER_FORMAT", "CustomerAggregate", "Published", "RegisterMap"]

TRANSFER_FORMAT = 1


class CustomerAggregate:
    """Folds one customer's signals; see the module docstring for the guarantees."""

    def __init__(
        self,
        customer_id: str,
        *,
        timeline_size: int = 50,
        recent_size: int = 16,
        bounds: Bounds = DEFAULT_BOUNDS,
    ) -> None:
        for name, size in (("timeline_size", timeline_size), ("recent_size", recent_size)):
            if size < 1:
                raise ConfigError(f"{name} must be at least 1, got {size}")
        self.customer_id = customer_id
        self.bounds = bounds
        self.timeline_size = timeline_size
        self.recent_size = recent_size
        self.recent: dict[str, RegisterMap] = {}
        self.seen: dict[str, str] = {}
        self.aliases: set[str] = set()
        self.identities: set[IdentityKey] = set()
        self.registers: dict[str, RegisterMap] = {ns: {} for ns in NAMESPACES}
        self.timeline: RegisterMap = {}

    @property
    def version(self) -> int:
        """Grows on every change; equal for equal sets of signals, identities and aliases."""
        return len(self.seen) + len(self.identities) + len(self.aliases)

    def apply(self, signal: Signal, identities: Iterable[IdentityRef] = ()) -> bool:
        """Fold one signal (and the identities it resolved to); ``False`` if nothing changed."""
        keys = [(i.type, i.value, i.source, i.record_id) for i in identities]
        if signal.signal_id in self.seen:
            return self._add_identities(keys)
        return self.fold(facts_of(signal), keys)

    def fold(self, signal: SignalFacts, identities: Iterable[IdentityKey] = ()) -> bool:
        """:meth:`apply` over what the fold reads of the signal (``facts``)."""
        changed = self._add_identities(identities)
        if signal.signal_id in self.seen:
            return changed
        self.seen[signal.signal_id] = signal.type
        payload, at = signal.payload, signal.occurred_at
        for namespace, key, value in writes_for(signal, self.bounds.text_chars):
            reg = Register(at, signal.signal_id, value)
            join_into(self.registers[namespace], key, reg, first_wins=namespace in FIRST_WINS)
        entry = {
            "type": signal.type,
            "source": signal.source,
            "source_event_id": signal.source_event_id,
            "summary": bounded(summarize(signal.type, payload), 300),
        }
        self.timeline[signal.signal_id] = Register(at, signal.signal_id, entry)
        self._trim_timeline()
        kept = {**entry, "payload": recent_payload(payload)}
        del kept["type"]
        self.recent.setdefault(signal.type, {})[signal.signal_id] = Register(
            at, signal.signal_id, kept
        )
        _trim(self.recent[signal.type], self.recent_size)
        return True

    def merge(self, other: CustomerAggregate) -> None:
        """Absorb ``other`` (a customer identity resolution merged into this one).

        ``other.customer_id`` and its aliases become aliases of this customer;
        everything else is the join of both states.
        """
        for signal_id, signal_type in other.seen.items():
            self.seen.setdefault(signal_id, signal_type)
        self._add_identities(other.identities)
        self.aliases |= other.aliases | {other.customer_id}
        self.aliases.discard(self.customer_id)
        for namespace, regs in other.registers.items():
            target = self.registers.setdefault(namespace, {})
            for key, reg in regs.items():
                join_into(target, key, reg, first_wins=namespace in FIRST_WINS)
        self.timeline.update(other.timeline)
        self._trim_timeline()
        for signal_type, regs in other.recent.items():
            mine = self.recent.setdefault(signal_type, {})
            mine.update(regs)
            _trim(mine, self.recent_size)

    def document(self, now: datetime, recent_types: Iterable[str] | None = None) -> Document:
        """The published state without flags, as the plain dict ``CustomerState`` dumps to.

        ``recent_types`` limits the published recent signals to the types a
        policy reads (``None``: every type); the aggregate keeps them all, so a
        reloaded policy that reads a new type still sees its history. Times are
        ``datetime`` objects; ``flags`` is left empty.
        """
        return {
            "customer_id": self.customer_id,
            "version": self.version,
            "updated_at": now,
            "aliases": sorted(self.aliases),
            "identities": [
                {"type": t, "value": v, "source": s, "record_id": r}
                for t, v, s, r in sorted(self.identities)
            ],
            "profile": _build.build_profile(self.registers["profile"]),
            "last_touch": _build.build_touches(self.registers["touch"]),
            "tickets": _build.build_tickets(self.registers, self.bounds.closed_tickets),
            "orders": _build.build_orders(
                self.registers, self.bounds.orders, self.bounds.returned_orders
            ),
            "consent": _build.build_consent(self.registers["consent"]),
            "counters": _build.build_counters(self.seen),
            "timeline": _build.build_timeline(self.timeline),
            "flags": [],
            "opportunities": _build.build_opportunities(self.registers["opportunity"]),
            "recent": _build.build_recent(self.recent, recent_types),
        }

    def fold_state(self, now: datetime, recent_types: Iterable[str] | None = None) -> CustomerState:
        """The published shape without flags (policy evaluation adds them); see :meth:`document`."""
        return CustomerState.model_validate(self.document(now, recent_types))

    def to_state(self, policy: Policy, now: datetime) -> CustomerState:
        """The published ``CustomerState`` with the policy's flags evaluated at ``now``.

        ``updated_at`` is ``now`` (when the state was computed), so compare
        states without it and without ``version``.
        """
        state = self.fold_state(now, policy.referenced_types())
        state.flags = evaluate_flags(state, policy, now, refs=self.event_refs())
        return state

    def flags(self, policy: Policy, now: datetime) -> list[Flag]:
        """The flags ``policy`` raises on this customer at ``now``, citing its full provenance."""
        return evaluate_flags(self.fold_state(now), policy, now, refs=self.event_refs())

    def publish(self, policy: Policy, now: datetime) -> Published:
        """:meth:`to_state` as the stage publishes it: its JSON and its flags.

        The JSON is the document serialised directly, the same bytes as
        ``to_state(policy, now).model_dump_json()`` (a property test holds them
        equal) at a fraction of the cost; flags are evaluated on a view of the
        document (``policy_view``).
        """
        doc = self.document(now, policy.referenced_types())
        flags = evaluate_flags(policy_view(doc, policy), policy, now, refs=self.event_refs())
        return Published(self.version, serialize(doc, flags), flags)

    def event_refs(self) -> EventRefs:
        """Source and source event id of every event a register holds, for flag provenance."""
        refs = (
            EventRef(reg.value["source"], reg.value["source_event_id"], reg.signal_id)
            for regs in (*self.registers.values(), self.timeline, *self.recent.values())
            for reg in regs.values()
        )
        return EventRefs(refs)  # indexed lazily: most folds raise no flag

    def to_transfer(self) -> dict[str, Any]:
        """A JSON-safe dict that :meth:`from_transfer` turns back into an equal aggregate."""
        return {
            "format": TRANSFER_FORMAT,
            "customer_id": self.customer_id,
            "timeline_size": self.timeline_size,
            "seen": dict(sorted(self.seen.items())),
            "aliases": sorted(self.aliases),
            "identities": [list(key) for key in sorted(self.identities)],
            "registers": {
                ns: {key: register_to_json(reg) for key, reg in sorted(regs.items())}
                for ns, regs in self.registers.items()
            },
            "timeline": [register_to_json(reg) for _, reg in sorted(self.timeline.items())],
            "recent_size": self.recent_size,
            "recent": {
                t: [register_to_json(reg) for _, reg in sorted(regs.items())]
                for t, regs in sorted(self.recent.items())
            },
        }

    @classmethod
    def from_transfer(
        cls, data: dict[str, Any], bounds: Bounds = DEFAULT_BOUNDS
    ) -> CustomerAggregate:
        """Rebuild an aggregate from :meth:`to_transfer` output (e.g. after ``json.loads``)."""
        if data.get("format") != TRANSFER_FORMAT:
            raise ValueError(
                f"customer transfer format {data.get('format')!r} is not supported; "
                f"this version reads format {TRANSFER_FORMAT}"
            )
        agg = cls(
            data["customer_id"],
            timeline_size=int(data["timeline_size"]),
            recent_size=int(data.get("recent_size", 16)),
            bounds=bounds,
        )
        agg.seen = {str(k): str(v) for k, v in data["seen"].items()}
        agg.aliases = set(data["aliases"])
        agg.identities = {(t, v, s, r) for t, v, s, r in data["identities"]}
        for ns, regs in data["registers"].items():
            agg.registers[ns] = {key: register_from_json(reg) for key, reg in regs.items()}
        for raw in data["timeline"]:
            reg = register_from_json(raw)
            agg.timeline[reg.signal_id] = reg
        for signal_type, raws in data.get("recent", {}).items():
            agg.recent[signal_type] = {r.signal_id: r for r in map(register_from_json, raws)}
        return agg

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CustomerAggregate):
            return NotImplemented
        return self.to_transfer() == other.to_transfer()

    # Mutable, so unhashable; typeshed types object.__hash__ as a method, never None.
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"CustomerAggregate({self.customer_id!r}, version={self.version})"

    def _add_identities(self, keys: Iterable[IdentityKey]) -> bool:
        before = len(self.identities)
        self.identities.update(keys)
        return len(self.identities) != before

    def _trim_timeline(self) -> None:
        _trim(self.timeline, self.timeline_size)


def _trim(regs: RegisterMap, size: int) -> None:
    """Keep the ``size`` greatest versions of a map keyed by signal id."""
    excess = len(regs) - size
    if excess <= 0:
        return
    for reg in sorted(regs.values(), key=lambda r: r.version)[:excess]:
        del regs[reg.signal_id]
