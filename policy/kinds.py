"""The registry of rule kinds: ``kind`` → evaluator, ask-time part, parameters, fields.

A rule in the policy file names a ``kind``; the kind knows how to find, in the
folded ``CustomerState``, the facts that raise a flag. New kinds register here
with :func:`register_rule_kind` and become usable from YAML without touching the
loader. Evaluators read folded state only (never single events), so flags stay
order-insensitive like the state itself.

Each kind also declares its part at ask time. A kind folded into published
flags leaves ``ask`` unset: at ask time its flags hold until their ``until``
(their expiry, which ``decide`` applies to every published flag). A kind that
depends on the clock of the question (quiet hours) gives an ``ask`` function:
``decide`` calls it per question with the prepared ``DecisionInputs``, and it
says which flags hold at ``now`` and over which interval of ``now`` that
answer stays the same, so a cached decision is exactly ``decide``'s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from signalfold.policy.errors import DuplicateRuleKind
from signalfold.schemas.state import CustomerState, Flag

if TYPE_CHECKING:
    from signalfold.policy.evaluate import FlagContext
    from signalfold.policy.inputs import DecisionInputs
    from signalfold.policy.model import Rule

__all__ = [
    "COMMON_FIELDS",
    "RULE_KINDS",
    "AskPart",
    "Asked",
    "NoParams",
    "RuleKind",
    "known_kinds",
    "register_rule_kind",
]

# Placeholders every reason template may use; kinds add their own.
COMMON_FIELDS = frozenset({"rule", "since", "until"})

Evaluator = Callable[["Rule", CustomerState, "FlagContext"], Iterable[Flag]]


@dataclass(frozen=True)
class Asked:
    """What an ask-time part finds at ``now``: its flags, and when that answer holds.

    The same flags would be found for every ``now`` with ``lo <= now < hi``
    (``None``: unbounded on that side).
    """

    flags: tuple[Flag, ...] = ()
    lo: datetime | None = None
    hi: datetime | None = None


AskPart = Callable[["Rule", "DecisionInputs", datetime], Asked]


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
    ask: AskPart | None = None

    @property
    def at_ask(self) -> bool:
        """Whether ``decide`` evaluates this kind per question (else: at fold time)."""
        return self.ask is not None

    def template_fields(self) -> frozenset[str]:
        return self.fields | COMMON_FIELDS


RULE_KINDS: dict[str, RuleKind] = {}


def register_rule_kind(
    name: str,
    *,
    params: type[BaseModel] = NoParams,
    fields: Iterable[str] = (),
    ask: AskPart | None = None,
) -> Callable[[Evaluator], Evaluator]:
    """Decorator: make ``name`` a valid ``kind`` whose flags ``evaluate`` computes.

    ``params`` validates the rule's ``params:`` mapping (a ``signal_types()``
    method on it names the signal types the rule reads, so the published state
    keeps them); ``fields`` are the placeholders its reason template may use
    besides ``rule``, ``since``, ``until``. ``ask``: the kind's ask-time part,
    for kinds that depend on the moment of the question (quiet hours); they
    run in ``decide``, not at fold time (see the module docstring).
    """

    def decorate(evaluate: Evaluator) -> Evaluator:
        if name in RULE_KINDS:
            raise DuplicateRuleKind(name)
        RULE_KINDS[name] = RuleKind(name, evaluate, params, frozenset(fields), ask)
        return evaluate

    return decorate


def known_kinds() -> str:
    """Comma-separated registered kinds, for error messages."""
    return ", ".join(sorted(RULE_KINDS))
