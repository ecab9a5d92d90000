"""Source contracts: one declarative YAML file per source says how its raw events
become canonical :class:`~signalfold.schemas.signal.Signal` envelopes.

Adding a source is a new contract file, not new code. The format (see the
shipped files in ``signalfold/defaults/contracts/``)::

    name: support              # the source; topic defaults to signals.raw.<name>
    version: 3
    owner: customer-support
    record_key: requester.id   # a path, or {path, transform, default, required}
    event_id: id
    occurred_at: {path: created, format: "%d/%m/%Y %H:%M:%S", timezone: Europe/London}
    identifiers: [{type: support_user_id, path: requester.id, trust: strong}]
    traits: {full_name: requester.name, given_name: {path: requester.name, transform: given_name}}
    type: {field: type, map: {ticket_created: support.ticket.opened},
           rules: [{when: {type: ticket_updated, ticket.status: [solved]}, type: ...}]}
    payloads: {support.ticket.opened: {ticket_id: ticket.id,
               priority: {path: ticket.priority, transform: lower, default: normal}}}

Paths are dotted with array indexes (``order.lines[0].sku``); a missing path is
``None`` unless ``required: true``. A payload field may map an array of objects
with ``{each: order.lines, fields: {product_id: sku}}``. Loading checks every
path, transform, trait, signal type and payload field, so a broken contract
fails at start-up with the file, the line and the field, never at event 10,000.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    create_model,
    model_validator,
)

from signalfold.errors import ConfigError
from signalfold.schemas.payloads import payload_model_for, register_payload
from signalfold.schemas.signal import Traits, Trust

__all__ = [
    "EachSpec",
    "FieldSpec",
    "IdentifierSpec",
    "SourceContract",
    "TimestampSpec",
    "Transform",
    "TypeRule",
    "TypeSpec",
    "load_contract",
    "load_contracts",
    "parse_path",
]

Transform = Literal["lower", "upper", "strip", "str", "given_name", "family_name"]
PathStep = str | int

_SEGMENT = re.compile(r"^([^.\[\]]+)((?:\[\d+\])*)$")
_INDEX = re.compile(r"\[(\d+)\]")


def parse_path(text: str) -> tuple[PathStep, ...]:
    """Split ``order.lines[0].sku`` into ``("order", "lines", 0, "sku")``.

    Raises ``ValueError`` with the offending segment so the loader can report it.
    """
    steps: list[PathStep] = []
    for segment in text.split("."):
        match = _SEGMENT.match(segment)
        if match is None:
            raise ValueError(f"a path like `a.b[0].c`, found segment {segment!r}")
        steps.append(match.group(1))
        steps.extend(int(i) for i in _INDEX.findall(match.group(2)))
    return tuple(steps)


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FieldSpec(_Spec):
    """Where one value comes from: a path plus optional transforms, value map, default."""

    path: str | None = None
    transform: tuple[Transform, ...] = ()
    values: dict[str, Any] | None = Field(
        default=None, description="Raw value → canonical value; unlisted values pass through."
    )
    default: Any = None
    required: bool = False

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"path": data}
        if isinstance(data, dict) and isinstance(data.get("transform"), str):
            return {**data, "transform": (data["transform"],)}
        return data


class EachSpec(_Spec):
    """Map every object of an array (order lines) to a list of payload objects."""

    each: str
    fields: dict[str, FieldSpec]
    required: bool = False


def _field_or_each(data: Any) -> str:
    return "each" if isinstance(data, dict) and "each" in data else "field"


PayloadField = Annotated[
    Annotated[FieldSpec, Tag("field")] | Annotated[EachSpec, Tag("each")],
    Discriminator(_field_or_each),
]


class IdentifierSpec(FieldSpec):
    """An identifier the source carries, with how far identity may trust it."""

    type: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    trust: Trust = "strong"


class TimestampSpec(_Spec):
    """Event time: ``iso``, ``epoch_s``, ``epoch_ms`` or a ``strptime`` pattern.

    ``timezone`` (IANA name) applies to values that carry no offset.
    """

    path: str
    format: str = "iso"
    timezone: str | None = None


class TypeRule(_Spec):
    """``when`` every path equals its value (or one of a list), the type is ``type``."""

    when: dict[str, Any] = Field(min_length=1)
    type: str


class TypeSpec(_Spec):
    """How the canonical type is chosen: rules first (first match wins), then ``map``."""

    field: str | None = None
    map: dict[str, str] = Field(default_factory=dict)
    rules: tuple[TypeRule, ...] = ()


class DeclaredType(_Spec):
    """A new signal type: payload field → ``str``, ``int``, ``float``, ``bool`` or
    ``decimal``, prefixed ``optional `` when the field may be absent."""

    fields: dict[str, str] = Field(default_factory=dict)


class SourceContract(_Spec):
    """How one source's raw events map to canonical signals (see the module docstring)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    version: int = Field(ge=1)
    owner: str = Field(min_length=1)
    topic: str = ""
    record_key: FieldSpec
    event_id: FieldSpec
    occurred_at: TimestampSpec
    default_region: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    identifiers: tuple[IdentifierSpec, ...] = ()
    traits: dict[str, FieldSpec] = Field(default_factory=dict)
    type: TypeSpec
    payloads: dict[str, dict[str, PayloadField]] = Field(default_factory=dict)
    declares: dict[str, DeclaredType] = Field(default_factory=dict)
    source_file: str | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _default_topic(self) -> SourceContract:
        if not self.topic:
            object.__setattr__(self, "topic", f"signals.raw.{self.name}")
        return self

    def signal_types(self) -> set[str]:
        """Every canonical type this source can emit."""
        return set(self.type.map.values()) | {rule.type for rule in self.type.rules}


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
        if spec.path is None and spec.default is None:
            return loc, "a `path` or a `default`", "neither"
        paths.append(((*loc, "path"), spec.path))
    for loc, text in paths:
        try:
            if text is not None:
                parse_path(text)
        except ValueError as exc:
            return loc, str(exc).split(", found ")[0], _found(text)
    for key in ("record_key", "event_id"):
        if getattr(c, key).path is None:
            return (key, "path"), "a path (the source must send it)", "nothing"
    return None


def _check_time(ts: TimestampSpec) -> Problem | None:
    if ts.timezone is not None:
        try:
            ZoneInfo(ts.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            return (
                ("occurred_at", "timezone"),
                "an IANA zone like Europe/London",
                _found(ts.timezone),
            )
    if ts.format in ("iso", "epoch_s", "epoch_ms"):
        return None
    sample = datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)
    try:
        if "%" not in ts.format or datetime.strptime(sample.strftime(ts.format), ts.format) is None:
            raise ValueError
    except ValueError:
        return (
            ("occurred_at", "format"),
            "iso, epoch_s, epoch_ms or a strptime pattern",
            _found(ts.format),
        )
    if "%z" not in ts.format and ts.timezone is None:
        return ("occurred_at", "timezone"), "a zone, as the pattern has no %z", "nothing"
    return None


def _declare(c: SourceContract) -> Problem | None:
    for sig_type, decl in c.declares.items():
        if not re.match(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$", sig_type):
            return ("declares", sig_type), "a dotted type like support.chat.escalated", "that"
        shape: dict[str, Any] = {}
        for name, kind in decl.fields.items():
            optional = kind.startswith("optional ")
            base = _DECLARED_TYPES.get(kind.removeprefix("optional ").strip())
            if base is None:
                expected = "str, int, float, bool or decimal, optionally after `optional `"
                return ("declares", sig_type, "fields", name), expected, _found(kind)
            shape[name] = (base | None, None) if optional else (base, ...)
        title = "".join(part.title() for part in re.split(r"[._]", sig_type))
        model = create_model(title, __config__=ConfigDict(frozen=True, extra="allow"), **shape)
        try:
            register_payload(sig_type, model)
        except ValueError:
            return ("declares", sig_type), "the same shape as the existing type", "another shape"
    return None


def _check_contract(c: SourceContract) -> Problem | None:
    """What pydantic cannot see: paths, zones, traits, known types and payload fields."""
    problem = _check_paths(c) or _check_time(c.occurred_at) or _declare(c)
    if problem:
        return problem
    for name in c.traits:
        if name not in Traits.model_fields:
            return ("traits", name), f"a trait: {', '.join(Traits.model_fields)}", _found(name)
    if not c.type.rules and (c.type.field is None or not c.type.map):
        return ("type",), "`field` with `map`, or `rules`", "neither"
    emitted = [(("type", "map", raw), t) for raw, t in c.type.map.items()]
    emitted += [(("type", "rules", i, "type"), r.type) for i, r in enumerate(c.type.rules)]
    for loc, sig_type in emitted:
        if payload_model_for(sig_type) is None:
            return loc, "a known signal type (or one under `declares`)", _found(sig_type)
    for sig_type, fields in c.payloads.items():
        model = payload_model_for(sig_type)
        if model is None or sig_type not in c.signal_types():
            return ("payloads", sig_type), "a signal type this contract emits", _found(sig_type)
        for name in fields:
            if name not in model.model_fields:
                known = ", ".join(model.model_fields)
                return ("payloads", sig_type, name), f"a payload field ({known})", _found(name)
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


def _found(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _problem(
    file: str, node: Any, loc: tuple[Any, ...], expected: str, found: str, more: int = 0
) -> ConfigError:
    line = _yaml_line(node, loc)
    where = f" line {line}" if line else ""
    field = ".".join(str(part) for part in loc) or "(top level)"
    others = f" ({more} more problem(s) after this one)" if more else ""
    return ConfigError(
        f"source contract `{file}`{where}: field `{field}`: expected {expected}, found {found}"
        f"{others}. Fix the contract file and restart."
    )


def load_contract(path: str | Path | Any) -> SourceContract:
    """Read, validate and check one contract file; a ``ConfigError`` says what to fix.

    ``path`` may be a filesystem path or an ``importlib.resources`` traversable.
    The contract's new signal types (``declares``) are registered on success.
    """
    file = str(path)
    try:
        text = (path if hasattr(path, "read_text") else Path(path)).read_text(encoding="utf-8")
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except OSError as exc:
        raise ConfigError(f"source contract `{file}`: cannot read it ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"source contract `{file}`: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise _problem(file, node, (), "a mapping of contract fields", _found(data))
    try:
        contract = SourceContract.model_validate({**data, "source_file": file})
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = tuple(part for part in err["loc"] if part not in ("field", "each"))
        if err["type"] == "missing":
            expected, found = "a value (this field is required)", "nothing"
        elif err["type"] == "extra_forbidden":
            expected, found = "no such key (check the spelling)", f"key `{loc[-1]}`"
        else:
            expected = err["msg"].removeprefix("Input should be ").removeprefix("Value error, ")
            found = _found(err.get("input"))
        raise _problem(file, node, loc, expected, found, exc.error_count() - 1) from None
    failure = _check_contract(contract)
    if failure is not None:
        raise _problem(file, node, *failure) from None
    return contract


def load_contracts(
    dirs: str | Path | list[str | Path] | tuple[str | Path, ...] = (),
) -> dict[str, SourceContract]:
    """The shipped contracts plus every ``*.yaml`` in ``dirs``, by source name.

    A file in ``dirs`` replaces a shipped contract of the same name (a newer
    version of the source); two files naming the same source in one place is
    an error.
    """
    if isinstance(dirs, str | Path):
        dirs = [dirs]
    shipped = resources.files("signalfold").joinpath("defaults", "contracts")
    groups: list[list[Any]] = [sorted(p for p in shipped.iterdir() if p.name.endswith(".yaml"))]
    for extra in dirs:
        if not Path(extra).is_dir():
            raise ConfigError(f"source contracts directory `{extra}` does not exist; create it")
        groups.append(sorted(Path(extra).glob("*.yaml")))
    contracts: dict[str, SourceContract] = {}
    for group in groups:
        seen: dict[str, str] = {}
        for file in group:
            contract = load_contract(file)
            if contract.name in seen:
                raise ConfigError(
                    f"source contract `{file}`: source `{contract.name}` is already defined "
                    f"in `{seen[contract.name]}`; keep one file per source"
                )
            seen[contract.name] = str(file)
            contracts[contract.name] = contract
    return contracts
