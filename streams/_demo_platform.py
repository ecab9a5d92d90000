"""Demo events of the sources platform teams added by contract only: billing,
product usage and the AI assistant's feedback (see ``streams/demo.py``).

They use their own random stream, so adding them left the marketing, sales and
support events of a seed unchanged. A few people dispute a payment or have a
conversation escalated, which the suppression policy cares about.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from signalfold.streams.demo import _Builder, _Person

__all__ = ["PLATFORM_SOURCES", "add_platform_events"]

PLATFORM_SOURCES = ("billing", "product_usage", "ai_feedback")
_LONDON = ZoneInfo("Europe/London")
_FEATURES = ("Export", "Saved Search", "Wishlist", "Order Tracking")
_FAILURES = ("card_declined", "insufficient_funds", "expired_card")


def _billing(b: _Builder, p: _Person, rng: random.Random) -> None:
    customer = f"cus_{b.seed:x}{p.index:06d}"
    name = f"{p.given} {p.family}"
    obj: dict[str, Any] = {"customer": customer, "customer_email": p.email, "customer_name": name}
    obj["customer_address"] = {"country": "gb"}

    def add(kind: str, at: datetime, **fields: Any) -> None:
        body = {"id": b.next_id("evt"), "type": kind, "created": int(at.timestamp())}
        b.add("billing", customer, at, {**body, "data": {"object": {**obj, **fields}}})

    for n in range(rng.randint(1, 3)):
        at, invoice, amount = b.when(), f"in_{p.index:05d}{n}", rng.choice([900, 4900, 12900])
        if rng.random() < 0.15:
            code = rng.choice(_FAILURES)
            add("invoice.payment_failed", at, id=invoice, amount=amount, failure_code=code)
            at = b.when(at, timedelta(days=2))
        add("invoice.paid", at, id=invoice, amount=amount, currency="gbp", status="paid")
        if rng.random() < 0.08:
            refunded = b.when(at, timedelta(days=5))
            add("charge.refunded", refunded, id=f"ch_{invoice}", invoice=invoice,
                amount_refunded=amount, reason="requested_by_customer")  # fmt: skip
        elif rng.random() < 0.05:
            disputed = b.when(at, timedelta(days=5))
            add("charge.dispute.created", disputed, id=f"dp_{invoice}", invoice=invoice,
                amount=amount, reason="Fraudulent")  # fmt: skip
            if rng.random() < 0.5:  # half are settled; the rest keep their hold
                closed = b.when(disputed, timedelta(days=10))
                add("charge.dispute.closed", closed, id=f"dp_{invoice}", status="won")


def _product(b: _Builder, p: _Person, rng: random.Random) -> None:
    user = f"u_{b.seed:x}{p.index:06d}"
    context: dict[str, Any] = {"traits": {"email": p.email}, "device": {"type": "ios"}}
    context["locale"] = "en-GB"

    def add(event: str, at: datetime, **props: Any) -> None:
        ts = at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        body = {"messageId": b.next_id("m"), "event": event, "timestamp": ts, "userId": user}
        b.add("product_usage", user, at, {**body, "context": context, "properties": props})

    for _ in range(rng.randint(1, 4)):
        at = b.when()
        add("Signed In", at, method=rng.choice(["password", "SSO", "magic_link"]))
        if rng.random() < 0.6:
            used = b.when(at, timedelta(hours=1))
            add("Feature Used", used, feature=rng.choice(_FEATURES), plan="pro", count=1)


def _ai(b: _Builder, p: _Person, rng: random.Random) -> None:
    user: dict[str, Any] = {"id": f"chat_{b.seed:x}{p.index:06d}", "email": p.email}
    if rng.random() < 0.5:
        user["phone"] = p.phone_local

    def add(kind: str, at: datetime, conversation: str, **details: Any) -> None:
        local = at.astimezone(_LONDON).strftime("%Y-%m-%d %H:%M:%S")
        body = {"event_id": b.next_id("aif"), "kind": kind, "at": local, "user": user}
        body["conversation"] = {"id": conversation, "channel": "web_chat"}
        b.add("ai_feedback", user["id"], at, {**body, "details": details})

    at, conv = b.when(), f"conv_{p.index:05d}"
    confidence = round(rng.uniform(0.1, 0.45), 2)
    add("low_confidence", at, conv, confidence=confidence, topic=rng.choice(["Refund", "Delivery"]))
    if rng.random() < 0.3:
        add("escalated", b.when(at, timedelta(minutes=30)), conv, reason="Asked for a human")


def add_platform_events(b: _Builder, people: list[_Person], seed: int) -> None:
    """Add billing, product-usage and AI-feedback events for some of ``people``."""
    rng = random.Random(seed * 7919 + 1)
    for person in people:
        if person.bridge or rng.random() < 0.35:
            _billing(b, person, rng)
        if person.bridge or rng.random() < 0.4:
            _product(b, person, rng)
        if person.bridge or rng.random() < 0.12:
            _ai(b, person, rng)
