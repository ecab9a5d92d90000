"""The published ``CustomerState`` of one aggregate, rebuilt only where it changed.

A customer's state is republished on every change, but one signal touches a
few sections (its department's last touch, the timeline, the counters, maybe a
ticket); the rest are as they were. ``Sections`` keeps, per section, the built
value (validated sub-models) and its JSON fragment, rebuilds only the sections
the aggregate marked dirty, and caches timeline and recent entries per signal
(a signal's entry never changes). The state object is then assembled with
``model_construct`` (its parts are already validated) and its JSON by joining
the fragments — byte for byte what ``CustomerState.model_dump_json`` writes,
which ``tests/unit/state/test_published.py`` checks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from pydantic import TypeAdapter
from pydantic_core import to_json

from signalfold.schemas.state import CustomerState, Flag, RecentSignal, TimelineEntry

__all__ = ["SECTIONS", "Sections"]

#: Every field of ``CustomerState`` built from the aggregate (all but id, version,
#: updated_at and flags), in the model's field order.
SECTIONS: tuple[str, ...] = tuple(
    name
    for name in CustomerState.model_fields
    if name not in ("customer_id", "version", "updated_at", "flags")
)
_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    name: TypeAdapter(field.annotation) for name, field in CustomerState.model_fields.items()
}
_ENTRY = TypeAdapter(TimelineEntry)
_RECENT = TypeAdapter(RecentSignal)
_FLAGS = _ADAPTERS["flags"]
_KEYS: dict[str, bytes] = {
    name: b'"' + name.encode() + b'":' for name in CustomerState.model_fields
}


def _join(items: Iterable[bytes]) -> bytes:
    return b"[" + b",".join(items) + b"]"


class Sections:
    """Built sections of one customer's state and their JSON; see the module docstring."""

    def __init__(self) -> None:
        self.dirty: set[str] = set(SECTIONS)
        self.dirty_types: set[str] | None = None  # recent types changed (None: all)
        self._built: dict[str, tuple[Any, bytes]] = {}
        self._entries: dict[str, tuple[TimelineEntry, bytes]] = {}
        self._recent: dict[str, tuple[list[RecentSignal], bytes]] = {}
        self._aliases_seen: tuple[int, int] | None = None
        self._last: tuple[CustomerState, dict[str, bytes]] | None = None

    def touch_recent(self, signal_type: str) -> None:
        if self.dirty_types is not None:
            self.dirty_types.add(signal_type)

    def everything(self) -> None:
        """Mark every section dirty (after a merge)."""
        self.dirty = set(SECTIONS)
        self.dirty_types = None

    def needs(self, name: str) -> bool:
        """Whether ``name`` was never built."""
        return name not in self._built

    def section(self, name: str, build: Callable[[], Any]) -> None:
        if name in self.dirty or name not in self._built:
            value = build()
            self._built[name] = (value, _ADAPTERS[name].dump_json(value))

    def aliases(self, aliases: set[str]) -> None:
        # Aliases are a grow-only set, replaced whole by a split: (id, size) tells a change.
        seen = (id(aliases), len(aliases))
        if seen != self._aliases_seen or "aliases" not in self._built:
            self.dirty.add("aliases")
            self._aliases_seen = seen
        self.section("aliases", lambda: sorted(aliases))

    def timeline(self, entries: list[dict[str, Any]]) -> None:
        """``entries`` as ``build_timeline`` orders them; each is validated once."""
        cache, kept = self._entries, {}
        for entry in entries:
            sid = entry["signal_id"]
            hit = cache.get(sid)
            if hit is None:
                model = _ENTRY.validate_python(entry)
                hit = (model, _ENTRY.dump_json(model))
            kept[sid] = hit
        self._entries = kept
        self._built["timeline"] = (
            [m for m, _ in kept.values()],
            _join(j for _, j in kept.values()),
        )

    def recent(self, built: dict[str, Callable[[], list[dict[str, Any]]]]) -> None:
        """``built`` maps each published type to a builder of its entries (newest first)."""
        old, fresh = self._recent, {}
        for signal_type, entries in built.items():
            hit = old.get(signal_type)
            if hit is None or self.dirty_types is None or signal_type in self.dirty_types:
                models = [_RECENT.validate_python(e) for e in entries()]
                hit = (models, _join(_RECENT.dump_json(m) for m in models))
            if hit[0]:
                fresh[signal_type] = hit
        self._recent = fresh
        value = {t: list(models) for t, (models, _) in fresh.items()}
        frag = b"{" + b",".join(to_json(t) + b":" + j for t, (_, j) in fresh.items()) + b"}"
        self._built["recent"] = (value, frag)

    def state(self, customer_id: str, version: int, now: Any) -> CustomerState:
        """A ``CustomerState`` of the built sections (no flags yet); clears the dirty marks."""
        values = {}
        for name in SECTIONS:
            value = self._built[name][0]
            # Containers are copied: a published state may be edited, the cache may not.
            values[name] = value.copy() if isinstance(value, (list, dict)) else value
        state = CustomerState.model_construct(
            customer_id=customer_id, version=version, updated_at=now, flags=[], **values
        )
        self._last = (state, {name: self._built[name][1] for name in SECTIONS})
        self.dirty = set()
        self.dirty_types = set()
        return state

    def state_json(self, state: CustomerState) -> bytes:
        """``state.model_dump_json()`` as bytes, from the fragments when ``state`` is the
        last one built here and its sections were not replaced since."""
        if self._last is None or self._last[0] is not state:
            return state.model_dump_json().encode()
        fragments = self._last[1]
        parts = [
            _KEYS["customer_id"] + to_json(state.customer_id),
            _KEYS["version"] + to_json(state.version),
            _KEYS["updated_at"] + _ADAPTERS["updated_at"].dump_json(state.updated_at),
        ]
        for name in CustomerState.model_fields:
            if name == "flags":
                parts.append(_KEYS["flags"] + _flags_json(state.flags))
            elif name in fragments:
                parts.append(_KEYS[name] + fragments[name])
        return b"{" + b",".join(parts) + b"}"


def _flags_json(flags: list[Flag]) -> bytes:
    return _FLAGS.dump_json(flags) if flags else b"[]"
