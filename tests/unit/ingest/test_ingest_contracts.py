"""Loading source contracts: the shipped ones load; broken ones name file, line and field."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from ingest_helpers import MAX, NOW, contract_file

from signalfold.errors import ConfigError
from signalfold.schemas.contract import (
    load_contract,
    load_contracts,
    parse_path,
    register_declared_types,
)
from signalfold.schemas.payloads import payload_model_for
from signalfold.streams.ingest import map_event


def test_shipped_contracts_load_with_default_topics() -> None:
    contracts = load_contracts()
    assert set(contracts) == {
        "marketing",
        "sales",
        "support",
        "billing",
        "product_usage",
        "ai_feedback",
    }
    assert contracts["support"].topic == "signals.raw.support"
    assert contracts["support"].default_region == "GB"
    assert contracts["sales"].occurred_at.format == "epoch_ms"


def test_parse_path_splits_keys_and_indexes() -> None:
    assert parse_path("order.lines[0].sku") == ("order", "lines", 0, "sku")
    assert parse_path("a[1][2]") == ("a", 1, 2)
    with pytest.raises(ValueError, match=r"segment ''"):
        parse_path("a..b")


def _break(tmp_path: Path, old: str, new: str) -> Path:
    path = contract_file(tmp_path)
    path.write_text(path.read_text().replace(old, new), encoding="utf-8")
    return path


BROKEN = [
    (
        "version: 1\n",
        "",
        r"field `version`: expected a value \(this field is required\), found nothing",
    ),
    (
        "version: 1",
        "version: one",
        r"line 2: field `version`: expected a valid integer.*found 'one'",
    ),
    (
        "{type: email, path: user.email}",
        "{type: email, path: user.email, trust: high}",
        r"line 8: field `identifiers.0.trust`: expected 'strong' or 'weak', found 'high'",
    ),
    (
        "ticket_id: ticket.id",
        "ticket_id: {path: ticket.id, transform: titlecase}",
        r"line 14: field `payloads.support.ticket.opened.ticket_id.transform.0`: expected 'lower'",
    ),
    (
        "ticket_id: ticket.id",
        "ticket_di: ticket.id",
        r"line 14: field `payloads.support.ticket.opened.ticket_di`: expected a payload field "
        r"\(ticket_id, priority, status, subject\), found 'ticket_di'",
    ),
    (
        "{opened: support.ticket.opened}",
        "{opened: support.ticket.reopened}",
        r"line 11: field `type.map.opened`: expected a known signal type "
        r"\(or one under `declares`\), found 'support.ticket.reopened'",
    ),
    (
        "record_key: user.id",
        "record_key: user..id",
        r"line 4: field `record_key.path`: expected a path like `a.b\[0\].c`, found 'user..id'",
    ),
    (
        "timezone: UTC",
        "timezone: Mars/Olympus",
        r"line 6: field `occurred_at.timezone`: expected an IANA zone like Europe/London",
    ),
    (
        "owner: test-team",
        "owner: test-team\ncolour: blue",
        r"line 4: field `colour`: expected no such key \(check the spelling\), found key `colour`",
    ),
    (
        "owner: test-team",
        "owner: test-team\ntraits: {nickname: user.nick}",
        r"field `traits.nickname`: expected a trait: full_name, given_name",
    ),
    (
        'format: "iso"',
        'format: "yyyy-mm-dd"',
        r"field `occurred_at.format`: expected iso, epoch_s, epoch_ms or a strptime pattern",
    ),
]


@pytest.mark.parametrize(("old", "new", "message"), BROKEN)
def test_broken_contract_names_file_line_and_field(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    path = _break(tmp_path, old, new)
    with pytest.raises(ConfigError, match=rf"^source contract `{re.escape(str(path))}`"):
        load_contract(path)
    with pytest.raises(ConfigError, match=message):
        load_contract(path)


def test_pattern_without_zone_needs_a_timezone(tmp_path: Path) -> None:
    path = contract_file(tmp_path, fmt="%d/%m/%Y %H:%M", tz=None)
    with pytest.raises(ConfigError, match=r"field `occurred_at.timezone`: expected a zone"):
        load_contract(path)


def test_invalid_yaml_and_non_mapping(tmp_path: Path) -> None:
    bad = contract_file(tmp_path, text="name: [unclosed\n")
    with pytest.raises(ConfigError, match=rf"`{re.escape(str(bad))}`: not valid YAML"):
        load_contract(bad)
    listed = contract_file(tmp_path, name="listed", text="- a\n- b\n")
    with pytest.raises(ConfigError, match=r"expected a mapping of contract fields, found \['a'"):
        load_contract(listed)
    with pytest.raises(ConfigError, match=r"cannot read it"):
        load_contract(tmp_path / "absent.yaml")


def test_extra_dir_adds_and_overrides_sources(tmp_path: Path) -> None:
    contract_file(tmp_path, name="billing")
    text = (tmp_path / "billing.yaml").read_text().replace("name: billing", "name: support")
    (tmp_path / "support.yaml").write_text(text.replace("version: 1", "version: 9"))
    contracts = load_contracts([tmp_path])
    assert contracts["billing"].topic == "signals.raw.billing"
    assert contracts["support"].version == 9
    (tmp_path / "support2.yaml").write_text(text)
    with pytest.raises(ConfigError, match=r"source `support` is already defined in"):
        load_contracts([tmp_path])


def test_declared_type_is_registered_and_mapped(tmp_path: Path) -> None:
    text = (
        contract_file(tmp_path, name="chat")
        .read_text()
        .replace("{opened: support.ticket.opened}", "{escalated: chat.handoff.requested}")
        .replace(
            "support.ticket.opened:\n    ticket_id: ticket.id",
            "chat.handoff.requested:\n    conversation_id: convo.id\n    reason: convo.reason",
        )
        + "declares:\n  chat.handoff.requested:\n"
        + "    fields: {conversation_id: str, reason: optional str}\n"
    )
    path = contract_file(tmp_path, name="chat", text=text)
    contract = load_contract(path)
    assert payload_model_for("chat.handoff.requested") is None  # parsing installs nothing
    register_declared_types([contract])
    assert payload_model_for("chat.handoff.requested") is not None
    raw = {
        "id": "c1",
        "kind": "escalated",
        "at": "2026-11-20T10:00:00Z",
        "user": {"id": 7},
        "convo": {"id": 99},
    }
    signal = map_event(contract, json.dumps(raw).encode(), received_at=NOW, max_bytes=MAX)
    assert (signal.type, signal.payload) == ("chat.handoff.requested", {"conversation_id": "99"})


def test_missing_extra_dir_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"directory `.*nowhere` does not exist"):
        load_contracts(tmp_path / "nowhere")


def test_several_problems_are_counted(tmp_path: Path) -> None:
    path = _break(tmp_path, "version: 1", "version: one\ncolour: blue")
    with pytest.raises(ConfigError, match=r"\(1 more problem\(s\) after this one\)\. Fix"):
        load_contract(path)
