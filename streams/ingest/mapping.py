"""Raw bytes → canonical :class:`Signal`, following a source contract.

The hot path of the ingest stage (tens of thousands of events a second), so
the contract is compiled once (:mod:`.compiled`) and each event is parsed with
one ``json.loads``. Anything that does not fit raises :class:`MappingError`,
never another exception; :func:`dead_letter` turns it into the DLQ record.
The exception is an optional trait: one that does not fit is left out, the
event maps, and the caller learns of it (a :class:`DroppedTrait`) to publish
with :func:`field_warning`.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime
from typing import Any

import orjson
from pydantic import ValidationError

from signalfold.schemas.contract import SourceContract
from signalfold.schemas.dlq import DeadLetter, FieldWarning, kept_bytes
from signalfold.schemas.signal import Signal, make_signal_id
from signalfold.streams.ingest.compiled import (
    Compiled,
    Fault,
    Plan,
    Shown,
    compiled,
    render,
    resolve,
)
from signalfold.streams.ingest.errors import (
    DroppedTrait,
    ErrorKind,
    MappingError,
    describe_value,
    found_text,
)

__all__ = ["dead_letter", "field_warning", "map_event"]

_JSON_KINDS = {list: "a JSON array", str: "a JSON string", bool: "a JSON boolean"}
_QUOTED = re.compile(r"'([^']*)'")


def map_event(
    contract: SourceContract,
    raw: bytes,
    *,
    received_at: datetime,
    max_bytes: int,
    dropped: list[DroppedTrait] | None = None,
) -> Signal:
    """Map one raw event of ``contract``'s source to a canonical signal.

    Raises :class:`MappingError` naming the raw field, what was expected and
    what was found, e.g. ``source `support`: field `ticket.priority`: expected
    one of low, normal, high, urgent, found 'p1' (event 17)``. An optional
    trait that does not fit (a bad birth date) is left out of the signal
    instead, and appended to ``dropped`` when given (so it can be warned about).
    """
    event_id = None
    try:
        if len(raw) > max_bytes:
            raise Fault(None, "oversized", f"at most {max_bytes} bytes", Shown(f"{len(raw)} bytes"))
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            expected = f"valid JSON ({exc.msg} at byte {exc.pos})"
            raise Fault(None, "invalid_json", expected, Shown(_head(raw))) from None
        except RecursionError:  # valid, perhaps, but nested deeper than the parser goes
            expected = f"JSON nested at most {_nesting_limit()} levels deep"
            raise Fault(None, "invalid_json", expected, Shown(_nesting(raw))) from None
        except ValueError:  # not UTF-8, absurd numbers
            raise Fault(None, "invalid_json", "valid UTF-8 JSON", Shown(_head(raw))) from None
        if _SURROGATE.search(raw) and (why := _lone_surrogate(raw)):
            expected = "JSON text without lone UTF-16 surrogate escapes (no text holds one)"
            raise Fault(None, "invalid_json", expected, Shown(why)) from None
        if not isinstance(obj, dict):
            kind = _JSON_KINDS.get(type(obj), "a JSON number" if obj is not None else "null")
            raise Fault(None, "invalid_json", "a JSON object", Shown(kind))
        plan = compiled(contract)
        event_id = _text(plan.event_id, obj)
        return _signal(contract, plan, obj, event_id, received_at, dropped)
    except Fault as fault:
        shown = fault.found
        raise MappingError(
            source=contract.name,
            kind=fault.kind,
            expected=fault.expected,
            found=shown[:80] if isinstance(shown, Shown) else found_text(shown),
            field=fault.field,
            event_id=event_id,
        ) from None


# ``json.loads`` accepts "\ud800" (a lone surrogate), which no UTF-8 output can carry:
# such an event would fail later, in a stage, attributed to no source.
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")


def _lone_surrogate(raw: bytes) -> str | None:
    """Where ``raw`` has a surrogate escape that is not half of a pair, or ``None``."""
    try:
        orjson.loads(raw)  # strict: pairs decode, lone halves are refused
    except orjson.JSONDecodeError as exc:
        return f"a lone surrogate escape ({exc.msg})" if "surrogate" in exc.msg else None
    return None


_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def _nesting_limit() -> int:
    """The deepest nesting ``json.loads`` takes here (it recurses once per level, so
    the limit follows the interpreter's recursion limit): found by bisection, and
    only when an event was refused for it."""
    low, high = 1, sys.getrecursionlimit()
    while low < high:
        mid = (low + high + 1) // 2
        try:
            json.loads("[" * mid + "]" * mid)
            low = mid
        except RecursionError:
            high = mid - 1
    return low


def _nesting(raw: bytes) -> str:
    """How deep ``raw``'s arrays and objects go (brackets inside strings left out)."""
    depth = deepest = 0
    for bracket in _STRINGS.sub(b"", raw).translate(None, _NOT_BRACKETS):
        depth += 1 if bracket in b"[{" else -1
        deepest = max(deepest, depth)
    return f"{deepest} levels"


def _head(raw: bytes) -> str:
    return found_text(bytes(raw[:100]))


def _text(plan: Plan, obj: dict[str, Any]) -> str:
    value = plan.get(obj)
    if not isinstance(value, str):
        raise Fault(plan.text, "wrong_type", "a string or an integer", value)
    return value


def _signal(
    contract: SourceContract,
    plan: Compiled,
    obj: dict[str, Any],
    event_id: str,
    received: datetime,
    dropped: list[DroppedTrait] | None,
) -> Signal:
    record_key = _text(plan.record_key, obj)
    sig_type = _choose_type(plan, obj)
    raw_time = plan.occurred_at.get(obj)
    try:
        occurred_at = plan.parse_time(raw_time)
    except ValueError as exc:
        kind: ErrorKind = (
            "wrong_type" if type(exc).__name__ == "ValueTypeError" else "invalid_value"
        )
        raise Fault(plan.occurred_at.text, kind, exc.args[0], raw_time) from None
    identifiers, id_plans = [], []
    for id_type, trust, scope, id_plan in plan.identifiers:
        value = id_plan.get(obj)
        if value is not None:
            ident = {"type": id_type, "value": value, "trust": trust}
            if scope is not None:
                ident["scope"] = scope
            identifiers.append(ident)
            id_plans.append(id_plan)
    traits: dict[str, Any] = {}
    for name, trait_plan in plan.traits:
        try:
            value = trait_plan.get(obj)
        except Fault as fault:
            if trait_plan.required:
                raise
            _drop(dropped, name, fault, fault.found)
            continue
        if value is not None:
            traits[name] = value
    model, fields = plan.payloads[sig_type]
    payload = {k: v for k, p in fields if (v := p.get(obj)) is not None}
    envelope = {
        "signal_id": make_signal_id(contract.name, event_id),
        "source": contract.name,
        "source_event_id": event_id,
        "record_key": record_key,
        "type": sig_type,
        "occurred_at": occurred_at,
        "received_at": received,
        "identifiers": identifiers,
        "traits": traits,
        "payload": payload,
    }
    while True:
        try:  # one validation for all of it (the payload model runs inside): cheapest
            return Signal.model_validate(envelope)
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
        trait_plans = dict(plan.traits)
        loc = err["loc"]
        name = str(loc[1]) if len(loc) > 1 and loc[0] == "traits" else ""
        if name not in traits or trait_plans[name].required:
            break  # not an optional trait: the event is dead-lettered below
        unfit = _fault(err, loc[1:], trait_plans, obj)
        if name in plan.date_traits:  # pydantic's words for dates are about datetimes
            unfit.expected = "an ISO date like 2026-11-20 (or give the trait a `format`)"
            unfit.kind = "invalid_value" if isinstance(unfit.found, str) else "wrong_type"
        value = traits.pop(name)
        _drop(dropped, name, unfit, value if unfit.found is None else unfit.found)
    try:  # again on its own, for a structured error at the raw path
        model.model_validate(payload)
    except ValidationError as exc:
        raise _fault(exc.errors(include_url=False)[0], (), dict(fields), obj) from None
    head = err["loc"][0] if err["loc"] else None
    if head == "traits":
        raise _fault(err, err["loc"][1:], trait_plans, obj)
    if head == "identifiers" and len(err["loc"]) > 1:
        raise _fault(err, ("id",), {"id": id_plans[int(err["loc"][1])]}, obj)
    raise _fault(err, err["loc"], {}, obj)


def _drop(dropped: list[DroppedTrait] | None, trait: str, fault: Fault, value: Any) -> None:
    if dropped is not None:
        field = fault.field or trait
        dropped.append(
            DroppedTrait(trait, field, fault.kind, fault.expected, describe_value(value))
        )


def _choose_type(plan: Compiled, obj: dict[str, Any]) -> str:
    seen = [_raw(obj, steps) for steps in plan.rule_paths]
    if plan.rules:
        for conditions, rule_type in plan.rules:
            for index, want in conditions:
                value = seen[index]
                if not (value in want if isinstance(want, list) else value == want):
                    break
            else:
                return rule_type
    field = plan.type_field
    if field is None:
        shown = ", ".join(f"{render(p)}={v!r}" for p, v in zip(plan.rule_paths, seen, strict=True))
        expected = "values that one of the contract's type rules matches"
        raise Fault(None, "unknown_type", expected, Shown(shown))
    raw = field.get(obj)
    if raw is None:
        raise Fault(field.text, "missing_field", "a value", None)
    key = str(raw) if isinstance(raw, str | int) and not isinstance(raw, bool) else None
    sig_type = plan.type_map.get(key) if key is not None else None
    if sig_type is None:
        raise Fault(field.text, "unknown_type", f"one of {', '.join(plan.type_map)}", raw)
    return sig_type


def _fault(err: Any, loc: tuple[Any, ...], plans: dict[str, Plan], obj: Any) -> Fault:
    """A pydantic error as a ``Fault`` at the raw path its value came from, when known.

    ``loc`` is the error's location below the mapped object (``plans`` keys it).
    """
    loc = loc or err["loc"]
    kind = err["type"]
    plan = plans.get(str(loc[0])) if loc else None
    field = ".".join(str(p) for p in loc)
    found = err.get("input")
    if plan is not None and plan.text is not None:
        field, raw = plan.text, _raw(obj, plan.steps) if plan.steps else None
        if plan.each is not None and len(loc) >= 3 and isinstance(loc[1], int):
            sub = dict(plan.each).get(str(loc[2]))
            if sub is not None and sub.text is not None:
                field = f"{plan.text}[{loc[1]}].{sub.text}"
                raw = _raw(obj, (*plan.steps, loc[1], *sub.steps))
        found = raw if raw is not None and kind != "missing" else found
    if kind == "missing":
        return Fault(field, "missing_field", "a value", None)
    if kind in ("literal_error", "enum"):
        options = _QUOTED.findall(str(err.get("ctx", {}).get("expected", "")))
        return Fault(field, "invalid_value", f"one of {', '.join(options)}", found)
    expected = err["msg"].removeprefix("Input should be ").removeprefix("Value error, ")
    if kind.endswith(("_type", "_parsing")):
        return Fault(field, "wrong_type", expected, found)
    if expected.startswith(("greater", "less", "at most", "at least")):
        expected = f"a value {expected}"
    return Fault(field, "invalid_value", expected, found)


def _raw(obj: Any, steps: tuple[str | int, ...]) -> Any:
    try:
        return resolve(obj, steps)
    except Fault:
        return None


def dead_letter(
    err_or_exc: BaseException,
    *,
    source: str | None,
    contract_version: int | None,
    topic: str,
    partition: int | None,
    offset: int | None,
    key: str | bytes | None,
    raw: bytes | None,
    at: datetime,
) -> DeadLetter:
    """The DLQ record for a raw event that failed, keeping its exact bytes (an excerpt,
    with size and digest, past ``EXCERPT_BYTES``: see ``schemas.dlq.kept_bytes``).

    A :class:`MappingError` gives the field, expected and found; any other
    exception is recorded by type only (a bug to report, not a source problem).
    ``source`` may be ``None`` when no contract claims the topic (the error's
    source, else the topic, is used); a bytes ``key`` is decoded as UTF-8.
    """
    if source is None:
        source = err_or_exc.source if isinstance(err_or_exc, MappingError) else topic
    if isinstance(key, bytes):
        key = key.decode("utf-8", errors="backslashreplace")
    if isinstance(err_or_exc, MappingError):
        reason, kind = str(err_or_exc), err_or_exc.kind
        field, expected, found = err_or_exc.field, err_or_exc.expected, err_or_exc.found
    else:
        reason = (
            f"source `{source}`: unexpected {type(err_or_exc).__name__} while mapping; "
            "report it to the signalfold maintainers with this record"
        )
        kind, field, expected, found = "invalid_value", None, None, None
    return DeadLetter(
        source=source,
        contract_version=contract_version,
        topic=topic,
        partition=partition,
        offset=offset,
        key=key,
        reason=reason,
        field=field,
        expected=expected,
        found=found,
        error_kind=kind,
        at=at,
        **kept_bytes(raw),
    )


def field_warning(
    dropped: DroppedTrait,
    signal: Signal,
    *,
    contract_version: int | None,
    topic: str,
    partition: int | None,
    offset: int | None,
    at: datetime,
) -> FieldWarning:
    """The ``signals.warnings`` record for a trait left out of ``signal``.

    Names the signal and the raw record's coordinates, not its key or values:
    a warning carries no personal data.
    """
    return FieldWarning(
        source=signal.source,
        contract_version=contract_version,
        signal_id=signal.signal_id,
        source_event_id=signal.source_event_id,
        topic=topic,
        partition=partition,
        offset=offset,
        trait=dropped.trait,
        reason=dropped.reason(signal.source, signal.source_event_id),
        field=dropped.field,
        expected=dropped.expected,
        found=dropped.found,
        error_kind=dropped.kind,
        at=at,
    )
