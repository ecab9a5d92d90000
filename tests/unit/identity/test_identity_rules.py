"""Merge protection rules: blocklist and limits."""

from __future__ import annotations

import pytest

from signalfold.identity import MatchRules


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("email:info@acme.com", "blocked: role mailbox info@"),
        ("email:no-reply@shop.example", "blocked: role mailbox no-reply@"),
        ("email:noreply+eu@shop.example", "blocked: role mailbox noreply@"),
        ("email:sales@acme.com", "blocked: role mailbox sales@"),
        ("email:test@example.com", "blocked: listed value"),
        ("phone:+447777777777", "blocked: matches pattern #0"),
        ("phone:+440000000000", "blocked: matches pattern #0"),
        ("phone:+4400000000", "blocked: matches pattern #0"),
    ],
)
def test_default_blocklist(key: str, reason: str) -> None:
    found = MatchRules().is_blocked(key)
    assert found is not None and found.startswith(reason)


@pytest.mark.parametrize(
    "key",
    [
        "email:jane@acme.com",
        "email:information@acme.com",
        "phone:+447911123456",
        "crm_contact_id:1",
    ],
)
def test_ordinary_keys_are_not_blocked(key: str) -> None:
    assert MatchRules().is_blocked(key) is None


def test_custom_rules() -> None:
    rules = MatchRules(
        limits={"email": 2},
        default_limit=None,
        blocked_keys=frozenset({"phone:+441134960000"}),
        blocked_email_locals=frozenset({"hello"}),
        blocked_patterns=(r"^email:.*@mailinator\.com$",),
    )
    assert rules.limit_for("email") == 2
    assert rules.limit_for("crm_contact_id") is None
    assert rules.is_blocked("email:info@acme.com") is None
    assert rules.is_blocked("email:hello@acme.com") == "blocked: role mailbox hello@"
    assert rules.is_blocked("email:x@mailinator.com") is not None
    assert rules.is_blocked("phone:+441134960000") == "blocked: listed value"


def test_default_limits() -> None:
    rules = MatchRules()
    assert [
        rules.limit_for(t) for t in ("crm_contact_id", "support_user_id", "email", "phone")
    ] == [1, 3, 5, 5]
    assert rules == MatchRules() and hash(rules) == hash(MatchRules())
