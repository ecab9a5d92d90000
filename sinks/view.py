"""``ServingView``: the in-memory lookups every request needs, fed by the materializer.

States by customer id, the identifier index and the alias map (absorbed →
survivor) live in dicts because DuckDB answers point lookups with a scan. A
state is kept as the raw JSON from ``customer.state`` and parsed on first read:
most states are rewritten many times before anyone asks for them.

One writer (the consumer thread) and many readers (API threads) share it; a
single lock guards the dicts, held once per consumed batch by the writer.

For decisions, ``inputs`` keeps each state's ``DecisionInputs`` (its flags,
parsed once per version, and the decisions already made from them), dropped
when a newer state of the customer arrives.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from signalfold.policy import DecisionInputs
from signalfold.schemas import CustomerState
from signalfold.schemas.state import Flag

__all__ = ["ServingView"]


class ServingView:
    """Current states, identifier index and aliases of every customer.

    Example::

        view.apply(states=[("c1", b'{"customer_id": "c1"}')], aliases=[("c0", "c1")])
        view.resolve("c0")        # "c1"
        view.state("c1").version  # 0
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[str, bytes | CustomerState] = {}
        self._index: dict[str, str] = {}
        self._aliases: dict[str, str] = {}
        self._absorbed: dict[str, set[str]] = {}
        self._inputs: dict[str, DecisionInputs] = {}
        self._held: dict[str, Flag] = {}  # keyed hash on the do-not-contact list → its flag
        self.held_version = 0  # grows with every change to the list

    def apply(
        self,
        *,
        states: Iterable[tuple[str, bytes | None]] = (),
        index: Iterable[tuple[str, str | None]] = (),
        aliases: Iterable[tuple[str, str | None]] = (),
    ) -> None:
        """Apply one batch, in order per kind. ``None`` deletes (a tombstone)."""
        with self._lock:
            for customer_id, raw in states:
                self._inputs.pop(customer_id, None)
                if raw is None:
                    self._states.pop(customer_id, None)
                else:
                    self._states[customer_id] = raw
            for key, owner in index:
                if owner is None:
                    self._index.pop(key, None)
                else:
                    self._index[key] = owner
            for absorbed, survivor in aliases:
                self._set_alias(absorbed, survivor)

    def hold(self, identifier_hash: str, flag: Flag | None) -> None:
        """Put an identifier's keyed hash on the do-not-contact list (``None``: take it off)."""
        with self._lock:
            if flag is None:
                self._held.pop(identifier_hash, None)
            else:
                self._held[identifier_hash] = flag
            self.held_version += 1

    def held(self, identifier_hash: str) -> Flag | None:
        """The hold on an identifier an erased person had: marketing to it stays held."""
        return self._held.get(identifier_hash)

    @property
    def holds_any(self) -> bool:
        return bool(self._held)

    def _set_alias(self, absorbed: str, survivor: str | None) -> None:
        old = self._aliases.pop(absorbed, None)
        if old is not None:
            self._absorbed.get(old, set()).discard(absorbed)
        if survivor is not None and survivor != absorbed:
            self._aliases[absorbed] = survivor
            self._absorbed.setdefault(survivor, set()).add(absorbed)

    def resolve(self, customer_id: str) -> str:
        """The current id of ``customer_id``, following merge chains (a → b → c gives c).

        A cycle (which a correct pipeline never publishes) stops at the last
        id before it repeats rather than looping.
        """
        with self._lock:
            if customer_id not in self._aliases:
                return customer_id
            current = customer_id
            seen = {current}
            while (nxt := self._aliases.get(current)) is not None and nxt not in seen:
                seen.add(nxt)
                current = nxt
            return current

    def lookup(self, key: str) -> str | None:
        """Customer id for an identifier key ``<type>:<normalised value>``, alias-resolved."""
        with self._lock:
            customer_id = self._index.get(key)
            if customer_id is None or customer_id not in self._aliases:
                return customer_id
        return self.resolve(customer_id)

    def members(self, customer_id: str) -> list[str]:
        """``customer_id`` and every id merged into it, directly or through a chain."""
        with self._lock:
            out = [customer_id]
            seen = {customer_id}
            for current in out:
                for absorbed in sorted(self._absorbed.get(current, ())):
                    if absorbed not in seen:
                        seen.add(absorbed)
                        out.append(absorbed)
            return out

    def is_alias(self, customer_id: str) -> bool:
        """Whether ``customer_id`` was merged into another customer."""
        with self._lock:
            return customer_id in self._aliases

    def state(self, customer_id: str) -> CustomerState | None:
        """The published state of exactly this id (no alias resolution), parsed on first read."""
        with self._lock:
            value = self._states.get(customer_id)
        if value is None or isinstance(value, CustomerState):
            return value
        parsed = CustomerState.model_validate_json(value)
        with self._lock:
            if self._states.get(customer_id) is value:
                self._states[customer_id] = parsed
        return parsed

    def inputs(self, customer_id: str) -> DecisionInputs | None:
        """The decision inputs of exactly this id's current state (no alias resolution)."""
        with self._lock:
            inputs = self._inputs.get(customer_id)
            if inputs is not None:
                return inputs
            value = self._states.get(customer_id)
        if value is None:
            return None
        inputs = DecisionInputs(value)
        with self._lock:
            # Keep them only if no newer state arrived meanwhile (else the next read rebuilds).
            if self._states.get(customer_id) is value:
                inputs = self._inputs.setdefault(customer_id, inputs)
        return inputs

    def sizes(self) -> dict[str, int]:
        """How many states, index entries and aliases are held (for status and tests)."""
        with self._lock:
            return {
                "states": len(self._states),
                "index": len(self._index),
                "aliases": len(self._aliases),
            }
