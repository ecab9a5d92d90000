"""``Decider``: ``decide`` with a policy, over prepared inputs, kept while it holds.

A serving replica answers thousands of questions about the same states. A
decision depends on the state's flags, the question (channel, purpose,
product/category) and ``now`` only within the interval ``decision_at``
gives with it. So ``Decider.answer`` keeps, per state version
(``DecisionInputs.cache``) and question, the decision ``decision_at`` made and
its interval; inside it, an answer is a dict lookup and the JSON is the kept
bytes around a fresh ``evaluated_at``; outside it (a flag expired, quiet
hours began or ended, a clock that went back) ``decision_at`` runs again. The
JSON is what pydantic itself wrote for the kept decision, so it cannot drift
from ``SuppressionDecision``, and there is no decision logic here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, get_args

import pydantic_core

from signalfold.policy.decide import decision_at
from signalfold.policy.inputs import DecisionInputs
from signalfold.policy.model import Policy, UnknownCustomerRules
from signalfold.schemas.decision import Channel, Purpose, SuppressionDecision
from signalfold.schemas.state import Flag

__all__ = ["CHANNELS", "PURPOSES", "Answer", "Decider"]

CHANNELS: frozenset[str] = frozenset(get_args(Channel))
PURPOSES: frozenset[str] = frozenset(get_args(Purpose))
_new = object.__new__
_set = object.__setattr__
_MAX_ENTRIES = 64  # per customer: questions naming products/categories are open-ended
Key = tuple[str, str, str | None, str | None]


class Answer:
    """One decision as the serving path hands it on: JSON bytes, the log's fields, the model.

    ``model_dump_json`` and the attributes are what the decision log reads, so
    an ``Answer`` is logged without building a ``SuppressionDecision``.
    """

    __slots__ = ("_template", "json", "now")

    def __init__(self, template: SuppressionDecision, json: bytes, now: datetime) -> None:
        self._template = template
        self.json = json
        self.now = now

    @classmethod
    def of(cls, decision: SuppressionDecision) -> Answer:
        """The answer of a decision made whole (not kept)."""
        return cls(decision, decision.model_dump_json().encode(), decision.evaluated_at)

    @property
    def outcome(self) -> str:
        return self._template.outcome

    @property
    def channel(self) -> str:
        return self._template.channel

    @property
    def purpose(self) -> str:
        return self._template.purpose

    @property
    def customer_id(self) -> str | None:
        return self._template.customer_id

    @property
    def state_version(self) -> int | None:
        return self._template.state_version

    def decision(self) -> SuppressionDecision:
        """The ``SuppressionDecision`` (equal to what ``decide`` returns for the same question)."""
        template = self._template
        if template.evaluated_at is self.now:
            return template
        # What pydantic's own ``__copy__`` does, with a new ``evaluated_at`` and reasons list:
        # a third of ``model_copy(update=...)``'s cost. Reasons are frozen and shared.
        values = template.__dict__.copy()
        values["evaluated_at"] = self.now
        values["reasons"] = list(values["reasons"])
        decision = _new(SuppressionDecision)
        _set(decision, "__dict__", values)
        _set(decision, "__pydantic_fields_set__", set(template.__pydantic_fields_set__))
        _set(decision, "__pydantic_extra__", None)
        _set(decision, "__pydantic_private__", None)
        return decision

    def model_dump_json(self) -> str:
        return self.json.decode()


class _Kept:
    """A decision ``decision_at`` made under ``policy``, valid for ``lo <= now < hi``."""

    __slots__ = ("head", "hi", "lo", "policy", "tail", "template")

    def __init__(
        self,
        template: SuppressionDecision,
        lo: datetime | None,
        hi: datetime | None,
        policy: Policy | None,
    ) -> None:
        # Unescaped quotes around the key: the marker cannot occur inside a string value.
        body = template.model_dump_json().encode()
        value = pydantic_core.to_json(template.evaluated_at)
        at = body.rindex(b'"evaluated_at":' + value) + len(b'"evaluated_at":')
        self.head, self.tail = body[:at], body[at + len(value) :]
        self.template, self.lo, self.hi, self.policy = template, lo, hi, policy

    def holds(self, now: datetime, policy: Policy | None) -> bool:
        return (
            self.policy is policy
            and (self.lo is None or self.lo <= now)
            and (self.hi is None or now < self.hi)
        )


class Decider:
    """``decide`` with ``policy`` (and ``unknown``), answering from ``DecisionInputs``.

    Example::

        decider = Decider(load_policy())
        answer = decider.answer(DecisionInputs(state), channel="email",
                                purpose="marketing", now=now)
        answer.json        # the SuppressionDecision's JSON
        answer.decision()  # == decide(state, ..., policy=decider.policy)
    """

    def __init__(self, policy: Policy | None = None, unknown: UnknownCustomerRules | None = None):
        self._fixed_unknown = unknown
        self._now: tuple[datetime, bytes] | None = None
        self.reload(policy)

    def reload(self, policy: Policy | None) -> None:
        """Answer with ``policy`` from now on (a live edit of the policy file).

        Flags are re-evaluated by the state workers themselves; what this
        replica evaluates at ask time (unknown-customer rules, every ask-time
        kind) follows ``policy`` from the next answer on.
        """
        self.policy = policy
        self.unknown = self._fixed_unknown or (policy.unknown_customer if policy else None)
        self._unknown_kept: dict[Key, _Kept] = {}

    def answer(
        self,
        inputs: DecisionInputs | None,
        *,
        channel: str,
        purpose: str,
        now: datetime,
        product_id: str | None = None,
        category: str | None = None,
        held: Flag | None = None,
    ) -> Answer:
        """The decision for ``inputs`` (``None``: an unknown customer), as ``decide`` makes it.

        A question ``held`` by the do-not-contact list (rare: an erased person) is
        decided afresh, never kept.
        """
        if held is not None:
            decided = self._decided(inputs, channel, purpose, now, product_id, category, held=held)
            return Answer.of(decided.decision)
        if (
            type(channel) is not str
            or channel not in CHANNELS
            or type(purpose) is not str
            or purpose not in PURPOSES
            or not (product_id is None or type(product_id) is str)
            or not (category is None or type(category) is str)
            or now.utcoffset() is None
        ):  # not a question to keep an answer for: ``decision_at`` answers (or refuses) it
            return Answer.of(self._decided(inputs, channel, purpose, now, product_id, category)[0])
        key = (channel, purpose, product_id, category)
        policy = self.policy
        kept_by = self._unknown_kept if inputs is None else inputs.cache
        kept = kept_by.get(key)
        if kept is None or not kept.holds(now, policy):
            decided = self._decided(inputs, channel, purpose, now, product_id, category)
            kept = _Kept(decided.decision, decided.lo, decided.hi, policy)
            if len(kept_by) >= _MAX_ENTRIES:
                kept_by.clear()
            kept_by[key] = kept
        return Answer(kept.template, kept.head + self._encoded(now) + kept.tail, now)

    def _decided(
        self, inputs: DecisionInputs | None, *question: Any, held: Flag | None = None
    ) -> Any:
        return decision_at(inputs, *question, policy=self.policy, unknown=self.unknown, held=held)

    def _encoded(self, now: datetime) -> bytes:
        last = self._now
        if last is not None and last[0] is now:
            return last[1]
        encoded = pydantic_core.to_json(now)
        self._now = (now, encoded)
        return encoded
