"""The declarative suppression policy: flags at fold time, decisions at ask time.

- ``load_policy(path | None) -> Policy`` reads a YAML policy (defaults shipped in
  ``signalfold/defaults/policy.yaml``);
- ``evaluate_flags(state_or_aggregate, policy, now)`` raises the flags;
- ``decide(state, channel=, purpose=, now=)`` answers one suppression question.

Rule kinds are a registry (``register_rule_kind``); the built-in kinds are
registered by importing this package.
"""

from __future__ import annotations

from signalfold.policy import ask as _ask  # noqa: F401  (registers kinds)
from signalfold.policy import builtin as _builtin  # noqa: F401
from signalfold.policy import generic as _generic  # noqa: F401
from signalfold.policy.conditions import Condition, SignalMatch
from signalfold.policy.decide import decide
from signalfold.policy.evaluate import EventRef, EventRefs, FlagContext, evaluate_flags
from signalfold.policy.kinds import RULE_KINDS, RuleKind, register_rule_kind
from signalfold.policy.model import Policy, Rule, UnknownCustomerRules, load_policy

__all__ = [
    "RULE_KINDS",
    "Condition",
    "EventRef",
    "EventRefs",
    "FlagContext",
    "Policy",
    "Rule",
    "RuleKind",
    "SignalMatch",
    "UnknownCustomerRules",
    "decide",
    "evaluate_flags",
    "load_policy",
    "register_rule_kind",
]
