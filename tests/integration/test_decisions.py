"""Decisions end to end on the real broker: pipeline → serve → client, log, local mode, reload."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from raw_events import RawFeed, support

from signalfold.bootstrap import serve_handle
from signalfold.local import LocalPipeline
from signalfold.policy.model import DEFAULT_POLICY_PATH
from signalfold.settings import Settings
from signalfold.sinks.auth import hash_key
from signalfold.sinks.client import CheckRejected, SignalfoldClient
from signalfold.sinks.local import LocalDecisions

pytestmark = pytest.mark.integration
T = TypeVar("T")
BOT_KEY, SUPPORT_KEY = "sf_test_bot_key", "sf_test_support_key"


def wait_for(probe: Callable[[], T | None], what: str, timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = probe()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"waited {timeout:.0f}s for {what}")


def _settings(settings: Settings, tmp_path: Path) -> Settings:
    policy = tmp_path / "policy.yaml"
    policy.write_text(DEFAULT_POLICY_PATH.read_text())
    keys = tmp_path / "keys.yaml"
    keys.write_text(
        "keys:\n"
        f"  - {{name: newsletter-bot, role: marketing_bot, hash: {hash_key(BOT_KEY)}}}\n"
        f"  - {{name: helpdesk, role: support_tool, hash: {hash_key(SUPPORT_KEY)}}}\n"
    )
    return settings.model_copy(update={"policy_file": policy, "api_keys_file": keys})


def test_ticket_to_decision_log_local_mode_and_policy_reload(
    settings: Settings, tmp_path: Path
) -> None:
    settings = _settings(settings, tmp_path)
    now = datetime.now(UTC).replace(microsecond=0)
    with LocalPipeline(settings) as pipeline:
        feed = RawFeed(settings)
        feed.send(
            "support",
            "701",
            support(
                "zd-1",
                "ticket_created",
                {"id": 701, "email": "jane@example.com", "phone": "07911 123456"},
                {"id": 9001, "priority": "High", "status": "open"},
                now.astimezone(UTC).replace(tzinfo=None) - timedelta(hours=2),
            ),
        )
        feed.flush()
        serve_settings = settings.model_copy(update={"api_port": 0})
        with (
            serve_handle(serve_settings) as serve,
            SignalfoldClient(serve.url, api_key=BOT_KEY, retries=0) as bot,
            SignalfoldClient(serve.url, api_key=SUPPORT_KEY) as helpdesk,
        ):

            def denied():
                d = bot.check(email=" Jane@Example.com", channel="email", purpose="marketing")
                return d if d.outcome == "deny" else None

            decision = wait_for(denied, "the open ticket to deny marketing")
            [reason] = decision.reasons
            assert (reason.rule, reason.department) == ("open_high_priority_ticket", "support")
            assert (reason.source, reason.source_event_id) == ("support", "zd-1")
            assert decision.customer_id and decision.state_version

            mixed = bot.check_many(
                [
                    {"email": "jane@example.com", "channel": "sms", "purpose": "sales"},
                    {"phone": "07911 123456", "channel": "sms", "purpose": "service"},
                    {"email": "nobody@example.com", "channel": "email", "purpose": "marketing"},
                    {
                        "type": "support_user_id",
                        "value": "701",
                        "channel": "push",
                        "purpose": "marketing",
                    },
                ]
            )
            assert [d.outcome for d in mixed] == ["deny", "allow", "allow", "deny"]
            assert mixed[2].known is False and mixed[2].unknown_rule == "unknown_customer.marketing"

            # The log: who was told what. The bot may not read it; the helpdesk may.
            with pytest.raises(CheckRejected) as refused:
                bot._send("GET", "/v1/decisions/log")
            assert refused.value.status == 403
            log = helpdesk._send(
                "GET", "/v1/decisions/log", params={"customer_id": decision.customer_id}
            )
            surfaces = {item["surface"] for item in log["items"]}
            assert surfaces == {"newsletter-bot"}
            assert len(log["items"]) >= 3
            assert log["items"][0]["decision"]["reasons"][0]["source_event_id"] == "zd-1"
            explained = helpdesk._send(
                "GET",
                "/v1/suppression/explain",
                params={"email": "jane@example.com", "channel": "ai_agent", "purpose": "service"},
            )
            assert explained["decision"]["outcome"] == "allow"
            assert [f["rule"] for f in explained["flags"]] == ["open_high_priority_ticket"]

            # Local mode answers the same from the bot's own process.
            with LocalDecisions(settings) as local:
                assert local.wait_caught_up(30)
                same = wait_for(
                    lambda: (
                        local.check(
                            email="jane@example.com", channel="email", purpose="marketing"
                        ).outcome
                        == "deny"
                    ),
                    "local mode to see the ticket",
                )
                assert same
                # A typo in the identifier type is an error there too, never an allow.
                with pytest.raises(ValueError, match="not an identifier type of any source"):
                    local.check(type="nonsense_id", value="x", channel="email", purpose="marketing")

            # A platform team edits the policy: the worker re-evaluates existing customers.
            policy = settings.policy_file
            assert policy is not None
            text = policy.read_text().replace("priorities: [high, urgent]", "priorities: [urgent]")
            policy.write_text(text)

            def allowed():
                d = bot.check(email="jane@example.com", channel="email", purpose="marketing")
                return d.outcome == "allow"

            assert wait_for(allowed, "the reloaded policy to lift the high-priority hold")
    assert not pipeline.errors
