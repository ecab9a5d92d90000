"""Checks of a source contract that pydantic cannot express, and error rendering.

Each check returns a ``Problem`` — (location in the file, expected, found) —
or ``None``; :func:`problem` renders it as a ``ConfigError`` naming the file,
the YAML line and the field.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from typing import Any, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, create_model

from signalfold.errors import ConfigError
from signalfold.schemas._contract_model import (
    DeclaredType,
    EachSpec,
    FieldSpec,
    SourceContract,
    TimestampSpec,
    parse_path,
)
from signalfold.schemas.payloads import builtin_payload_model, payload_model_for, shape_conflicts
from signalfold.schemas.signal import Traits

__all__ = ["Problem", "check_contract", "declared_model", "found", "problem"]

Problem = tuple[tuple[Any, ...], str, str]
_DECLARED_TYPES: dict[str, Any] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "decimal": Decimal,
}


def _fields(c: SourceContract) -> list[tuple[tuple[Any, ...], FieldSpec]]:
    """Every field spec of a contract with its location in the file."""
    out: list[tuple[tuple[Any, ...], FieldSpec]] = [
        (("record_key",), c.record_key),
        (("event_id",), c.event_id),
    ]
    out += [(("identifiers", i), spec) for i, spec in enumerate(c.identifiers)]
    out += [(("traits", name), spec) for name, spec in c.traits.items()]
    for sig_type, fields in c.payloads.items():
        for name, spec in fields.items():
            if isinstance(spec, EachSpec):
                out += [
                    (("payloads", sig_type, name, "fields", k), f) for k, f in spec.fields.items()
                ]
            else:
                out.append((("payloads", sig_type, name), spec))
    return out


def _check_paths(c: SourceContract) -> Problem | None:
    paths: list[tuple[tuple[Any, ...], str | None]] = [
        (("occurred_at", "path"), c.occurred_at.path),
        (("type", "field"), c.type.field),
    ]
    paths += [
        (("type", "rules", i, "when", k), k) for i, r in enumerate(c.type.rules) for k in r.when
    ]
    for sig_type, fields in c.payloads.items():
        paths += [
            (("payloads", sig_type, name, "each"), spec.each)
            for name, spec in fields.items()
            if isinstance(spec, EachSpec)
        ]
    for loc, spec in _fields(c):
        parts = getattr(spec, "join", None)
        if parts is not None:
            paths += [((*loc, "join", i), part) for i, part in enumerate(parts)]
        elif spec.path is None and spec.default is None:
            joinable = "a `path`, a `join`" if loc[0] == "traits" else "a `path`"
            return loc, f"{joinable} or a `default`", "neither"
        paths.append(((*loc, "path"), spec.path))
    for loc, text in paths:
        try:
            if text is not None:
                parse_path(text)
        except ValueError as exc:
            return loc, str(exc).split(", found ")[0], found(text)
    for key in ("record_key", "event_id"):
        if getattr(c, key).path is None:
            return (key, "path"), "a path (the source must send it)", "nothing"
    return None


def _check_format(loc: tuple[Any, ...], fmt: str) -> Problem | None:
    """``iso``, ``epoch_s``, ``epoch_ms`` or a ``strptime`` pattern that round-trips."""
    if fmt in ("iso", "epoch_s", "epoch_ms"):
        return None
    sample = datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)
    try:
        if "%" not in fmt or datetime.strptime(sample.strftime(fmt), fmt) is None:
            raise ValueError
    except ValueError:
        return loc, "iso, epoch_s, epoch_ms or a strptime pattern", found(fmt)
    return None


def _check_time(ts: TimestampSpec) -> Problem | None:
    if ts.timezone is not None:
        try:
            ZoneInfo(ts.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            return (
                ("occurred_at", "timezone"),
                "an IANA zone like Europe/London",
                found(ts.timezone),
            )
    failure = _check_format(("occurred_at", "format"), ts.format)
    if failure or ts.format in ("iso", "epoch_s", "epoch_ms"):
        return failure
    if "%z" not in ts.format and ts.timezone is None:
        return ("occurred_at", "timezone"), "a zone, as the pattern has no %z", "nothing"
    return None


def _is_date(name: str) -> bool:
    return date in get_args(Traits.model_fields[name].annotation)


def _check_traits(c: SourceContract) -> Problem | None:
    for name, spec in c.traits.items():
        loc: tuple[Any, ...] = ("traits", name)
        if name not in Traits.model_fields:
            return loc, f"a trait: {', '.join(Traits.model_fields)}", found(name)
        if spec.join is not None and spec.path is not None:
            return loc, "`path` or `join`, not both", "both"
        if spec.sep is not None and spec.join is None:
            return (*loc, "sep"), "`sep` only with `join`", found(spec.sep)
        if spec.format is not None:
            if not _is_date(name):
                dates = ", ".join(n for n in Traits.model_fields if _is_date(n))
                return (*loc, "format"), f"`format` only on a date trait ({dates})", found(name)
            failure = _check_format((*loc, "format"), spec.format)
            if failure:
                return failure
    return None


def declared_model(sig_type: str, decl: DeclaredType) -> type[BaseModel]:
    """The payload model of a type a contract declares (field kinds already checked).

    The same declaration gives the same class, so re-installing it is a no-op.
    """
    return _declared_model(sig_type, tuple(decl.fields.items()))


@cache
def _declared_model(sig_type: str, fields: tuple[tuple[str, str], ...]) -> type[BaseModel]:
    shape: dict[str, Any] = {}
    for name, kind in fields:
        optional = kind.startswith("optional ")
        base = _DECLARED_TYPES[kind.removeprefix("optional ").strip()]
        shape[name] = (base | None, None) if optional else (base, ...)
    title = "".join(part.title() for part in re.split(r"[._]", sig_type))
    return create_model(title, __config__=ConfigDict(frozen=True, extra="allow"), **shape)


def _declare(c: SourceContract) -> Problem | None:
    for sig_type, decl in c.declares.items():
        if not re.match(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$", sig_type):
            return ("declares", sig_type), "a dotted type like support.chat.escalated", "that"
        for name, kind in decl.fields.items():
            if kind.removeprefix("optional ").strip() not in _DECLARED_TYPES:
                expected = "str, int, float, bool or decimal, optionally after `optional `"
                return ("declares", sig_type, "fields", name), expected, found(kind)
        builtin = builtin_payload_model(sig_type)
        conflicts = shape_conflicts(builtin, declared_model(sig_type, decl)) if builtin else []
        if conflicts:
            expected = "the built-in type's shape, or only added optional fields"
            return ("declares", sig_type), expected, "; ".join(conflicts)
    return None


def _model(c: SourceContract, sig_type: str) -> type[BaseModel] | None:
    """The payload model ``c`` would use: its own declaration, else the installed one."""
    decl = c.declares.get(sig_type)
    return declared_model(sig_type, decl) if decl is not None else payload_model_for(sig_type)


def check_contract(c: SourceContract) -> Problem | None:
    """What pydantic cannot see: paths, zones, traits, known types and payload fields."""
    problem = _check_paths(c) or _check_time(c.occurred_at) or _declare(c)
    if problem:
        return problem
    problem = _check_traits(c)
    if problem:
        return problem
    if not c.type.rules and (c.type.field is None or not c.type.map):
        return ("type",), "`field` with `map`, or `rules`", "neither"
    emitted: list[tuple[tuple[Any, ...], str]] = [
        (("type", "map", raw), t) for raw, t in c.type.map.items()
    ]
    emitted += [(("type", "rules", i, "type"), r.type) for i, r in enumerate(c.type.rules)]
    for loc, sig_type in emitted:
        if _model(c, sig_type) is None:
            return loc, "a known signal type (or one under `declares`)", found(sig_type)
    for sig_type, fields in c.payloads.items():
        model = _model(c, sig_type)
        if model is None or sig_type not in c.signal_types():
            return ("payloads", sig_type), "a signal type this contract emits", found(sig_type)
        for name in fields:
            if name not in model.model_fields:
                known = ", ".join(model.model_fields)
                return ("payloads", sig_type, name), f"a payload field ({known})", found(name)
    return None


def _yaml_line(node: Any, loc: tuple[Any, ...]) -> int | None:
    """1-based line of ``loc`` in the composed YAML tree (deepest node found)."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if str(k.value) == str(part)), None)
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
        else:
            node = None
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def found(value: Any) -> str:
    """``repr`` of a contract value cut to 80 characters, for messages."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def problem(
    file: str, node: Any, loc: tuple[Any, ...], expected: str, shown: str, more: int = 0
) -> ConfigError:
    """The error for one problem: file, YAML line (from the composed ``node``), field."""
    line = _yaml_line(node, loc)
    where = f" line {line}" if line else ""
    field = ".".join(str(part) for part in loc) or "(top level)"
    others = f" ({more} more problem(s) after this one)" if more else ""
    return ConfigError(
        f"source contract `{file}`{where}: field `{field}`: expected {expected}, found {shown}"
        f"{others}. Fix the contract file and validate it again."
    )
