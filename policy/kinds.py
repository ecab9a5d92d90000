"""The registry of rule kinds: ``kind`` → evaluator, parameters and template fields.

A rule in the policy file names a ``kind``; the kind knows how to find, in the
folded ``CustomerState``, the facts that raise a flag. New kinds register here
with :func:`register_rule_kind` and become usable from YAML without touching the
loader. Evaluators read folded state only (never single events), so flags stay
order-insensitive like the state itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from signalfold.schemas.state import CustomerState, Flag

if TYPE_CHECKING:
    from signalfold.policy.evaluate import FlagContext
    from signalfold.policy.model import Rule

__all__ = [
    "COMMON_FIELDS",
    "RULE_KINDS",
    "NoParams",
    "RuleKind",
    "known_kinds",
    "register_rule_kind",
]

# Placeholders every reason template may use; kinds add their own.
COMMON_FIELDS = frozenset({"rule", "since", "until"})

Evaluator = Callable[["Rule", CustomerState, "FlagContext"], Iterable[Flag]]


class NoParams(BaseModel):
    """Parameters of a kind that takes none: any key is a typo, so none are allowed."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True)
class RuleKind:
    """How one kind of rule is configured and evaluated."""

    name: str
    evaluate: Evaluator
    params: type[BaseModel]
    fields: frozenset[str]
    at_ask: bool = False

    def template_fields(self) -> frozenset[str]:
        return self.fields | COMMON_FIELDS


RULE_KINDS: dict[str, RuleKind] = {}


def register_rule_kind(
    name: str,
    *,
    params: type[BaseModel] = NoParams,
    fields: Iterable[str] = (),
    at_ask: bool = False,
) -> Callable[[Evaluator], Evaluator]:
    """Decorator: make ``name`` a valid ``kind`` whose flags ``evaluate`` computes.

    ``params`` validates the rule's ``params:`` mapping (a ``signal_types()``
    method on it names the signal types the rule reads, so the published state
    keeps them); ``fields`` are the placeholders its reason template may use
    besides ``rule``, ``since``, ``until``. ``at_ask`` kinds depend on the
    moment of the question (quiet hours) and run in ``decide``, not at fold time.
    """

    def decorate(evaluate: Evaluator) -> Evaluator:
        if name in RULE_KINDS:
            raise ValueError(f"rule kind {name!r} is already registered")
        RULE_KINDS[name] = RuleKind(name, evaluate, params, frozenset(fields), at_ask)
        return evaluate

    return decorate


def known_kinds() -> str:
    """Comma-separated registered kinds, for error messages."""
    return ", ".join(sorted(RULE_KINDS))
