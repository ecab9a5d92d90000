"""The policy file's shape: rules, unknown-customer rules, and loading from YAML.

A policy is declarative (see ``signalfold/defaults/policy.yaml``)::

    version: 1
    unknown_customer: {transactional: allow, service: allow, marketing: allow, sales: allow}
    rules:
      - name: open_high_priority_ticket
        kind: open_ticket              # a registered rule kind (kinds.RULE_KINDS)
        department: support
        severity: critical             # info | warning | critical
        effect: deny                   # deny | defer
        channels: all                  # or a list of channels
        purposes: [marketing, sales]   # or all
        reason: "Open {priority}-priority ticket {ticket_id} since {since}"
        for_days: 30                   # optional: flag lasts this long from `since`
        params: {priorities: [high, urgent]}   # kind-specific

Everything is checked at load time, so a typo fails the start, not a decision.
"""

from __future__ import annotations

import string
from functools import cached_property
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from signalfold.policy.errors import PolicyFileError
from signalfold.policy.kinds import RULE_KINDS, known_kinds
from signalfold.schemas.decision import Channel, Purpose

__all__ = ["DEFAULT_POLICY_PATH", "Policy", "Rule", "UnknownCustomerRules", "load_policy"]

DEFAULT_POLICY_PATH = Path(str(files("signalfold") / "defaults" / "policy.yaml"))
ALL_CHANNELS: tuple[Channel, ...] = get_args(Channel)
ALL_PURPOSES: tuple[Purpose, ...] = get_args(Purpose)


class UnknownCustomerRules(BaseModel):
    """The outcome per purpose when no customer matches the identifier asked about."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    transactional: Literal["allow", "deny"] = "allow"
    service: Literal["allow", "deny"] = "allow"
    marketing: Literal["allow", "deny"] = "allow"
    sales: Literal["allow", "deny"] = "allow"


class Rule(BaseModel):
    """One suppression rule; ``params`` holds the validated kind-specific parameters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    kind: str
    department: str = Field(min_length=1)
    severity: Literal["info", "warning", "critical"] = "warning"
    effect: Literal["deny", "defer"] = "deny"
    channels: tuple[Channel, ...] = Field(min_length=1)
    purposes: tuple[Purpose, ...] = Field(min_length=1)
    reason: str = Field(min_length=1)
    for_days: float | None = Field(default=None, gt=0)
    params: Any = Field(default_factory=dict)

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        if kind not in RULE_KINDS:
            raise ValueError(f"unknown rule kind {kind!r}; known kinds: {known_kinds()}")
        return kind

    @field_validator("channels", mode="before")
    @classmethod
    def _all_channels(cls, value: Any) -> Any:
        return ALL_CHANNELS if value == "all" else value

    @field_validator("purposes", mode="before")
    @classmethod
    def _all_purposes(cls, value: Any) -> Any:
        return ALL_PURPOSES if value == "all" else value

    @field_validator("reason")
    @classmethod
    def _template_fields(cls, reason: str, info: ValidationInfo) -> str:
        kind = RULE_KINDS.get(info.data.get("kind", ""))
        if kind is None:
            return reason
        allowed = kind.template_fields()
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(reason) if name is not None}
        except ValueError as exc:
            raise ValueError(f"reason template is malformed ({exc})") from None
        unknown = sorted(names - allowed)
        if unknown:
            raise ValueError(
                f"reason template uses unknown placeholder(s) {unknown}; "
                f"kind {kind.name!r} offers {sorted(allowed)}"
            )
        return reason

    @field_validator("params", mode="before")
    @classmethod
    def _kind_params(cls, value: Any, info: ValidationInfo) -> Any:
        kind = RULE_KINDS.get(info.data.get("kind", ""))
        if kind is None:
            return value
        try:
            return kind.params.model_validate(value or {})
        except ValidationError as exc:
            details = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
                for err in exc.errors()
            )
            raise ValueError(f"invalid params for kind {kind.name!r}: {details}") from None


class Policy(BaseModel):
    """The whole suppression policy: rules evaluated at fold time, unknown-customer rules."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[1] = 1
    unknown_customer: UnknownCustomerRules = UnknownCustomerRules()
    rules: tuple[Rule, ...] = ()
    _source: Path | None = PrivateAttr(default=None)

    # cached_property, not private attributes: ``decide`` reads these per question,
    # and pydantic's private-attribute lookup costs microseconds each time.
    @cached_property
    def _split(self) -> tuple[tuple[Rule, ...], tuple[Rule, ...]]:
        fold = tuple(r for r in self.rules if not RULE_KINDS[r.kind].at_ask)
        ask = tuple(r for r in self.rules if RULE_KINDS[r.kind].at_ask)
        return fold, ask

    def fold_rules(self) -> tuple[Rule, ...]:
        """Rules evaluated when the state changes (``evaluate_flags``)."""
        return self._split[0]

    def ask_rules(self) -> tuple[Rule, ...]:
        """Rules that depend on the moment of the question (``decide``)."""
        return self._split[1]

    @cached_property
    def _types(self) -> frozenset[str]:
        types: set[str] = set()
        for rule in self.rules:
            signal_types = getattr(rule.params, "signal_types", None)
            if signal_types is not None:
                types.update(signal_types())
        return frozenset(types)

    def referenced_types(self) -> frozenset[str]:
        """Signal types the rules read from ``CustomerState.recent``."""
        return self._types

    @property
    def source(self) -> Path | None:
        """The file this policy was loaded from, if any (watched for hot reload)."""
        return self._source

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, rules: tuple[Rule, ...]) -> tuple[Rule, ...]:
        names = [rule.name for rule in rules]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"rule names must be unique; repeated: {duplicates}")
        return rules


def load_policy(path: str | Path | None = None) -> Policy:
    """Read and validate a policy file; ``None`` loads the shipped defaults.

    Raises ``PolicyFileError`` (a ``ConfigError``) naming the file, the rule and the field at fault.
    """
    file = Path(path) if path is not None else DEFAULT_POLICY_PATH
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PolicyFileError(f"policy `{file}`: cannot read the file ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise PolicyFileError(f"policy `{file}`: not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise PolicyFileError(
            f"policy `{file}`: expected a mapping with `rules:`, found {raw!r:.60}"
        )
    try:
        policy = Policy.model_validate(raw)
    except ValidationError as exc:
        raise PolicyFileError(_describe(file, raw, exc)) from None
    policy._source = file
    return policy


def _describe(file: Path, raw: dict[str, Any], exc: ValidationError) -> str:
    """One line per problem: ``policy `f`: rule `name`: field `x`: what is wrong``."""
    found = raw.get("rules")
    rules: list[Any] = found if isinstance(found, list) else []
    lines = []
    for err in exc.errors():
        loc = list(err["loc"])
        where = ""
        if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
            entry = rules[loc[1]] if loc[1] < len(rules) else None
            name = entry.get("name") if isinstance(entry, dict) else None
            where = f"rule `{name}`" if name else f"rule #{loc[1] + 1}"
            loc = loc[2:]
        field = ".".join(str(p) for p in loc)
        parts = [p for p in (where, f"field `{field}`" if field else "") if p]
        message = str(err["msg"]).removeprefix("Value error, ")
        lines.append(f"policy `{file}`: {': '.join(parts)}: {message}")
    return "\n".join(lines)
