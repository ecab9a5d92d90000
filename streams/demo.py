"""Synthetic raw events for the demo and the tests, shaped like each source sends them.

A few hundred people appear in several sources with the variations real
systems produce: email case and stray spaces, local (``07911 100123``) versus
international (``+44 7911 100123``) phones, and "bridge" people known only by
phone in support and only by email in marketing until a sales record carries
both. Tickets open (some high priority) and close later, CSAT follows, orders
are placed and some returned as defective, a few people unsubscribe.

Deterministic: the same ``seed`` and ``start`` give the same bytes. With no
``start`` the events end near the current hour. Emails use reserved example
domains. Phones must pass validation to identify anyone (numbers in Ofcom's
drama range are rejected as placeholders, as they would be in production), so
the demo uses numbers from an allocated mobile range: synthetic, not people.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from signalfold.streams._demo_platform import PLATFORM_SOURCES, add_platform_events

__all__ = ["SOURCES", "RawEvent", "bad_demo_events", "generate_demo"]

SOURCES = ("marketing", "sales", "support", *PLATFORM_SOURCES)
_LONDON = ZoneInfo("Europe/London")
_WINDOW = timedelta(days=28)
_GIVEN = "Jane John Amira Oliver Priya Tom Chloe Mohammed Sofia Liam Grace Noah Ava Jack Zara"
_FAMILY = "Doe Smith Khan Jones Patel Brown Taylor Wilson Evans Thomas Roberts Walker Wright"
_DOMAINS = ("example.com", "example.org", "example.net", "mail.example")
_REPS = ("r.hughes", "s.okafor", "m.lindqvist")
_SKUS = (
    ("SKU-KETTLE", "Kitchen"),
    ("SKU-BOOTS", "Shoes"),
    ("SKU-LAMP", "Home"),
    ("SKU-HEAD", "Audio"),
)
_RETURNS = ("Defective", "Defective", "Changed mind", "Wrong item", "Damaged in transit")


@dataclass(frozen=True)
class RawEvent:
    """One message for ``signals.raw.<source>``: the Kafka key and the exact value bytes."""

    source: str
    key: str
    value: bytes


@dataclass
class _Person:
    index: int
    given: str
    family: str
    email: str
    phone_local: str
    crm_id: str
    support_id: int
    bridge: bool


class _Builder:
    """Accumulates events with per-source ids unique for the seed."""

    def __init__(self, rng: random.Random, seed: int, end: datetime) -> None:
        self.rng, self.seed, self.end = rng, seed, end
        self.events: list[tuple[datetime, int, RawEvent]] = []
        self.count = 0

    def when(self, after: datetime | None = None, within: timedelta = _WINDOW) -> datetime:
        low = after or self.end - _WINDOW
        span = min(within, self.end - low)
        return low + timedelta(seconds=self.rng.uniform(0, max(span.total_seconds(), 0)))

    def add(self, source: str, key: str, at: datetime, body: dict[str, Any]) -> None:
        self.count += 1
        value = json.dumps(body, separators=(",", ":")).encode()
        self.events.append((at, self.count, RawEvent(source, key, value)))

    def next_id(self, prefix: str) -> str:
        return f"{prefix}_{self.seed:x}{self.count + 1:07d}"


def _vary_email(email: str, rng: random.Random) -> str:
    local, domain = email.split("@")
    return rng.choice(
        [
            email,
            email,
            f"{local.title()}@{domain.title()}",
            email.upper(),
            f" {local.title()}@{domain} ",
            f"{email} ",
        ]
    )


def _people(count: int, rng: random.Random) -> list[_Person]:
    given, family = _GIVEN.split(), _FAMILY.split()
    out = []
    for i in range(count):
        g, f = rng.choice(given), rng.choice(family)
        out.append(
            _Person(
                index=i,
                given=g,
                family=f,
                email=f"{g}.{f}{i}@{rng.choice(_DOMAINS)}".lower(),
                phone_local=f"07911 {100000 + i:06d}",
                crm_id=f"003{rng.getrandbits(60):015X}"[:18],
                support_id=10_000 + i * 7,
                bridge=rng.random() < 0.12,
            )
        )
    return out


def _marketing(b: _Builder, p: _Person) -> None:
    rng, email = b.rng, p.email
    contact = {"first_name": p.given, "last_name": p.family, "locale": "en-GB"}
    for _ in range(rng.randint(1, 5)):
        sent = b.when()
        camp = {"id": f"cmp_{rng.randint(1, 12):02d}", "subject": "Autumn offers"}
        sku, category = rng.choice(_SKUS)
        base = {"email": _vary_email(email, rng), "campaign": camp, "contact": contact}
        msg = f"msg_{b.seed:x}{b.count:07d}"
        camp_sent = {**camp, "product_id": sku, "category": category}
        body = {**base, "campaign": camp_sent, "message_id": msg}
        b.add("marketing", email, sent, _esp(b, "email_sent", sent, body))
        if rng.random() < 0.5:
            opened = b.when(sent, timedelta(days=2))
            body = {**base, "message_id": msg}
            b.add("marketing", email, opened, _esp(b, "email_open", opened, body))
            if rng.random() < 0.35:
                clicked = b.when(opened, timedelta(hours=1))
                body = {**base, "url": f"https://shop.example/{sku.lower()}"}
                b.add("marketing", email, clicked, _esp(b, "email_click", clicked, body))
    if rng.random() < 0.2:
        at = b.when()
        form = {"id": "newsletter", "consent_email": True, "consent_sms": rng.random() < 0.4}
        body = {"email": _vary_email(email, rng), "form": form, "contact": contact}
        b.add("marketing", email, at, _esp(b, "form_submit", at, body))
    if rng.random() < 0.06:
        at = b.when(b.end - timedelta(days=7))
        body = {"email": _vary_email(email, rng), "list_id": "weekly", "channel": "email"}
        b.add("marketing", email, at, _esp(b, "unsubscribe", at, body))


def _esp(b: _Builder, event: str, at: datetime, body: dict[str, Any]) -> dict[str, Any]:
    ts = at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"id": b.next_id("evt"), "event": event, "ts": ts, **body}


def _sales(b: _Builder, p: _Person) -> None:
    rng = b.rng
    phone = "+44 " + p.phone_local[1:] if rng.random() < 0.7 else "+44" + p.phone_local[1:]
    phone = phone.replace(" ", "") if rng.random() < 0.3 else phone
    contact = {
        "id": p.crm_id,
        "email": _vary_email(p.email, rng),
        "phone": phone,
        "first_name": p.given,
        "last_name": p.family,
        "account": {"name": rng.choice(["Acme Trading Ltd", "Northwind", None])},
        "mailing_address": {"city": rng.choice(["Leeds", "London", "Bristol"]), "country": "GB"},
    }

    def add(obj: str, action: str, at: datetime, **extra: Any) -> None:
        body: dict[str, Any] = {
            "id": b.next_id("chg"),
            "object": obj,
            "action": action,
            "contact": contact,
        }
        body["occurredAt"] = int(at.timestamp() * 1000)
        b.add("sales", p.crm_id, at, {**body, **extra})

    if rng.random() < 0.5 or p.bridge:
        add("lead", "created", b.when(), lead={"id": f"00Q{p.index:06d}", "owner": _rep(rng)})
    if rng.random() < 0.3:
        at, opp = b.when(), f"006{p.index:06d}"
        for stage in ("Qualification", "Proposal", "Negotiation")[: rng.randint(1, 3)]:
            amount = rng.choice([1200, 5400, 18000])
            add("opportunity", "stage_changed", at, opportunity={
                "id": opp, "stage": stage, "owner": _rep(rng), "amount": amount, "is_closed": False
            })  # fmt: skip
            at = b.when(at, timedelta(days=5))
    for n in range(rng.randint(0 if not p.bridge else 1, 3)):
        placed = b.when()
        lines: list[dict[str, Any]] = [
            {"sku": sku, "category": cat, "qty": rng.randint(1, 2)}
            for sku, cat in rng.sample(_SKUS, rng.randint(1, 3))
        ]
        total = round(sum(line["qty"] * rng.choice([19.99, 49.5, 120.0]) for line in lines), 2)
        order = {"id": f"ORD-{p.index:05d}-{n}", "total": total, "currency": "gbp", "lines": lines}
        add("order", "placed", placed, order=order)
        if rng.random() < 0.2:
            returned = b.when(placed, timedelta(days=10))
            add(
                "order",
                "returned",
                returned,
                order=order,
                **{"return": {"reason": rng.choice(_RETURNS)}},
            )


def _rep(rng: random.Random) -> dict[str, str]:
    return {"alias": rng.choice(_REPS)}


def _support(b: _Builder, p: _Person) -> None:
    rng = b.rng
    requester: dict[str, Any] = {"id": p.support_id, "name": f"{p.given} {p.family}"}
    if p.bridge or rng.random() < 0.8:
        requester["phone"] = p.phone_local if rng.random() < 0.7 else p.phone_local.replace(" ", "")
    if not p.bridge and (rng.random() < 0.5 or "phone" not in requester):
        requester["email"] = _vary_email(p.email, rng)

    def add(kind: str, at: datetime, **extra: Any) -> None:
        created = at.astimezone(_LONDON).strftime("%d/%m/%Y %H:%M:%S")
        body = {"id": b.seed * 10_000_000 + b.count + 1, "type": kind, "created": created}
        b.add("support", str(p.support_id), at, {**body, "requester": requester, **extra})

    for n in range(rng.randint(1, 2)):
        opened = b.when()
        priority = rng.choices(["Low", "Normal", "High", "Urgent"], [3, 5, 2, 1])[0]
        ticket = {"id": p.support_id * 10 + n, "priority": priority, "subject": "Order help"}
        add("ticket_created", opened, ticket={**ticket, "status": "open"})
        if rng.random() < 0.3:
            opened = b.when(opened, timedelta(days=1))
            add("ticket_updated", opened, ticket={**ticket, "status": "pending"})
        if rng.random() < 0.7:
            solved = b.when(opened, timedelta(days=4))
            add("ticket_updated", solved, ticket={**ticket, "status": "solved"})
            if rng.random() < 0.6:
                rated = b.when(solved, timedelta(days=1))
                score = rng.choices([1, 2, 3, 4, 5], [2, 2, 2, 4, 6])[0]
                add(
                    "csat_submitted",
                    rated,
                    ticket={"id": ticket["id"]},
                    satisfaction={"score": score},
                )


def generate_demo(
    people: int = 300, seed: int = 7, start: datetime | None = None
) -> list[RawEvent]:
    """Raw events of ``people`` synthetic customers over four weeks ending near ``start``.

    Returned in event-time order, as the sources would have emitted them.
    """
    rng = random.Random(seed)
    end = start or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    builder = _Builder(rng, seed, end)
    persons = _people(people, rng)
    for person in persons:
        if person.bridge or rng.random() < 0.8:
            _marketing(builder, person)
        if person.bridge or rng.random() < 0.5:
            _sales(builder, person)
        if person.bridge or rng.random() < 0.45:
            _support(builder, person)
    add_platform_events(builder, persons, seed)
    return [event for _, _, event in sorted(builder.events, key=lambda e: (e[0], e[1]))]


def bad_demo_events(seed: int = 7) -> list[RawEvent]:
    """A handful of malformed events of each dead-letter kind (for the DLQ demo and tests).

    Oversized assumes the default limit (256 KiB); ``legacy_erp`` is a source with no
    contract (ingest subscribes to every raw topic, so it reaches the DLQ too).
    """
    rng = random.Random(seed)
    n = rng.randint(100, 999)
    ticket = {"id": n, "priority": "High", "status": "open"}
    ok = {"id": n, "type": "ticket_created", "created": "20/11/2026 10:00:00", "ticket": ticket}
    who = {"id": 4242, "phone": "07700 900999"}
    sale: dict[str, Any] = {
        "id": f"chg_bad{n}",
        "object": "order",
        "action": "returned",
        "occurredAt": 1763632800000,
    }
    sale |= {"contact": {"id": "003BAD"}, "order": {"id": "ORD-BAD"}}
    esp: dict[str, Any] = {
        "id": f"evt_bad{n}",
        "email": "bad@example.com",
        "ts": "2026-11-20T10:00:00Z",
    }
    esp |= {"event": "email_sent", "campaign": {"id": "cmp_01"}}

    def js(source: str, key: str, body: Any) -> RawEvent:
        return RawEvent(source, key, json.dumps(body).encode())

    return [
        RawEvent("support", "4242", b'{"id": 1, "type": "ticket_created", "requester": '),
        RawEvent("marketing", "bad@example.com", b"\xff\xfe\x00not json"),
        js("sales", "003BAD", [sale]),
        js("support", "4242", {**ok, "requester": {"phone": "07700 900999"}}),
        js("sales", "003BAD", {k: v for k, v in sale.items() if k != "occurredAt"}),
        js("support", "4242", {**ok, "requester": "Jane Doe"}),
        js("sales", "003BAD", {**sale, "occurredAt": "yesterday"}),
        js("support", "4242", {**ok, "type": "ticket_merged", "requester": who}),
        js("marketing", "bad@example.com", {**esp, "event": "email_bounce"}),
        js("marketing", "bad@example.com", {**esp, "html": "x" * (300 * 1024)}),
        js("support", "4242", {**ok, "requester": who, "ticket": {**ticket, "priority": "p1"}}),
        js(
            "support",
            "4242",
            {**ok, "type": "csat_submitted", "requester": who, "satisfaction": {"score": 9}},
        ),
        js("sales", "003BAD", {**sale, "return": {"reason": "lost in the post"}}),
        js("legacy_erp", "inv-1", {"id": "inv_1", "amount": 10}),
    ]
