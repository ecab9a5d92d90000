"""A source contract compiled once into plain tuples, so mapping an event is
dictionary look-ups and a few calls, with no parsing of paths per event.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

from signalfold.schemas.contract import EachSpec, FieldSpec, SourceContract, TraitSpec, parse_path
from signalfold.schemas.payloads import payload_model_for
from signalfold.schemas.signal import Traits
from signalfold.streams.errors import StreamsError
from signalfold.streams.ingest.errors import ErrorKind
from signalfold.streams.ingest.transforms import (
    TRANSFORMS,
    ValueTypeError,
    date_parser,
    time_parser,
)

__all__ = ["Compiled", "Fault", "JoinPlan", "Plan", "Shown", "compiled", "render", "resolve"]

Step = str | int
_NUMBERS = (int, float)
_PART = TRANSFORMS["str"]


class Shown(str):
    """A ``found`` that is already a description (``307343 bytes``), shown without quotes."""


class Fault(StreamsError):
    """Internal: what went wrong and where; ``map_event`` adds source and event id."""

    def __init__(self, field: str | None, kind: ErrorKind, expected: str, found: Any) -> None:
        super().__init__(field, kind, expected)
        self.field, self.kind, self.expected, self.found = field, kind, expected, found


def render(steps: tuple[Step, ...]) -> str:
    """``("a", "b", 0)`` → ``a.b[0]``, to name a path in a message."""
    out = ""
    for step in steps:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else step)
    return out


def resolve(obj: Any, steps: tuple[Step, ...], base: str = "") -> Any:
    """The value at ``steps`` in ``obj``; ``None`` when absent, ``Fault`` when a
    step meets the wrong container (a string where an object should be)."""
    for i, step in enumerate(steps):
        if obj is None:
            return None
        if isinstance(step, str):
            if not isinstance(obj, dict):
                raise Fault(_at(base, steps[:i]), "wrong_type", "an object", obj)
            obj = obj.get(step)
        else:
            if not isinstance(obj, list):
                raise Fault(_at(base, steps[:i]), "wrong_type", "an array", obj)
            obj = obj[step] if step < len(obj) else None
    return obj


def _at(base: str, steps: tuple[Step, ...]) -> str:
    text = render(steps)
    return f"{base}.{text}" if base and text else (base or text)


@dataclass(frozen=True, slots=True)
class Plan:
    """One value: where it is, how to transform it, and what to do when absent."""

    text: str | None
    steps: tuple[Step, ...]
    transforms: tuple[Callable[[Any], Any], ...] = ()
    values: dict[str, Any] | None = None
    default: Any = None
    required: bool = False
    as_str: bool = False
    each: tuple[tuple[str, Plan], ...] | None = None
    parse: Callable[[Any], Any] | None = None  # a date trait's ``format``, after ``values``
    simple: bool = False  # no transforms, value map, parse or each: return what the path holds

    def get(self, obj: Any, base: str = "") -> Any:
        """Extract, transform and check the value of this plan from ``obj``."""
        raw = obj if self.steps else None
        for step in self.steps:  # fast path: objects all the way down
            if raw.__class__ is dict and step.__class__ is str:
                raw = raw.get(step)
            elif raw is None:
                break
            else:
                raw = resolve(obj, self.steps, base)
                break
        return self._finish(raw, base)

    def _finish(self, raw: Any, base: str) -> Any:
        if raw is not None and raw != "":
            value = raw if self.simple else self._shape(raw, base)
            if value is not None and value != "":
                return str(value) if self.as_str and value.__class__ in _NUMBERS else value
        if self.default is None and self.required:
            raise Fault(self._where(base), "missing_field", "a value", None)
        return self.default

    def _where(self, base: str) -> str:
        return _at(base, self.steps) if self.steps else (self.text or base)

    def _shape(self, raw: Any, base: str) -> Any:
        if self.each is not None:
            return self._each(raw, _at(base, self.steps))
        value = raw
        try:
            for fn in self.transforms:
                value = fn(value)
            if self.values is not None and value.__class__ is str:
                value = self.values.get(value, value)
            if self.parse is not None:
                value = self.parse(value)
        except ValueTypeError as exc:
            raise Fault(self._where(base), "wrong_type", exc.args[0], raw) from None
        except ValueError as exc:
            raise Fault(self._where(base), "invalid_value", exc.args[0], raw) from None
        return value

    def _each(self, items: Any, where: str) -> list[dict[str, Any]]:
        if not isinstance(items, list):
            raise Fault(where, "wrong_type", "an array of objects", items)
        out = []
        for i, item in enumerate(items):
            row = {}
            for name, plan in self.each or ():
                value = plan.get(item, f"{where}[{i}]")
                if value is not None:
                    row[name] = value
            out.append(row)
        return out


@dataclass(frozen=True, slots=True)
class JoinPlan(Plan):
    """A value joined from several paths (address parts); absent or blank parts are skipped.

    Each part is a string or a number; the joined text then goes through the
    plan's transforms, value map and parse like any other raw value.
    """

    parts: tuple[tuple[Step, ...], ...] = ()
    sep: str = " "

    def get(self, obj: Any, base: str = "") -> Any:
        texts = []
        for steps in self.parts:
            value = resolve(obj, steps, base)
            if value is None:
                continue
            try:
                text = _PART(value).strip()
            except ValueTypeError as exc:
                raise Fault(_at(base, steps), "wrong_type", exc.args[0], value) from None
            if text:
                texts.append(text)
        return self._finish(self.sep.join(texts) or None, base)


def _wants_str(model: type[BaseModel], name: str) -> bool:
    field = model.model_fields.get(name)
    ann = field.annotation if field is not None else None
    if ann is str:
        return True
    args = get_args(ann)
    return get_origin(ann) in (Union, types.UnionType) and str in args


def _is_date(model: type[BaseModel], name: str) -> bool:
    field = model.model_fields.get(name)
    return date in get_args(field.annotation if field is not None else None)


def _item_model(model: type[BaseModel], name: str) -> type[BaseModel] | None:
    field = model.model_fields.get(name)
    for arg in get_args(field.annotation if field is not None else None):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def _plan(spec: FieldSpec | EachSpec, as_str: bool, model: type[BaseModel] | None = None) -> Plan:
    if isinstance(spec, EachSpec):
        item = model or BaseModel
        subs = tuple((k, _plan(f, _wants_str(item, k))) for k, f in spec.fields.items())
        return Plan(spec.each, parse_path(spec.each), required=spec.required, each=subs)
    return Plan(
        text=spec.path,
        steps=parse_path(spec.path) if spec.path else (),
        transforms=tuple(TRANSFORMS[name] for name in spec.transform),
        values=spec.values,
        default=spec.default,
        required=spec.required,
        as_str=as_str,
        simple=not spec.transform and spec.values is None,
    )


def _trait_plan(name: str, spec: TraitSpec) -> Plan:
    """A trait's plan: its path or its ``join``, then its date ``format`` when it has one."""
    plan = _plan(spec, _wants_str(Traits, name))
    parse = date_parser(spec.format) if spec.format is not None else None
    if spec.join is not None:
        return JoinPlan(
            text=f"join({', '.join(spec.join)})",
            steps=(),
            transforms=plan.transforms,
            values=plan.values,
            default=plan.default,
            required=plan.required,
            as_str=plan.as_str,
            parse=parse,
            parts=tuple(parse_path(part) for part in spec.join),
            sep=" " if spec.sep is None else spec.sep,
        )
    return plan if parse is None else replace(plan, parse=parse, simple=False)


@dataclass(frozen=True, slots=True)
class Compiled:
    """Everything ``map_event`` needs, derived once from a contract."""

    event_id: Plan
    record_key: Plan
    occurred_at: Plan
    parse_time: Callable[[Any], datetime]
    type_field: Plan | None
    type_map: dict[str, str]
    rule_paths: tuple[tuple[Step, ...], ...]  # each distinct ``when`` path, resolved once
    rules: tuple[tuple[tuple[tuple[int, Any], ...], str], ...]  # ((path index, want)...), type
    identifiers: tuple[tuple[str, str, str | None, Plan], ...]  # type, trust, scope, plan
    traits: tuple[tuple[str, Plan], ...]
    date_traits: frozenset[str]  # date traits without a ``format`` (the canonical model parses)
    payloads: dict[str, tuple[type[BaseModel], tuple[tuple[str, Plan], ...]]]


_CACHE: dict[int, tuple[SourceContract, Compiled]] = {}


def compiled(contract: SourceContract) -> Compiled:
    """The compiled form of ``contract``, built on first use and cached.

    Keyed by identity (contracts are immutable; the entry keeps the contract
    alive so the id cannot be reused). A handful of contracts per process.
    """
    entry = _CACHE.get(id(contract))
    if entry is None:
        entry = _CACHE[id(contract)] = (contract, _compile(contract))
    return entry[1]


def _compile(c: SourceContract) -> Compiled:
    payloads = {}
    for sig_type in c.signal_types():
        model = payload_model_for(sig_type)
        assert model is not None  # load_contract checked every emitted type
        fields = c.payloads.get(sig_type, {})
        plans = tuple(
            (name, _plan(spec, _wants_str(model, name), _item_model(model, name)))
            for name, spec in fields.items()
        )
        payloads[sig_type] = (model, plans)
    rule_paths = tuple(dict.fromkeys(parse_path(p) for r in c.type.rules for p in r.when))
    rules = tuple(
        (tuple((rule_paths.index(parse_path(p)), v) for p, v in r.when.items()), r.type)
        for r in c.type.rules
    )
    field = c.type.field
    return Compiled(
        event_id=_plan(c.event_id.model_copy(update={"required": True}), True),
        record_key=_plan(c.record_key.model_copy(update={"required": True}), True),
        occurred_at=Plan(c.occurred_at.path, parse_path(c.occurred_at.path), required=True),
        parse_time=time_parser(c.occurred_at),
        type_field=Plan(field, parse_path(field)) if field else None,
        type_map=dict(c.type.map),
        rule_paths=rule_paths,
        rules=rules,
        identifiers=tuple((i.type, i.trust, i.scope, _plan(i, True)) for i in c.identifiers),
        traits=tuple((k, _trait_plan(k, s)) for k, s in c.traits.items()),
        date_traits=frozenset(
            k for k, s in c.traits.items() if s.format is None and _is_date(Traits, k)
        ),
        payloads=payloads,
    )
