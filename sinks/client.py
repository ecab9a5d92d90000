"""``SignalfoldClient``: what a bot calls before it speaks.

    client = SignalfoldClient("http://signalfold:8080", api_key="sf_...")
    decision = client.check(email="jane@example.com", channel="email", purpose="marketing")
    if not decision.allowed:
        print([r.text for r in decision.reasons])
    decisions = client.check_many([{"email": e, "channel": "email", "purpose": "marketing"}
                                   for e in send_list])

Timeouts and retries (connection errors, 429 and 5xx, with backoff) are built
in. When the service cannot be reached, the client does not guess: for the
purposes in ``on_unreachable`` it answers a synthetic decision (default: deny
marketing and sales — fail closed), for the others it raises
``ServiceUnreachable``. 401/403/422 are the caller's mistakes and always raise.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel

from signalfold.schemas import SuppressionDecision
from signalfold.sinks.errors import SinkError
from signalfold.sinks.models import MAX_BATCH_CHECKS

__all__ = ["CheckRejected", "ServiceUnreachable", "SignalfoldClient", "unreachable_decision"]

Fallback = Literal["allow", "deny"]
DEFAULT_ON_UNREACHABLE: dict[str, Fallback] = {"marketing": "deny", "sales": "deny"}
_RETRY_STATUS = frozenset({429, 502, 503, 504})


class _BatchResult(BaseModel):
    """One entry of ``DecisionBatchResponse.results``, as the client reads it."""

    index: int
    decision: SuppressionDecision | None = None
    error: dict[str, Any] | None = None


class _BatchBody(BaseModel):
    results: list[_BatchResult]


class ServiceUnreachable(SinkError):
    """signalfold did not answer after every retry, and no fallback covers the purpose."""


class CheckRejected(SinkError):
    """signalfold refused the question (bad key, missing scope, invalid identifier)."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"signalfold answered {status}: {body}")
        self.status = status
        self.body = body


def unreachable_decision(
    channel: str, purpose: str, outcome: Fallback, now: datetime, why: str
) -> SuppressionDecision:
    """The decision the client gives on its own when the service cannot answer."""
    reasons = []
    if outcome == "deny":
        reasons.append(
            {
                "rule": "service_unreachable",
                "department": "platform",
                "effect": "deny",
                "text": f"signalfold could not be reached ({why}); failing closed for {purpose}",
                "source": "signalfold-client",
                "source_event_id": "",
                "signal_id": "",
                "since": now,
            }
        )
    return SuppressionDecision.model_validate(
        {
            "outcome": outcome,
            "allowed": outcome == "allow",
            "channel": channel,
            "purpose": purpose,
            "reasons": reasons,
            "customer_id": None,
            "state_version": None,
            "known": False,
            "unknown_rule": f"client.unreachable.{purpose}",
            "evaluated_at": now,
        }
    )


class SignalfoldClient:
    """A small synchronous client of the decision API; thread-safe like ``httpx.Client``.

    ``transport`` replaces the network (tests pass ``httpx.MockTransport`` or an
    ASGI app transport); ``sleep`` and ``clock`` are injectable for the same reason.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 2.0,
        retries: int = 2,
        backoff: float = 0.1,
        on_unreachable: Mapping[str, Fallback] = DEFAULT_ON_UNREACHABLE,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        headers = {"X-API-Key": api_key} if api_key else {}
        self._http = httpx.Client(
            base_url=base_url, headers=headers, timeout=timeout, transport=transport
        )
        self._retries = retries
        self._backoff = backoff
        self._on_unreachable = dict(on_unreachable)
        self._sleep = sleep
        self._clock = clock

    def check(self, *, channel: str, purpose: str, **identifier: str | None) -> SuppressionDecision:
        """One decision: give ``email``, ``phone``, ``customer_id`` or ``type``+``value``,
        and optionally ``product_id`` / ``category``."""
        params = {k: v for k, v in identifier.items() if v is not None}
        params |= {"channel": channel, "purpose": purpose}
        try:
            response = self._response("GET", "/v1/suppression/check", params=params)
        except ServiceUnreachable as exc:
            return self._fallback(channel, purpose, exc)
        return SuppressionDecision.model_validate_json(response.content)

    def check_many(self, checks: Iterable[Mapping[str, Any]]) -> list[SuppressionDecision]:
        """Decisions for a send list, in order (split into calls of 10,000).

        An item the service could not answer (an invalid identifier) raises
        ``CheckRejected`` naming its index: fix the list rather than guess.
        """
        items = [dict(c) for c in checks]
        out: list[SuppressionDecision] = []
        for start in range(0, len(items), MAX_BATCH_CHECKS):
            chunk = items[start : start + MAX_BATCH_CHECKS]
            try:
                response = self._response("POST", "/v1/suppression/check", json={"checks": chunk})
            except ServiceUnreachable as exc:
                out.extend(self._fallback(c["channel"], c["purpose"], exc) for c in chunk)
                continue
            # One native parse of the whole body: a third less CPU than json + 10,000 validations.
            for result in _BatchBody.model_validate_json(response.content).results:
                if result.error is not None:
                    raise CheckRejected(422, {"index": start + result.index, **result.error})
                # neither decision nor error: a ValidationError, as ever
                out.append(result.decision or SuppressionDecision.model_validate(None))
        return out

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SignalfoldClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, method: str, url: str, **kwargs: Any) -> Any:
        """The parsed JSON body of a successful call (see ``_response``)."""
        return self._response(method, url, **kwargs).json()

    def _response(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        why = "no attempt"
        for attempt in range(self._retries + 1):
            if attempt:
                self._sleep(self._backoff * 2 ** (attempt - 1))
            try:
                response = self._http.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                why = type(exc).__name__
                continue
            if response.status_code in _RETRY_STATUS or response.status_code >= 500:
                why = f"HTTP {response.status_code}"
                continue
            if response.status_code >= 400:
                raise CheckRejected(response.status_code, _body(response))
            return response
        raise ServiceUnreachable(
            f"signalfold at {self._http.base_url} did not answer {method} {url} after "
            f"{self._retries + 1} attempts ({why}); check that `signalfold serve` runs"
        )

    def _fallback(self, channel: str, purpose: str, exc: ServiceUnreachable) -> SuppressionDecision:
        outcome = self._on_unreachable.get(purpose)
        if outcome is None:
            raise exc
        return unreachable_decision(channel, purpose, outcome, self._clock(), str(exc))


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text
