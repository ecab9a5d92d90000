"""The serving fast path of ``decide``: the same decisions, computed once per state version.

A decision depends on the customer's published flags, the question (channel,
purpose, product/category) and ``now`` only through which flags have expired.
So ``FastDecider.answer`` keeps, per customer state and question, the decision
built by the very code ``decide`` runs (``known_fields`` + pydantic), with the
interval of ``now`` over which it holds: from the latest ``until`` already
passed to the earliest ``until`` still ahead. Inside it, an answer is a dict
lookup and the JSON is the cached bytes around a fresh ``evaluated_at``;
outside it (a flag expired, or a clock that went back) it is rebuilt. The
JSON is what pydantic itself wrote for the cached decision, so it cannot
drift from ``SuppressionDecision``.

Quiet hours (the one ask-time kind) depend on the clock of the question: when
a quiet-hours rule covers the question and the customer's zone is in its quiet
window, the answer is computed by ``decide`` itself, uncached. Policies with
other ask-time kinds are not served here (``as_fast_decider`` gives ``None``).
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any, get_args

import pydantic_core
from pydantic import BaseModel, Field

from signalfold.policy.ask import QuietHoursParams, _zone, quiet_window
from signalfold.policy.decide import _DEFAULT_UNKNOWN, covers, decide, known_fields
from signalfold.policy.model import Policy, UnknownCustomerRules
from signalfold.schemas.decision import Channel, Purpose, SuppressionDecision
from signalfold.schemas.state import CustomerState, Flag, ProfileValue

__all__ = ["Answer", "DecisionInputs", "FastDecider", "as_fast_decider"]

CHANNELS: frozenset[str] = frozenset(get_args(Channel))
PURPOSES: frozenset[str] = frozenset(get_args(Purpose))
_SENTINEL = datetime.fromisoformat("0001-01-01T00:00:00+00:00")
_new = object.__new__
_set = object.__setattr__
_MAX_ENTRIES = 64  # per customer: questions naming products/categories are open-ended


class _Decidable(BaseModel):
    """The part of a published ``CustomerState`` a decision reads (parsed 2-3 times faster)."""

    customer_id: str
    version: int = 0
    flags: list[Flag] = Field(default_factory=list)
    profile: dict[str, ProfileValue] = Field(default_factory=dict)


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


class _Entry:
    """A cached decision, valid for ``lo <= now < hi`` (``None``: unbounded)."""

    __slots__ = ("head", "hi", "lo", "tail", "template")

    def __init__(
        self, template: SuppressionDecision, lo: datetime | None, hi: datetime | None
    ) -> None:
        # Unescaped quotes around the key: the marker cannot occur inside a string value.
        body = template.model_dump_json().encode()
        value = pydantic_core.to_json(template.evaluated_at)
        at = body.rindex(b'"evaluated_at":' + value) + len(b'"evaluated_at":')
        self.head, self.tail = body[:at], body[at + len(value) :]
        self.template, self.lo, self.hi = template, lo, hi


class DecisionInputs:
    """What one published state (one version) contributes to decisions; built once per version.

    ``source`` is the state, or its raw ``customer.state`` JSON, parsed whole
    only if quiet hours need the full state.
    """

    __slots__ = ("_entries", "_full", "customer_id", "flags", "profile", "version")

    def __init__(self, source: bytes | CustomerState) -> None:
        parsed: CustomerState | _Decidable = (
            source if isinstance(source, CustomerState) else _Decidable.model_validate_json(source)
        )
        self.customer_id = parsed.customer_id
        self.version = parsed.version
        self.flags = parsed.flags
        self.profile = parsed.profile
        self._full = source
        self._entries: dict[tuple[str, str, str | None, str | None], _Entry] = {}

    def full_state(self) -> CustomerState:
        """The whole published state these inputs came from (parsed on first need)."""
        if not isinstance(self._full, CustomerState):
            self._full = CustomerState.model_validate_json(self._full)
        return self._full


class FastDecider:
    """``decide`` with ``policy`` (and ``unknown``), answering from ``DecisionInputs``.

    Calling it like ``decide`` (with a ``CustomerState``) runs ``decide`` itself.
    """

    def __init__(self, policy: Policy | None = None, unknown: UnknownCustomerRules | None = None):
        self._fixed_unknown = unknown
        self._now: tuple[datetime, bytes] = (_SENTINEL, pydantic_core.to_json(_SENTINEL))
        self.reload(policy)

    def reload(self, policy: Policy | None) -> None:
        """Answer with ``policy`` from now on (a live edit of the policy file).

        Cached per-customer answers depend only on the state's flags, which the
        state workers re-evaluate themselves; what this replica evaluates at ask
        time — unknown-customer rules, quiet hours — is swapped here.
        """
        if policy is not None and any(r.kind != "quiet_hours" for r in policy.ask_rules()):
            raise ValueError("FastDecider serves quiet_hours as its only ask-time rule kind")
        self._quiet = [
            (rule, rule.params) for rule in (policy.ask_rules() if policy is not None else ())
        ]
        self.unknown = self._fixed_unknown or (
            policy.unknown_customer if policy else _DEFAULT_UNKNOWN
        )
        self.policy = policy
        self._unknown_entries: dict[tuple[str, str, str | None, str | None], _Entry] = {}

    def __call__(self, state: CustomerState | None, **question: Any) -> SuppressionDecision:
        return decide(state, unknown=self.unknown, policy=self.policy, **question)

    def answer(
        self,
        inputs: DecisionInputs | None,
        *,
        channel: str,
        purpose: str,
        now: datetime,
        product_id: str | None = None,
        category: str | None = None,
    ) -> Answer:
        """The decision for ``inputs`` (``None``: an unknown customer), as ``decide`` makes it."""
        if (
            type(channel) is not str
            or channel not in CHANNELS
            or type(purpose) is not str
            or purpose not in PURPOSES
            or (now is not self._now[0] and now.utcoffset() is None)
            or not (product_id is None or type(product_id) is str)
            or not (category is None or type(category) is str)
        ):  # what pydantic would refuse: let ``decide`` raise its own error
            return self._slow(inputs, channel, purpose, now, product_id, category)
        key = (channel, purpose, product_id, category)
        if inputs is None:
            entry = self._unknown_entries.get(key)
            if entry is None:
                template = decide(
                    None,
                    unknown=self.unknown,
                    now=_SENTINEL,
                    channel=channel,  # type: ignore[arg-type]
                    purpose=purpose,  # type: ignore[arg-type]
                    product_id=product_id,
                    category=category,
                )
                entry = self._unknown_entries[key] = _Entry(template, None, None)
            return self._answer(entry, now)
        if self._quiet and self._quiet_now(inputs, channel, purpose, now):
            return self._slow(inputs, channel, purpose, now, product_id, category)
        entry = inputs._entries.get(key)
        if (
            entry is None
            or (entry.lo is not None and now < entry.lo)
            or (entry.hi is not None and now >= entry.hi)
        ):
            entry = _build(inputs, channel, purpose, now, product_id, category)
            if len(inputs._entries) >= _MAX_ENTRIES:
                inputs._entries.clear()
            inputs._entries[key] = entry
        return self._answer(entry, now)

    def _answer(self, entry: _Entry, now: datetime) -> Answer:
        last, encoded = self._now
        if last is not now:
            encoded = pydantic_core.to_json(now)
            self._now = (now, encoded)
        return Answer(entry.template, entry.head + encoded + entry.tail, now)

    def _quiet_now(self, inputs: DecisionInputs, channel: str, purpose: str, now: datetime) -> bool:
        """Whether a quiet-hours rule covering the question holds the customer at ``now``."""
        for rule, params in self._quiet:
            if channel not in rule.channels or purpose not in rule.purposes:
                continue
            assert isinstance(params, QuietHoursParams)
            known = inputs.profile.get(params.profile_field)
            name = known.value if known is not None else params.default_timezone
            zone = _zone(name) if name else None
            if zone is not None and quiet_window(now, zone, params.start, params.end):
                return True
        return False

    def _slow(
        self,
        inputs: DecisionInputs | None,
        channel: str,
        purpose: str,
        now: datetime,
        product_id: str | None,
        category: str | None,
    ) -> Answer:
        state = inputs.full_state() if inputs is not None else None
        decision = decide(
            state,
            channel=channel,  # type: ignore[arg-type]
            purpose=purpose,  # type: ignore[arg-type]
            now=now,
            unknown=self.unknown,
            policy=self.policy,
            product_id=product_id,
            category=category,
        )
        return Answer(decision, decision.model_dump_json().encode(), decision.evaluated_at)


def _build(
    inputs: DecisionInputs,
    channel: str,
    purpose: str,
    now: datetime,
    product_id: str | None,
    category: str | None,
) -> _Entry:
    """The decision at ``now`` and the interval of ``now`` over which it holds."""
    lo: datetime | None = None
    hi: datetime | None = None
    live: list[Flag] = []
    for flag in inputs.flags:
        if not covers(flag, channel, purpose, product_id, category):
            continue
        until = flag.until
        if until is None or until > now:
            live.append(flag)
            if until is not None and (hi is None or until < hi):
                hi = until
        elif lo is None or until > lo:
            lo = until
    fields = known_fields(
        inputs.customer_id, inputs.version, live, channel, purpose, _SENTINEL, product_id, category
    )
    return _Entry(SuppressionDecision.model_validate(fields), lo, hi)


def as_fast_decider(decider: Any) -> FastDecider | None:
    """The ``FastDecider`` equivalent to ``decider``, or ``None`` when there is none.

    Recognised: a ``FastDecider``; ``decide`` itself; ``functools.partial(decide,
    policy=..., unknown=...)`` as ``signalfold serve`` used to build it.
    """
    if isinstance(decider, FastDecider):
        return decider
    try:
        if decider is decide:
            return FastDecider()
        if (
            isinstance(decider, functools.partial)
            and decider.func is decide
            and not decider.args
            and set(decider.keywords) <= {"policy", "unknown"}
        ):
            return FastDecider(**decider.keywords)
    except ValueError:  # an ask-time kind this path does not serve
        return None
    return None
