"""``DecisionInputs``: what one published customer state gives every decision about it.

A decision reads a state's id, version, flags and (for ask-time kinds such as
quiet hours) its profile. A serving replica holds states as the raw JSON of
``customer.state``; ``DecisionInputs`` parses only those fields (2-3 times
faster than the whole state), once per state version, and the whole state
only when a flag raised at ask time needs its provenance.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from signalfold.policy.evaluate import EventRefs, state_refs
from signalfold.schemas.state import CustomerState, Flag, ProfileValue

__all__ = ["DecisionInputs"]


class _Decidable(BaseModel):
    """The part of a published ``CustomerState`` a decision reads."""

    customer_id: str
    version: int = 0
    flags: list[Flag] = Field(default_factory=list)
    profile: dict[str, ProfileValue] = Field(default_factory=dict)


class DecisionInputs:
    """The prepared inputs of one state version; ``source`` is the state or its JSON.

    ``cache`` belongs to whoever answers from these inputs (``Decider`` keeps
    the decisions already made from them there); it goes with the version.
    """

    __slots__ = ("_full", "cache", "customer_id", "flags", "profile", "version")

    def __init__(self, source: bytes | CustomerState) -> None:
        parsed: CustomerState | _Decidable = (
            source if isinstance(source, CustomerState) else _Decidable.model_validate_json(source)
        )
        self.customer_id = parsed.customer_id
        self.version = parsed.version
        self.flags = parsed.flags
        self.profile = parsed.profile
        self._full = source
        self.cache: dict[Any, Any] = {}

    def full_state(self) -> CustomerState:
        """The whole published state these inputs came from (parsed on first need)."""
        if not isinstance(self._full, CustomerState):
            self._full = CustomerState.model_validate_json(self._full)
        return self._full

    def refs(self) -> EventRefs:
        """Provenance of the state's events; the whole state is parsed only if one is asked."""

        def lazily() -> Any:
            yield from state_refs(self.full_state())

        return EventRefs(lazily())
