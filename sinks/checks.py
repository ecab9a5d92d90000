"""The one answer path of a suppression check: question → customer → ``Decider`` → ``Answer``.

``Checks.answer`` answers one question (a ``DecisionQuery``, or anything with
its attributes); ``single`` and ``batch`` answer a caller's request, log it
under the caller's key name, and give the response body: the decision's JSON,
or the one batch encoding (``DecisionBatchResponse``, written directly: one
template per result around each decision's own JSON). The FastAPI routes,
the fast path in front of them (``_fast_http``) and local mode all call these,
so there is one way a check is answered.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import pydantic_core

from signalfold.policy import Answer, Decider, DecisionInputs
from signalfold.schemas import CustomerState, SuppressionDecision
from signalfold.schemas.state import Flag
from signalfold.sinks._resolve import BadIdentifier, customer_asked, question_key
from signalfold.sinks.decision_log import DecisionLog
from signalfold.sinks.view import ServingView

__all__ = ["Checks", "DecideFunction", "as_decider"]

DecideFunction = Callable[..., SuppressionDecision]
"""A stand-in for ``decide`` (tests): ``f(state, *, channel, purpose, now, ...)``."""


class _Calling(Decider):
    """A ``Decider`` whose every answer is ``decide_function``'s (nothing kept; tests' fakes)."""

    def __init__(self, decide_function: DecideFunction) -> None:
        super().__init__()
        self._function = decide_function

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
        state: CustomerState | None = inputs.full_state() if inputs is not None else None
        named = (("product_id", product_id), ("category", category), ("held", held))
        extra = {name: value for name, value in named if value is not None}
        return Answer.of(self._function(state, channel=channel, purpose=purpose, now=now, **extra))


def as_decider(decide: Decider | DecideFunction | None) -> Decider:
    """The ``Decider`` to answer with: given, a function wrapped, or the shipped policy's."""
    if decide is None:
        from signalfold.policy import load_policy

        return Decider(load_policy())
    return decide if isinstance(decide, Decider) else _Calling(decide)


class Checks:
    """Answers checks over one view with one decider; ``log`` ``None``: not logged."""

    def __init__(
        self,
        view: ServingView,
        decider: Decider,
        clock: Callable[[], datetime],
        region: str,
        log: DecisionLog | None,
        *,
        types: frozenset[str] | None = None,
        hash_key: Callable[[str], str] | None = None,
    ) -> None:
        self.view, self.decider, self.clock, self.region = view, decider, clock, region
        self.log, self.types = log, types
        # How the do-not-contact list names identifiers (the decision log's keyed hash).
        self.hash_key = hash_key or (log.hasher.key if log is not None else None)

    def answer(self, question: Any, now: datetime) -> Answer:
        """The decision for one question; ``BadIdentifier`` if it names nobody we can look for."""
        view = self.view
        customer_id = customer_asked(view, question, self.region, self.types)
        inputs = None if customer_id is None else view.inputs(customer_id)
        asked = {
            "channel": question.channel,
            "purpose": question.purpose,
            "now": now,
            "product_id": getattr(question, "product_id", None),
            "category": getattr(question, "category", None),
        }
        if view.holds_any and self.hash_key is not None:  # someone was erased
            held = self._held(question, inputs, self.hash_key)
            if held is not None:
                return self.decider.answer(inputs, held=held, **asked)
        return self.decider.answer(inputs, **asked)

    def _held(
        self, question: Any, inputs: DecisionInputs | None, hash_key: Callable[[str], str]
    ) -> Flag | None:
        """The do-not-contact hold on the identifier asked about, or on one the customer has.

        Per state version and list version, the customer's identifiers are hashed once.
        """
        view = self.view
        key = question_key(question, self.region)
        flag = view.held(hash_key(key)) if key is not None else None
        if flag is not None or inputs is None:
            return flag
        cached = ("do_not_contact", view.held_version)
        if cached not in inputs.cache:
            identities = inputs.full_state().identities
            found = (view.held(hash_key(f"{i.type}:{i.value}")) for i in identities)
            inputs.cache[cached] = next((f for f in found if f is not None), None)
        held: Flag | None = inputs.cache[cached]
        return held

    def single(self, surface: str, question: Any) -> bytes:
        """The decision's JSON, logged under ``surface``; ``BadIdentifier`` as ``answer``."""
        now = self.clock()
        answer = self.answer(question, now)
        self._record(surface, [(question, answer)], now)
        return answer.json

    def batch(
        self,
        surface: str,
        questions: Iterable[Any],
        logged: Callable[[Any], Any] | None = None,
    ) -> bytes:
        """``DecisionBatchResponse`` JSON: each question answered (or its error) in order.

        ``logged`` gives the request the log keeps for a question (default: itself).
        """
        now = self.clock()
        parts: list[bytes] = []
        answers: list[tuple[Any, Any]] = []
        counts: Counter[str] = Counter()
        kept = logged or (lambda question: question)
        for i, question in enumerate(questions):
            try:
                answer = self.answer(question, now)
            except BadIdentifier as exc:
                error = exc.error.model_dump_json().encode()
                parts.append(b'{"index":%d,"decision":null,"error":%b}' % (i, error))
                counts["error"] += 1
                continue
            parts.append(b'{"index":%d,"decision":%b,"error":null}' % (i, answer.json))
            answers.append((kept(question), answer))
            counts[answer.outcome] += 1
        self._record(surface, answers, now)
        return b'{"results":[%b],"counts":%b}' % (
            b",".join(parts),
            pydantic_core.to_json(dict(counts)),
        )

    def _record(self, surface: str, answers: list[tuple[Any, Any]], at: datetime) -> None:
        if self.log is not None and answers:
            self.log.record(surface, answers, at)
