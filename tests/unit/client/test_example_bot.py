"""The example marketing bot: reads a send list, prints who it skips and why."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from pathlib import Path

from signalfold.schemas import SuppressionDecision

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def _bot():
    spec = importlib.util.spec_from_file_location(
        "marketing_bot", ROOT / "examples/marketing_bot.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_send_list_lines_become_mixed_identifiers():
    people = _bot().recipients(ROOT / "examples/send_list.csv")
    assert people == [
        {"email": "jane.doe@example.com"},
        {"phone": "+44 7911 123456"},
        {"type": "crm_contact_id", "value": "003A"},
        {"email": "someone.new@example.com"},
    ]


def test_report_prints_skips_with_reasons(capsys):
    deny = SuppressionDecision.model_validate(
        {
            "outcome": "deny",
            "allowed": False,
            "channel": "email",
            "purpose": "marketing",
            "reasons": [
                {
                    "rule": "open_high_priority_ticket",
                    "department": "support",
                    "effect": "deny",
                    "text": "Open high-priority ticket 9001",
                    "source": "support",
                    "source_event_id": "zd-1",
                    "signal_id": "sig_x",
                    "since": NOW,
                }
            ],
            "customer_id": "c1",
            "state_version": 2,
            "known": True,
            "evaluated_at": NOW,
        }
    )
    allow = deny.model_copy(update={"outcome": "allow", "allowed": True, "reasons": []})
    sent = _bot().report([{"email": "a@x.com"}, {"email": "b@x.com"}], [deny, allow])
    out = capsys.readouterr()
    assert sent == 1
    assert "skip a@x.com: deny" in out.out
    assert "[support/open_high_priority_ticket] Open high-priority ticket 9001" in out.out
    assert "from support event zd-1" in out.out
    assert "1 of 2 recipients" in out.err
