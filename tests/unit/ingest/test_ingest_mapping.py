"""map_event: what a good event becomes, and the message each bad one gets."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from ingest_helpers import MAX, NOW, contracts, map_json, support_event

from signalfold.schemas.signal import make_signal_id
from signalfold.streams.ingest import MappingError, dead_letter, map_event, unknown_source_error

ORDER: dict[str, Any] = {
    "id": "chg_1",
    "object": "order",
    "action": "placed",
    "occurredAt": 1763632800000,
    "contact": {"id": "003AB", "email": "Jane@Example.com", "phone": "+44 7700 900123"},
    "order": {
        "id": "ORD-1",
        "total": 69.49,
        "currency": "gbp",
        "lines": [{"sku": "SKU-1", "category": "Shoes", "qty": 2}, {"sku": "SKU-2"}],
    },
}


def test_support_ticket_maps_to_the_canonical_envelope() -> None:
    signal = map_json("support", support_event())
    assert signal.type == "support.ticket.opened"
    assert signal.signal_id == make_signal_id("support", "17")
    assert (signal.source_event_id, signal.record_key) == ("17", "1234")
    assert signal.payload == {
        "ticket_id": "5501",
        "priority": "high",
        "status": "open",
        "subject": "Broken kettle",
    }
    assert [(i.type, i.value) for i in signal.identifiers] == [
        ("support_user_id", "1234"),
        ("phone", "07700 900123"),
    ]
    assert (signal.traits.given_name, signal.traits.family_name) == ("Jane", "Doe")
    assert signal.occurred_at.isoformat() == "2026-11-20T10:00:00+00:00"


def test_rule_turns_a_solved_update_into_ticket_closed() -> None:
    ticket = {"id": 5501, "status": "solved", "resolution": "replaced"}
    signal = map_json("support", support_event(type="ticket_updated", ticket=ticket))
    assert signal.type == "support.ticket.closed"
    assert signal.payload == {"ticket_id": "5501", "resolution": "replaced"}


def test_order_lines_map_with_each_and_defaults() -> None:
    signal = map_json("sales", ORDER)
    assert signal.type == "sales.order.placed"
    assert signal.record_key == "003AB"
    assert signal.payload["currency"] == "GBP"
    assert signal.payload["items"] == [
        {"product_id": "SKU-1", "category": "shoes", "quantity": 2},
        {"product_id": "SKU-2", "quantity": 1},
    ]


def test_return_reason_goes_through_the_value_map_and_array_index() -> None:
    body = {**ORDER, "action": "returned", "return": {"reason": " Damaged in transit"}}
    signal = map_json("sales", body)
    assert signal.payload["reason"] == "damaged"
    assert (signal.payload["product_id"], signal.payload["category"]) == ("SKU-1", "shoes")


def test_marketing_record_key_is_folded_but_identifier_kept_as_sent() -> None:
    body = {
        "id": "evt_1",
        "event": "email_open",
        "email": " Jane.Doe@Example.com ",
        "ts": "2026-11-20T10:00:00Z",
        "campaign": {"id": "cmp_12"},
        "contact": {"first_name": "Jane", "last_name": "Doe"},
    }
    signal = map_json("marketing", body)
    assert signal.record_key == "jane.doe@example.com"
    assert signal.identifiers[0].value == " Jane.Doe@Example.com "
    assert signal.payload == {"campaign_id": "cmp_12"}


def _error(source: str, body: Any, max_bytes: int = MAX) -> MappingError:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(MappingError) as caught:
        map_event(contracts()[source], raw, received_at=NOW, max_bytes=max_bytes)
    return caught.value


BAD = [
    (
        "support",
        support_event(ticket={"id": 1, "priority": "p1"}),
        "invalid_value",
        "source `support`: field `ticket.priority`: expected one of low, normal, high, urgent, "
        "found 'p1' (event 17)",
    ),
    (
        "support",
        support_event(requester={"phone": "07700 900123"}),
        "missing_field",
        "source `support`: field `requester.id`: expected a value, found nothing (event 17)",
    ),
    (
        "support",
        support_event(type="ticket_merged"),
        "unknown_type",
        "source `support`: field `type`: expected one of ticket_created, ticket_updated, "
        "ticket_solved, csat_submitted, found 'ticket_merged' (event 17)",
    ),
    (
        "support",
        support_event(requester="Jane Doe"),
        "wrong_type",
        "source `support`: field `requester`: expected an object, found 'Jane Doe' (event 17)",
    ),
    (
        "support",
        support_event(created="2026-11-20 10:00"),
        "invalid_value",
        "source `support`: field `created`: expected a time formatted '%d/%m/%Y %H:%M:%S' like "
        "'20/11/2026 10:00:00', found '2026-11-20 10:00' (event 17)",
    ),
    (
        "support",
        support_event(type="csat_submitted", satisfaction={"score": "great"}),
        "wrong_type",
        "source `support`: field `satisfaction.score`: expected a valid integer, unable to parse "
        "string as an integer, found 'great' (event 17)",
    ),
    (
        "support",
        support_event(id={"n": 1}),
        "wrong_type",
        "source `support`: field `id`: expected a string or an integer, found {'n': 1}",
    ),
    (
        "sales",
        {**ORDER, "occurredAt": "yesterday"},
        "wrong_type",
        "source `sales`: field `occurredAt`: expected a number of milliseconds since 1970, "
        "found 'yesterday' (event chg_1)",
    ),
    (
        "sales",
        {**ORDER, "order": {**ORDER["order"], "lines": [{"sku": "S", "qty": 0}]}},
        "invalid_value",
        "source `sales`: field `order.lines[0].qty`: expected a value greater than or equal to 1, "
        "found 0 (event chg_1)",
    ),
    (
        "sales",
        {**ORDER, "order": {"id": "ORD-1", "lines": "SKU-1"}},
        "wrong_type",
        "source `sales`: field `order.lines`: expected an array of objects, found 'SKU-1' "
        "(event chg_1)",
    ),
    (
        "sales",
        {**ORDER, "object": "invoice"},
        "unknown_type",
        "source `sales`: expected values that one of the contract's type rules matches, "
        "found object='invoice', action='placed' (event chg_1)",
    ),
    (
        "sales",
        [ORDER],
        "invalid_json",
        "source `sales`: expected a JSON object, found a JSON array",
    ),
    (
        "marketing",
        b'{"id": "evt_1", "event": ',
        "invalid_json",
        "source `marketing`: expected valid JSON (Expecting value at byte 25), "
        'found b\'{"id": "evt_1", "event": \'',
    ),
    (
        "marketing",
        b"\xc3\x28{}",
        "invalid_json",
        "source `marketing`: expected valid UTF-8 JSON, found b'\\xc3({}'",
    ),
]


@pytest.mark.parametrize(("source", "body", "kind", "message"), BAD)
def test_bad_event_message(source: str, body: Any, kind: str, message: str) -> None:
    err = _error(source, body)
    assert err.kind == kind
    assert err.source == source
    assert str(err).startswith(message)


def test_error_attributes_name_field_expected_and_found() -> None:
    err = _error("support", support_event(ticket={"id": 1, "priority": "P1"}))
    assert (err.field, err.found, err.event_id) == ("ticket.priority", "'P1'", "17")
    assert err.expected == "one of low, normal, high, urgent"


def test_oversized_is_checked_before_parsing() -> None:
    err = _error("marketing", b"x" * 101, max_bytes=100)
    assert (err.kind, str(err)) == (
        "oversized",
        "source `marketing`: expected at most 100 bytes, found 101 bytes",
    )


def test_found_is_cut_to_80_characters() -> None:
    err = _error("support", support_event(type="x" * 500))
    assert len(err.found) == 80 and err.found.endswith("...")


def test_dead_letter_keeps_original_bytes_and_reason() -> None:
    raw = json.dumps(support_event(ticket={"id": 1, "priority": "p1"})).encode()
    try:
        map_event(contracts()["support"], raw, received_at=NOW, max_bytes=MAX)
    except MappingError as err:
        letter = dead_letter(
            err,
            source="support",
            contract_version=1,
            topic="signals.raw.support",
            partition=2,
            offset=40,
            key=b"1234",
            raw=raw,
            at=NOW,
        )
    assert base64.b64decode(letter.original) == raw
    assert letter.key == "1234"
    assert (letter.error_kind, letter.field, letter.found) == (
        "invalid_value",
        "ticket.priority",
        "'p1'",
    )
    assert letter.reason.startswith("source `support`: field `ticket.priority`")


def test_dead_letter_for_unknown_source_and_unexpected_exception() -> None:
    err = unknown_source_error("signals.raw.billing", ["support", "sales"])
    letter = dead_letter(
        err,
        source=None,
        contract_version=None,
        topic="signals.raw.billing",
        partition=0,
        offset=1,
        key=None,
        raw=b"{}",
        at=NOW,
    )
    assert letter.error_kind == "unknown_source"
    assert letter.source == "signals.raw.billing"
    assert "a source with a contract (sales, support)" in letter.reason
    other = dead_letter(
        KeyError("x"),
        source="support",
        contract_version=1,
        topic="t",
        partition=0,
        offset=1,
        key="k",
        raw=b"{}",
        at=NOW,
    )
    assert other.reason.startswith("source `support`: unexpected KeyError")


def test_a_lone_surrogate_escape_is_the_source_s_dead_letter_and_a_pair_maps() -> None:
    """``json.loads`` takes "\\ud800", which no UTF-8 topic value can carry: refused here,
    with the source named, not later in a stage as nobody's."""
    event = support_event()
    event["ticket"]["subject"] = "broken \ud800 text"
    raw = json.dumps(event).encode()  # ensure_ascii: the lone half as a \\ud800 escape
    with pytest.raises(MappingError) as caught:
        map_event(contracts()["support"], raw, received_at=NOW, max_bytes=MAX)
    assert caught.value.source == "support" and caught.value.kind == "invalid_json"
    assert "surrogate" in str(caught.value) and "broken" not in str(caught.value)
    event["ticket"]["subject"] = "fine \U0001f600 text"
    signal = map_event(
        contracts()["support"], json.dumps(event).encode(), received_at=NOW, max_bytes=MAX
    )
    assert "\U0001f600" in json.dumps(signal.payload, ensure_ascii=False)
