"""Billing, product usage and AI feedback, added by contract only, reach the unified
customer and the suppression policy; a dry run reports what a source would change."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from raw_events import RawFeed, support
from sources_cli import run_cli
from topic_view import TopicView

from signalfold.local import LocalPipeline
from signalfold.settings import Settings

AT = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
EMAIL = "amira.khan@example.org"


def billing(event_id: str, kind: str, customer: str, email: str, **obj: object) -> dict:
    data = {"customer": customer, "customer_email": email, "customer_name": "Amira Khan", **obj}
    return {"id": event_id, "type": kind, "created": int(AT.timestamp()), "data": {"object": data}}


def product(event_id: str, event: str, **props: object) -> dict:
    ts = AT.isoformat().replace("+00:00", "Z")
    context = {"traits": {"email": EMAIL.upper()}, "device": {"type": "iOS"}}
    body = {"messageId": event_id, "event": event, "timestamp": ts, "userId": "u_42"}
    return {**body, "context": context, "properties": props}


def ai(event_id: str, kind: str, **details: object) -> dict:
    local = AT.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    user = {"id": "chat_42", "email": f" {EMAIL} "}
    conv = {"id": "conv_9", "channel": "web_chat"}
    body = {"event_id": event_id, "kind": kind, "at": local, "user": user, "conversation": conv}
    return {**body, "details": details}


def _state_of(view: TopicView, topic: str, sources: set[str]) -> dict | None:
    for value in view.latest[topic].values():
        state = json.loads(value) if value else None
        if state and sources <= {i["source"] for i in state["identities"]}:
            return state
    return None


def test_three_new_sources_reach_one_customer_and_raise_suppression_flags(
    settings: Settings,
) -> None:
    feed = RawFeed(settings)
    with LocalPipeline(settings) as pipeline:
        view = TopicView(settings, feed.topics.customer_state)
        try:
            who = {"id": 4242, "email": EMAIL, "name": "Amira Khan"}
            ticket = {"id": 77, "priority": "Low", "status": "open"}
            feed.send("support", "4242", support("s1", "ticket_created", who, ticket, AT))
            paid = billing("evt_1", "invoice.paid", "cus_42", EMAIL, id="in_1", amount=4900)
            feed.send("billing", "cus_42", paid)
            feed.send("billing", "cus_42", billing("evt_2", "charge.dispute.created", "cus_42",
                                                   EMAIL, id="dp_1", invoice="in_1"))  # fmt: skip
            feed.send("product_usage", "u_42", product("m1", "Signed In", method="SSO"))
            feed.send("product_usage", "u_42", product("m2", "Feature Used", feature=" Export "))
            feed.send("ai_feedback", "chat_42", ai("a1", "low_confidence", confidence=0.2))
            feed.send("ai_feedback", "chat_42", ai("a2", "escalated", reason="wants a human"))
            feed.flush()
            sources = {"support", "billing", "product_usage", "ai_feedback"}
            state = view.wait_for(
                lambda v: (
                    (s := _state_of(v, feed.topics.customer_state, sources))
                    and len({f["rule"] for f in s["flags"]}) >= 2
                    and s
                ),
                timeout=60,
                what="one customer with all four sources and two flags",
            )
            rules = {f["rule"] for f in state["flags"]}
            assert {"payment_disputed", "needs_human_ai_escalated"} <= rules
            types = {e["type"] for e in state["timeline"]}
            assert {
                "billing.invoice.paid",
                "billing.payment.disputed",
                "product.user.signed_in",
                "product.feature.used",
                "ai.answer.low_confidence",
                "ai.conversation.escalated",
            } <= types
            assert not pipeline.errors
        finally:
            view.close()


def test_dry_run_reports_new_customers_matches_and_flags_without_publishing(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    feed = RawFeed(settings)
    with LocalPipeline(settings) as pipeline:
        view = TopicView(settings, feed.topics.customer_state)
        try:
            who = {"id": 4242, "email": EMAIL, "name": "Amira Khan"}
            ticket = {"id": 77, "priority": "Low", "status": "open"}
            feed.send("support", "4242", support("s1", "ticket_created", who, ticket, AT))
            feed.flush()
            view.wait_for(lambda v: _state_of(v, feed.topics.customer_state, {"support"}))
        finally:
            view.close()
        pipeline.stop_stage("ingest")
    # Billing events wait on the topic; no worker maps them.
    feed.send("billing", "cus_42", billing("evt_2", "charge.dispute.created", "cus_42", EMAIL,
                                           id="dp_1", invoice="in_1"))  # fmt: skip
    feed.send("billing", "cus_7", billing("evt_3", "invoice.paid", "cus_7", "new@example.net",
                                          id="in_7", amount=900))  # fmt: skip
    feed.send("billing", "cus_7", b"{not json")
    feed.flush()
    canonical = TopicView(settings, feed.topics.canonical)
    try:
        before = canonical.wait_for(lambda v: v.count(feed.topics.canonical), what="signals")
        code, out = run_cli(
            monkeypatch, capsys, settings, "sources", "dry-run",
            "signalfold/defaults/contracts/billing.yaml", "--from-topic",
        )  # fmt: skip
        assert code == 0, out
        assert "3 event(s) read, 2 mapped, 1 would dead-letter" in out
        assert "new customers: 1" in out and "existing customers reached: 1" in out
        assert "payment_disputed: 1 customer(s)" in out
        assert canonical.count(feed.topics.canonical) == before
    finally:
        canonical.close()
