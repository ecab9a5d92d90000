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
    identifiers: [{type: support_user_id, path: requester.id, trust: strong},
                  {type: email, path: requester.work_email, scope: personal}]
    traits: {full_name: requester.name, given_name: {path: requester.name, transform: given_name},
             birth_date: {path: requester.dob, format: "%Y%m%d"},
             address: {join: [requester.street_number, requester.street], sep: " "}}
    type: {field: type, map: {ticket_created: support.ticket.opened},
           rules: [{when: {type: ticket_updated, ticket.status: [solved]}, type: ...}]}
    payloads: {support.ticket.opened: {ticket_id: ticket.id,
               priority: {path: ticket.priority, transform: lower, default: normal}}}

Paths are dotted with array indexes (``order.lines[0].sku``); a missing path is
``None`` unless ``required: true``. A payload field may map an array of objects
with ``{each: order.lines, fields: {product_id: sku}}``. An identifier's
``scope`` (personal, household, organisation) says who its value belongs to,
when the source knows. A trait that does not fit (a bad date, a wrong type) is
dropped with a field-level warning and the event still maps, unless the trait
says ``required: true``; every other field that does not fit dead-letters the
event. Loading checks every
path, transform, trait, signal type and payload field, so a broken contract
fails at start-up with the file, the line and the field, never at event 10,000.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from signalfold.errors import ConfigError
from signalfold.schemas._contract_checks import check_contract, declared_model, found, problem
from signalfold.schemas._contract_model import (
    DeclaredType,
    EachSpec,
    FieldSpec,
    IdentifierSpec,
    SourceContract,
    TimestampSpec,
    TraitSpec,
    Transform,
    TypeRule,
    TypeSpec,
    parse_path,
)
from signalfold.schemas.payloads import register_payload

__all__ = [
    "DeclaredType",
    "EachSpec",
    "FieldSpec",
    "IdentifierSpec",
    "SourceContract",
    "TimestampSpec",
    "TraitSpec",
    "Transform",
    "TypeRule",
    "TypeSpec",
    "load_contract",
    "load_contracts",
    "parse_contract",
    "parse_path",
    "register_declared_types",
]


# libyaml's parser where PyYAML has it, with SafeLoader's constructor and resolver (the
# same data), about ten times faster: every stage start parses every contract.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _told(text: str, exc: yaml.YAMLError) -> yaml.YAMLError:
    """The pure-Python parser's account of a YAML error: it quotes the line, libyaml's not."""
    try:
        yaml.safe_load(text)
    except yaml.YAMLError as pure:
        return pure
    return exc


def parse_contract(text: str, file: str) -> SourceContract:
    """Validate and check one contract's YAML ``text``; ``file`` names it in errors.

    Used for files and for contracts read back from the ``signalfold.contracts``
    topic. Pure: the process's payload registry is not touched, so two versions
    of one contract can be parsed and compared; :func:`register_declared_types`
    installs a contract's declared types when it is put into service.
    """
    try:
        node = yaml.compose(text, Loader=_LOADER)
        data = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        raise ConfigError(f"source contract `{file}`: not valid YAML: {_told(text, exc)}") from None
    if not isinstance(data, dict):
        raise problem(file, node, (), "a mapping of contract fields", found(data))
    try:
        contract = SourceContract.model_validate({**data, "source_file": file})
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = tuple(part for part in err["loc"] if part not in ("field", "each"))
        if err["type"] == "missing":
            expected, shown = "a value (this field is required)", "nothing"
        elif err["type"] == "extra_forbidden":
            expected, shown = "no such key (check the spelling)", f"key `{loc[-1]}`"
        else:
            expected = err["msg"].removeprefix("Input should be ").removeprefix("Value error, ")
            shown = found(err.get("input"))
        raise problem(file, node, loc, expected, shown, exc.error_count() - 1) from None
    failure = check_contract(contract)
    if failure is not None:
        raise problem(file, node, *failure) from None
    return contract


def load_contract(path: str | Path | Any) -> SourceContract:
    """Read, validate and check one contract file; a ``ConfigError`` says what to fix.

    ``path`` may be a filesystem path or an ``importlib.resources`` traversable.
    """
    file = str(path)
    try:
        text = (path if hasattr(path, "read_text") else Path(path)).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"source contract `{file}`: cannot read it ({exc.strerror})") from None
    return parse_contract(text, file)


def register_declared_types(contracts: Iterable[SourceContract]) -> None:
    """Install the signal types ``contracts`` declare in this process's payload registry.

    Call it when contracts go into service (``load_contracts`` does, for the
    process's contract files; the registry tail does for registered ones):
    every process that maps or parses signals of a declared type needs it.
    Added optional fields widen an installed type; a conflicting shape is
    accepted only from a newer version of the declaring source, otherwise a
    ``ConfigError`` names the contract, the type and why.
    """
    for contract in contracts:
        for sig_type, decl in contract.declares.items():
            try:
                register_payload(
                    sig_type,
                    declared_model(sig_type, decl),
                    declared_by=(contract.name, contract.version),
                )
            except ValueError as exc:
                raise ConfigError(
                    f"source contract `{contract.source_file or contract.name}` "
                    f"v{contract.version}: field `declares.{sig_type}`: {exc}. Publish the "
                    f"change as a new version of `{contract.name}`, or keep it additive "
                    "(new fields `optional`)."
                ) from None


def load_contracts(
    dirs: str | Path | Sequence[str | Path] = (),
) -> dict[str, SourceContract]:
    """The shipped contracts plus every ``*.yaml`` in ``dirs``, by source name.

    A file in ``dirs`` replaces a shipped contract of the same name (a newer
    version of the source); two files naming the same source in one place is
    an error. These are the process's contracts, so their declared types are
    installed (only the winning file of each source).
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
    register_declared_types(contracts.values())
    return contracts
