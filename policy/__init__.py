"""The declarative suppression policy: flags at fold time, decisions at ask time.

- ``load_policy(path | None) -> Policy`` reads a YAML policy (defaults shipped in
  ``signalfold/defaults/policy.yaml``);
- ``evaluate_flags(state, policy, now)`` raises the flags (the state stage, at fold time);
- ``decide(state, channel=, purpose=, now=)`` answers one suppression question;
- ``Decider(policy).answer(inputs, ...)`` is ``decide`` over prepared
  ``DecisionInputs``, kept while it holds (a serving replica, per request);
- ``PolicyWatcher`` follows edits of the policy file.

Rule kinds are a registry (``register_rule_kind``), each with its ask-time
part (``Asked``); the built-in kinds are registered by importing this package.
Pure library code: no Kafka, no HTTP.
"""

from __future__ import annotations

from signalfold.policy import ask as _ask  # noqa: F401  (registers kinds)
from signalfold.policy import builtin as _builtin  # noqa: F401
from signalfold.policy import generic as _generic  # noqa: F401
from signalfold.policy.answers import Answer, Decider
from signalfold.policy.conditions import Condition, SignalMatch
from signalfold.policy.decide import Decided, decide, decision_at
from signalfold.policy.errors import DuplicateRuleKind, PolicyError, PolicyFileError
from signalfold.policy.evaluate import EventRef, EventRefs, FlagContext, evaluate_flags
from signalfold.policy.inputs import DecisionInputs
from signalfold.policy.kinds import RULE_KINDS, Asked, RuleKind, register_rule_kind
from signalfold.policy.model import Policy, Rule, UnknownCustomerRules, load_policy
from signalfold.policy.reload import PolicyWatcher, next_expiry

__all__ = [
    "RULE_KINDS",
    "Answer",
    "Asked",
    "Condition",
    "Decided",
    "Decider",
    "DecisionInputs",
    "DuplicateRuleKind",
    "EventRef",
    "EventRefs",
    "FlagContext",
    "Policy",
    "PolicyError",
    "PolicyFileError",
    "PolicyWatcher",
    "Rule",
    "RuleKind",
    "SignalMatch",
    "UnknownCustomerRules",
    "decide",
    "decision_at",
    "evaluate_flags",
    "load_policy",
    "next_expiry",
    "register_rule_kind",
]
