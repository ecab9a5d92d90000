"""Traits that keep what they can: date formats, joined fields, region, identifier scope,
and an optional trait that does not fit dropped with a warning instead of the event."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from ingest_helpers import MAX, NOW, contract_file

from signalfold.errors import ConfigError
from signalfold.schemas.contract import SourceContract, load_contract
from signalfold.schemas.signal import Signal
from signalfold.streams.ingest import DroppedTrait, MappingError, field_warning, map_event
from signalfold.streams.ingest.errors import describe_value

CRM = """\
name: crm
version: 1
owner: crm-team
record_key: contact.id
event_id: id
occurred_at: {path: at, format: iso}
identifiers:
  - {type: crm_contact_id, path: contact.id}
  - {type: email, path: contact.email, scope: personal}
  - {type: email, path: contact.team_mailbox, scope: organisation}
  - {type: phone, path: contact.home_phone, scope: household}
  - {type: phone, path: contact.phone}
traits:
  full_name: contact.name
  birth_date: contact.dob
  address: {join: [contact.street_number, contact.address_1, contact.address_2], sep: " "}
  city: contact.city
  region: contact.state
type:
  field: kind
  map: {lead: sales.lead.created}
payloads:
  sales.lead.created:
    lead_id: lead.id
"""


def _contract(tmp: Path, old: str = "", new: str = "") -> SourceContract:
    text = CRM.replace(old, new) if old else CRM
    return load_contract(contract_file(tmp, name="crm", text=text))


def _event(**contact: Any) -> dict[str, Any]:
    person = {"id": "C-1", "email": "jane@example.com", "name": "Jane Doe", **contact}
    at = "2026-11-20T10:00:00Z"
    return {"id": "e1", "kind": "lead", "at": at, "contact": person, "lead": {"id": "L-1"}}


def _map(contract: SourceContract, body: Any) -> tuple[Signal, list[DroppedTrait]]:
    dropped: list[DroppedTrait] = []
    raw = json.dumps(body).encode()
    signal = map_event(contract, raw, received_at=NOW, max_bytes=MAX, dropped=dropped)
    return signal, dropped


# 1. Formats on date traits


@pytest.mark.parametrize(
    ("fmt", "value", "expected"),
    [
        ("%Y%m%d", "19361218", date(1936, 12, 18)),
        ("%d/%m/%Y", "18/12/1936", date(1936, 12, 18)),
        ("%d %b %Y", "18 Dec 1936", date(1936, 12, 18)),
        ("iso", "1936-12-18", date(1936, 12, 18)),
        ("iso", "1936-12-18T23:30:00-05:00", date(1936, 12, 18)),
        ("epoch_s", -1042588800, date(1936, 12, 18)),
        ("epoch_ms", -1042588800000, date(1936, 12, 18)),
    ],
)
def test_birth_date_format(tmp_path: Path, fmt: str, value: Any, expected: date) -> None:
    contract = _contract(
        tmp_path, "birth_date: contact.dob", f'birth_date: {{path: contact.dob, format: "{fmt}"}}'
    )
    signal, dropped = _map(contract, _event(dob=value))
    assert (signal.traits.birth_date, dropped) == (expected, [])


def test_formatted_date_that_does_not_parse_is_dropped_with_the_reason(tmp_path: Path) -> None:
    contract = _contract(
        tmp_path, "birth_date: contact.dob", 'birth_date: {path: contact.dob, format: "%Y%m%d"}'
    )
    signal, [drop] = _map(contract, _event(dob="19367018"))
    assert signal.traits.birth_date is None
    assert drop.reason("crm", "e1") == (
        "source `crm`: field `contact.dob`: expected a date formatted '%Y%m%d' like '20261120', "
        "found a string of 8 digits (event e1); trait `birth_date` dropped, the event mapped "
        "without it"
    )


# 2. Joined fields


def test_address_joins_its_parts_skipping_missing_and_blank_ones(tmp_path: Path) -> None:
    contract = _contract(tmp_path)
    parts = {"street_number": 12, "address_1": " High Street ", "address_2": "  "}
    signal, dropped = _map(contract, _event(**parts))
    assert (signal.traits.address, dropped) == ("12 High Street", [])
    signal, _ = _map(contract, _event(address_2="Flat 3"))
    assert signal.traits.address == "Flat 3"
    signal, _ = _map(contract, _event())
    assert signal.traits.address is None


def test_join_with_a_transform_and_another_separator(tmp_path: Path) -> None:
    contract = _contract(tmp_path, 'sep: " "}', 'sep: ", ", transform: upper}')
    signal, _ = _map(contract, _event(street_number="12", address_1="High St", address_2="Leeds"))
    assert signal.traits.address == "12, HIGH ST, LEEDS"


def test_join_part_of_the_wrong_type_drops_the_trait(tmp_path: Path) -> None:
    signal, [drop] = _map(_contract(tmp_path), _event(street_number=12, address_1={"line": "x"}))
    assert signal.traits.address is None
    assert (drop.trait, drop.field, drop.kind) == ("address", "contact.address_1", "wrong_type")
    assert (drop.expected, drop.found) == ("a string or a number", "an object with 1 key(s)")


# 3. Region


def test_region_maps_as_a_trait(tmp_path: Path) -> None:
    signal, _ = _map(_contract(tmp_path), _event(state="Yorkshire", city="Leeds"))
    assert (signal.traits.region, signal.traits.city) == ("Yorkshire", "Leeds")


# 4. Identifier scope


def test_scope_is_carried_onto_each_identifier_only_when_set(tmp_path: Path) -> None:
    body = _event(team_mailbox="sales@acme.example", home_phone="0113 496 0000", phone="07700")
    signal, _ = _map(_contract(tmp_path), body)
    assert [(i.type, i.scope) for i in signal.identifiers] == [
        ("crm_contact_id", None),
        ("email", "personal"),
        ("email", "organisation"),
        ("phone", "household"),
        ("phone", None),
    ]


def test_an_unknown_scope_is_refused_at_load(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"line 10: field `identifiers.2.scope`: expected "
                       r"'personal', 'household' or 'organisation', found 'team'"):  # fmt: skip
        _contract(tmp_path, "scope: organisation", "scope: team")


# 5. Leniency: a bad optional trait is dropped, the event and its identifiers map


ISO_DATE = "an ISO date like 2026-11-20 (or give the trait a `format`)"


@pytest.mark.parametrize(
    ("dob", "kind", "found"),
    [
        ("19361218", "invalid_value", "a string of 8 digits"),
        ("1945-70-03", "invalid_value", "a string shaped 9999-99-99"),
        ({"y": 1936}, "wrong_type", "an object with 1 key(s)"),
    ],
)
def test_bad_birth_date_is_dropped_with_a_warning_and_the_event_maps(
    tmp_path: Path, dob: Any, kind: str, found: str
) -> None:
    expected = ISO_DATE
    signal, [drop] = _map(_contract(tmp_path), _event(dob=dob, city="Leeds"))
    assert signal.traits.birth_date is None
    assert (signal.traits.full_name, signal.traits.city) == ("Jane Doe", "Leeds")
    assert [i.value for i in signal.identifiers] == ["C-1", "jane@example.com"]
    assert (drop.trait, drop.field, drop.kind) == ("birth_date", "contact.dob", kind)
    assert (drop.expected, drop.found) == (expected, found)
    warning = field_warning(
        drop, signal, contract_version=1, topic="signals.raw.crm", partition=0, offset=7, at=NOW
    )
    assert warning.reason == (
        f"source `crm`: field `contact.dob`: expected {expected}, found {found} (event e1); "
        "trait `birth_date` dropped, the event mapped without it"
    )
    assert (warning.signal_id, warning.offset, warning.trait) == (signal.signal_id, 7, "birth_date")
    text = warning.model_dump_json()
    assert not any(part in text for part in ("19361218", "1945-70-03", "jane", "C-1", "1936"))


def test_several_bad_traits_are_each_dropped(tmp_path: Path) -> None:
    signal, dropped = _map(_contract(tmp_path), _event(dob="1945-70-03", name=["Jane"], city=7))
    assert [d.trait for d in dropped] == ["full_name", "birth_date"]
    assert signal.traits.city == "7"  # a number for a text trait is its text, as before


def test_without_a_collector_the_signal_is_the_same(tmp_path: Path) -> None:
    contract = _contract(tmp_path)
    raw = json.dumps(_event(dob="19361218")).encode()
    quiet = map_event(contract, raw, received_at=NOW, max_bytes=MAX)
    assert quiet == _map(contract, _event(dob="19361218"))[0]


def test_a_required_trait_still_dead_letters(tmp_path: Path) -> None:
    contract = _contract(
        tmp_path, "birth_date: contact.dob", "birth_date: {path: contact.dob, required: true}"
    )
    with pytest.raises(MappingError) as caught:
        _map(contract, _event(dob="1945-70-03"))
    assert str(caught.value).startswith("source `crm`: field `contact.dob`: expected ")
    with pytest.raises(MappingError, match=r"field `contact.dob`: expected a value, found nothing"):
        _map(contract, _event())


def test_required_fields_still_dead_letter(tmp_path: Path) -> None:
    body = _event(dob="1945-70-03")
    body["at"] = "yesterday"
    with pytest.raises(MappingError, match=r"^source `crm`: field `at`: expected an ISO 8601"):
        _map(_contract(tmp_path), body)


def test_describe_value_never_shows_the_value() -> None:
    assert describe_value("19361218") == "a string of 8 digits"
    assert describe_value("07700 900123") == "a string shaped 99999 999999"
    assert describe_value("Jane Doe") == "a string of 8 characters"
    assert describe_value(19361218) == "an integer of 8 digits"
    assert [describe_value(v) for v in (None, True, 1.5, [1], "", " ")] == [
        "nothing", "a boolean", "a decimal number", "an array of 1 item(s)", "an empty string",
        "a blank string",
    ]  # fmt: skip


# Load-time checks name file, line and field


BROKEN = [
    ("birth_date: contact.dob", 'birth_date: {path: contact.dob, format: "yyyymmdd"}',
     r"line 15: field `traits.birth_date.format`: expected iso, epoch_s, epoch_ms or a "
     r"strptime pattern, found 'yyyymmdd'"),
    ("city: contact.city", 'city: {path: contact.city, format: "%Y"}',
     r"line 17: field `traits.city.format`: expected `format` only on a date trait "
     r"\(birth_date\), found 'city'"),
    ("contact.street_number, contact.address_1", "contact..street_number, contact.address_1",
     r"line 16: field `traits.address.join.0`: expected a path like `a.b\[0\].c`, "
     r"found 'contact..street_number'"),
    ('sep: " "}', 'sep: " ", path: contact.street}',
     r"line 16: field `traits.address`: expected `path` or `join`, not both, found both"),
    ("city: contact.city", 'city: {path: contact.city, sep: "-"}',
     r"line 17: field `traits.city.sep`: expected `sep` only with `join`, found '-'"),
    ("region: contact.state", "region: {transform: upper}",
     r"line 18: field `traits.region`: expected a `path`, a `join` or a `default`, found neither"),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "message"), BROKEN)
def test_broken_trait_names_file_line_and_field(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=r"^source contract `.*crm.yaml` " + message) as caught:
        _contract(tmp_path, old, new)
    assert re.search(r"Fix the contract file and validate it again\.$", str(caught.value))
