"""Merge protection rules: blocklist and limits."""

from __future__ import annotations

import pytest

from signalfold.identity import MatchRules, fold_name
from signalfold.identity.fingerprint import given_compatible, mailbox_shows_name
from signalfold.identity.rules import RulesFileError


@pytest.mark.parametrize(
    ("key", "entry"),
    [
        ("email:info@acme.com", "info"),
        ("email:no-reply@shop.example", "no-reply"),
        ("email:noreply+eu@shop.example", "noreply"),
        ("email:sales@acme.com", "sales"),
    ],
)
def test_default_role_mailboxes(key: str, entry: str) -> None:
    assert MatchRules().role_mailbox(key) == entry
    assert MatchRules().is_blocked(key) is None  # kept, as an organisation value


@pytest.mark.parametrize(
    ("key", "reason"),
    [
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
        role_mailboxes=frozenset({"hello", "team-*"}),
        blocked_patterns=(r"^email:.*@mailinator\.com$",),
    )
    assert rules.limit_for("email") == 2
    assert rules.limit_for("crm_contact_id") is None
    assert rules.role_mailbox("email:info@acme.com") is None
    assert rules.role_mailbox("email:hello@acme.com") == "hello"
    assert rules.role_mailbox("email:team-uk@acme.com") == "team-*"
    assert rules.role_mailbox("email:teamuk@acme.com") is None
    assert rules.is_blocked("email:x@mailinator.com") is not None
    assert rules.is_blocked("phone:+441134960000") == "blocked: listed value"


def test_default_limits() -> None:
    rules = MatchRules()
    assert [
        rules.limit_for(t) for t in ("crm_contact_id", "support_user_id", "email", "phone")
    ] == [1, 3, 5, 5]
    assert rules == MatchRules() and hash(rules) == hash(MatchRules())


def test_rules_from_a_file_and_its_errors() -> None:
    rules = MatchRules.from_mapping(
        {
            "role_mailboxes": ["Accounts", "front*"],
            "limits": {"crm_contact_id": 1},
            "max_people": 2,
        },
        file="identity.yaml",
    )
    assert rules.role_mailbox("email:frontdesk@acme.com") == "front*"
    assert rules.role_mailbox("email:accounts@acme.com") == "accounts"
    assert rules.limit_for("crm_contact_id") == 1 and rules.max_people == 2
    with pytest.raises(
        RulesFileError, match=r"identity.yaml: expected only .* found \['role_mailbox'\]"
    ):
        MatchRules.from_mapping({"role_mailbox": []}, file="identity.yaml")
    with pytest.raises(RulesFileError, match="`limits` expected identifier type"):
        MatchRules.from_mapping({"limits": {"email": 0}}, file="identity.yaml")
    with pytest.raises(RulesFileError, match="`blocked_patterns` expected regexes"):
        MatchRules.from_mapping({"blocked_patterns": ["("]}, file="identity.yaml")


@pytest.mark.parametrize(
    ("local", "name", "shows"),
    [
        ("john.smith", "john smith", True),
        ("jsmith", "john smith", True),
        ("smithj", "john smith", True),
        ("j.s", "john smith", True),
        ("bob", "robert lee", True),
        ("xyz", "jon smith", False),
        ("katherine", "katharine wood", True),
        ("studio", "ann lee", False),
        ("ops-north", "ann lee", False),
        ("u48213", "ann lee", False),
        ("dispatch", "patrick ashworth", False),
    ],
)
def test_a_mailbox_shows_a_name_when_its_local_part_carries_one(
    local: str, name: str, shows: bool
) -> None:
    assert mailbox_shows_name(local, name) is shows


def test_personal_mail_domains_come_from_the_rules_file() -> None:
    rules = MatchRules.from_mapping({"personal_mail_domains": ["mail.example"]}, file="r.yaml")
    assert rules.personal_domain("mail.example")
    assert not rules.personal_domain("gmail.com")
    assert MatchRules().personal_domain("gmail.com")


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("Debbie", "Deborah", True),
        ("Becky", "Rebecca", True),
        ("Vicky", "Victoria", True),
        ("Geoff", "Geoffrey", True),
        ("Rich", "Richard", True),
        ("Chris", "Tina", False),
        ("Ray", "Rachel", False),
        ("Mark", "Mary", False),
    ],
)
def test_common_nicknames_are_one_given_name(a: str, b: str, same: bool) -> None:
    assert given_compatible(fold_name(a), fold_name(b)) is same
