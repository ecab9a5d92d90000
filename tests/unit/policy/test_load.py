"""Loading policies: the shipped defaults and errors that name file, rule and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from signalfold.errors import ConfigError
from signalfold.policy import load_policy

VALID_RULE = """
  - name: vip_ticket
    kind: open_ticket
    department: support
    severity: warning
    effect: defer
    channels: [email, sms]
    purposes: all
    reason: "Ticket {ticket_id} is {status}"
    for_days: 2
    params: {priorities: [urgent]}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_load():
    policy = load_policy()
    assert [r.name for r in policy.rules] == [
        "open_high_priority_ticket",
        "defective_return",
        "unsubscribed",
        "recent_complaint_or_poor_csat",
        "legal_do_not_contact",
        "payment_disputed",
        "late_stage_deal",
        "contact_fatigue",
        "quiet_hours",
        "needs_human_ai_escalated",
        "needs_human_open_complaint",
    ]
    assert policy.rules[0].params.priorities == ("high", "urgent")
    assert policy.rules[1].for_days == 30
    assert policy.unknown_customer.transactional == "allow"


def test_custom_rule_loads_with_all_and_params(tmp_path):
    policy = load_policy(
        write(tmp_path, "unknown_customer: {marketing: deny}\nrules:" + VALID_RULE)
    )
    [rule] = policy.rules
    assert rule.purposes == ("marketing", "sales", "service", "transactional")
    assert rule.channels == ("email", "sms") and rule.effect == "defer"
    assert policy.unknown_customer.marketing == "deny"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("kind: open_ticket", "kind: nope"),
            r"rule `vip_ticket`: field `kind`: unknown rule kind 'nope'; "
            r"known kinds: contact_fatigue, defective_return, open_deal, open_ticket, "
            r"quiet_hours, recent_signal, unsubscribed",
        ),
        (
            ("[email, sms]", "[email, fax]"),
            r"rule `vip_ticket`: field `channels.1`: Input should be 'email'",
        ),
        (
            ("is {status}", "is {colour}"),
            r"rule `vip_ticket`: field `reason`: "
            r"reason template uses unknown placeholder\(s\) \['colour'\]",
        ),
        (
            ("[urgent]}", "[urgent], typo: 1}"),
            r"rule `vip_ticket`: field `params`: "
            r"invalid params for kind 'open_ticket': typo: Extra inputs",
        ),
        (
            ("for_days: 2", "for_days: -1"),
            r"rule `vip_ticket`: field `for_days`: Input should be greater than 0",
        ),
        (("effect: defer", "effect: maybe"), r"rule `vip_ticket`: field `effect`"),
    ],
)
def test_errors_name_file_rule_and_field(tmp_path, change, message):
    path = write(tmp_path, "rules:" + VALID_RULE.replace(*change))
    with pytest.raises(ConfigError, match=message) as info:
        load_policy(path)
    assert str(info.value).startswith(f"policy `{path}`: ")


def test_missing_required_field_and_duplicate_names(tmp_path):
    path = write(tmp_path, "rules:" + VALID_RULE + VALID_RULE.replace("    reason:", "    #"))
    with pytest.raises(ConfigError, match=r"rule `vip_ticket`: field `reason`: Field required"):
        load_policy(path)
    path = write(tmp_path, "rules:" + VALID_RULE + VALID_RULE)
    with pytest.raises(
        ConfigError, match=r"field `rules`: rule names must be unique; repeated: \['vip_ticket'\]"
    ):
        load_policy(path)


def test_unreadable_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_policy(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_policy(write(tmp_path, "rules: [\n"))
    with pytest.raises(ConfigError, match="expected a mapping with `rules:`"):
        load_policy(write(tmp_path, "- just a list\n"))
