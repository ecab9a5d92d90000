"""Signal matchers: "a signal of this type whose payload fields satisfy these conditions".

Used by the generic rule kinds (``recent_signal``, ``contact_fatigue``) so a
rule can name any signal type a source contract declares, with no code::

    raised_by:
      - {type: support.csat.submitted, where: {score: {lte: 2}}}
      - {type: support.ticket.opened, where: {category: complaint}}
      - ai.conversation.escalated          # shorthand: any signal of the type

A condition is a bare value (equality), a bare list (one of), or a mapping of
operators: ``eq ne in not_in lt lte gt gte exists``. A field the payload does
not carry satisfies only ``exists: false`` and ``ne``/``not_in``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from signalfold.schemas.state import CustomerState, RecentSignal

__all__ = ["Condition", "SignalMatch", "matching"]

_SIGNAL_TYPE = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"
_OPERATORS = frozenset({"eq", "ne", "in", "not_in", "lt", "lte", "gt", "gte", "exists"})
_MISSING = object()


class Condition(BaseModel):
    """Operators on one payload field; every given operator must hold."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    eq: Any = None
    ne: Any = None
    in_: tuple[Any, ...] | None = Field(default=None, alias="in")
    not_in: tuple[Any, ...] | None = None
    lt: float | None = None
    lte: float | None = None
    gt: float | None = None
    gte: float | None = None
    exists: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict) and value and set(value) <= _OPERATORS:
            return value
        if isinstance(value, dict):
            unknown = sorted(set(value) - _OPERATORS)
            raise ValueError(f"unknown operator(s) {unknown}; use {sorted(_OPERATORS)}")
        if isinstance(value, (list, tuple)):
            return {"in": value}
        return {"eq": value}

    def holds(self, value: Any) -> bool:
        """Whether a payload value (``_MISSING`` when absent) satisfies every operator."""
        if self.exists is not None and (value is not _MISSING) != self.exists:
            return False
        if value is _MISSING:
            return self.eq is None and self.in_ is None and not self._numeric()
        if self.eq is not None and value != self.eq:
            return False
        if self.ne is not None and value == self.ne:
            return False
        if self.in_ is not None and value not in self.in_:
            return False
        if self.not_in is not None and value in self.not_in:
            return False
        return self._compare(value) if self._numeric() else True

    def _numeric(self) -> bool:
        return any(b is not None for b in (self.lt, self.lte, self.gt, self.gte))

    def _compare(self, value: Any) -> bool:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return False
        return (
            (self.lt is None or number < self.lt)
            and (self.lte is None or number <= self.lte)
            and (self.gt is None or number > self.gt)
            and (self.gte is None or number >= self.gte)
        )


class SignalMatch(BaseModel):
    """A signal type and conditions on its payload fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str = Field(pattern=_SIGNAL_TYPE)
    where: dict[str, Condition] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _bare_type(cls, value: Any) -> Any:
        return {"type": value} if isinstance(value, str) else value

    def accepts(self, entry: RecentSignal) -> bool:
        return all(c.holds(entry.payload.get(f, _MISSING)) for f, c in self.where.items())


def matching(
    state: CustomerState, matches: tuple[SignalMatch, ...]
) -> list[tuple[str, RecentSignal]]:
    """Every recent signal of ``state`` that one of ``matches`` accepts, as (type, signal)."""
    found: list[tuple[str, RecentSignal]] = []
    for match in matches:
        for entry in state.recent.get(match.type, ()):
            if match.accepts(entry):
                found.append((match.type, entry))
    return found
