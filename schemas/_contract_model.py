"""The source contract model: pydantic shapes of one contract file (see ``contract``).

Pydantic checks the shape; ``_contract_checks`` checks what it cannot see
(paths, zones, known types). Import from :mod:`signalfold.schemas.contract`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from signalfold.schemas.signal import Scope, Trust

__all__ = [
    "DeclaredType",
    "EachSpec",
    "FieldSpec",
    "IdentifierSpec",
    "PayloadField",
    "SourceContract",
    "TimestampSpec",
    "TraitSpec",
    "Transform",
    "TypeRule",
    "TypeSpec",
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
    scope: Scope | None = Field(
        default=None,
        description="Who the value belongs to, when the source knows: personal, household, "
        "organisation. Unset: identity learns it from the names the value is seen with.",
    )


class TraitSpec(FieldSpec):
    """A trait: one path, or ``join`` of several (empty parts skipped), with a ``format``
    for date traits (``iso``, ``epoch_s``, ``epoch_ms`` or a ``strptime`` pattern).

    Example: ``address: {join: [street_number, address_1, address_2], sep: " "}``.
    """

    join: tuple[str, ...] | None = Field(default=None, min_length=1)
    sep: str | None = None
    format: str | None = None


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
    traits: dict[str, TraitSpec] = Field(default_factory=dict)
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
