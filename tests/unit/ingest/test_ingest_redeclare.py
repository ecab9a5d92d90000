"""Re-declaring a contract's signal type: parsing is pure, optional fields widen the type,
conflicting shapes are refused with the reason unless the contract version is bumped."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from ingest_helpers import MAX, NOW

from signalfold.cli import main
from signalfold.errors import ConfigError
from signalfold.schemas import payloads
from signalfold.schemas.contract import SourceContract, parse_contract, register_declared_types
from signalfold.schemas.contract_evolution import check_evolution
from signalfold.schemas.payloads import PAYLOAD_MODELS, payload_model_for
from signalfold.streams.ingest import map_event

TYPE = "returns.label.created"
CONTRACT = """\
name: returns_portal
version: {version}
owner: returns-team
record_key: {{path: shopper.id, required: true}}
event_id: uuid
occurred_at: {{path: at, format: epoch_ms}}
identifiers:
  - {{type: returns_shopper_id, path: shopper.id, trust: strong}}
type:
  field: status
  map: {{LABEL_CREATED: returns.label.created}}
declares:
  returns.label.created:
    fields: {{{fields}}}
payloads:
  returns.label.created:
    order_id: order.ref
{extra}"""
V1 = {"fields": "order_id: str, carrier: optional str", "extra": "    carrier: carrier\n"}
V1B = {
    "fields": "order_id: str, carrier: optional str, label_url: optional str",
    "extra": "    carrier: carrier\n    label_url: label.url\n",
}


def _contract(version: int = 1, fields: str = V1["fields"], extra: str = V1["extra"]) -> str:
    return CONTRACT.format(version=version, fields=fields, extra=extra)


def _parse(text: str, file: str = "returns_portal.yaml") -> SourceContract:
    return parse_contract(text, file)


@pytest.fixture(autouse=True)
def _clean_registry() -> Iterator[None]:
    """Each test starts and ends without the test type installed."""
    PAYLOAD_MODELS.pop(TYPE, None)
    payloads._DECLARED_BY.pop(TYPE, None)
    yield
    PAYLOAD_MODELS.pop(TYPE, None)
    payloads._DECLARED_BY.pop(TYPE, None)


def test_parsing_installs_nothing_and_two_shapes_parse_side_by_side() -> None:
    old, new = _parse(_contract()), _parse(_contract(**V1B), "v1b.yaml")
    assert payload_model_for(TYPE) is None
    assert check_evolution(old, new) == []


def test_validate_cli_accepts_an_added_optional_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "returns_portal.yaml").write_text(_contract())
    (tmp_path / "v1b.yaml").write_text(_contract(**V1B))
    against = str(tmp_path / "returns_portal.yaml")
    code = main(["sources", "validate", str(tmp_path / "v1b.yaml"), "--against", against])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "compatible with v1 in `" in out and "additive changes only" in out


def test_installing_the_wider_declaration_widens_the_type_either_way_round() -> None:
    v1, v1b = _parse(_contract()), _parse(_contract(**V1B), "v1b.yaml")
    register_declared_types([v1])
    register_declared_types([v1b])
    assert "label_url" in payload_model_for(TYPE).model_fields  # type: ignore[union-attr]
    register_declared_types([v1])  # an older reader of the same version: the wider type stays
    assert "label_url" in payload_model_for(TYPE).model_fields  # type: ignore[union-attr]
    raw = {"uuid": "r-2", "status": "LABEL_CREATED", "at": 1763632900000}
    raw |= {"shopper": {"id": "S-9"}, "order": {"ref": "ORD-1"}, "label": {"url": "https://l/1"}}
    signal = map_event(v1b, json.dumps(raw).encode(), received_at=NOW, max_bytes=MAX)
    assert signal.payload == {"order_id": "ORD-1", "label_url": "https://l/1"}


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ("carrier: optional str", "required field `order_id` removed"),
        ("order_id: int, carrier: optional str", "field `order_id` changed type"),
        ("order_id: str, carrier: optional str, label_url: str", "`label_url` added as required"),
    ],
)
def test_a_conflicting_shape_is_refused_unless_the_version_is_bumped(
    fields: str, reason: str
) -> None:
    drop = "" if "order_id" in fields else "    order_id: order.ref\n"
    register_declared_types([_parse(_contract())])
    same = _parse(_contract(fields=fields).replace(drop or "\0", ""))
    with pytest.raises(ConfigError, match="already declared with another shape") as err:
        register_declared_types([same])
    assert reason in str(err.value) and "declared by `returns_portal` v1" in str(err.value)
    assert "Publish the change as a new version of `returns_portal`" in str(err.value)
    bumped = _parse(_contract(2, fields).replace(drop or "\0", ""))
    register_declared_types([bumped])
    assert set(payload_model_for(TYPE).model_fields) == set(same.declares[TYPE].fields)  # type: ignore[union-attr]
    register_declared_types([_parse(_contract())])  # v1 read after v2: v2 stays in force
    assert set(payload_model_for(TYPE).model_fields) == set(same.declares[TYPE].fields)  # type: ignore[union-attr]


def test_evolution_names_the_breaking_declared_changes() -> None:
    old = _parse(_contract())
    required = _parse(_contract(fields="order_id: str, carrier: optional str, label_url: str"))
    with pytest.raises(
        ConfigError, match=r"declared field `returns\.label\.created\.label_url` added"
    ):
        check_evolution(old, required)
    assert check_evolution(old, _parse(_contract(2, "order_id: int, carrier: optional str"))) == [
        "declared field `returns.label.created.order_id` changed type"
    ]


def test_redeclaring_a_builtin_type_with_another_shape_is_refused_at_parse() -> None:
    text = _contract().replace("returns.label.created", "sales.order.returned")
    with pytest.raises(
        ConfigError, match=r"field `declares.sales.order.returned`: expected the"
    ) as e:
        _parse(text)
    assert "required field `reason` removed" in str(e.value)
