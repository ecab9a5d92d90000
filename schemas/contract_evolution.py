"""Contract evolution: which changes to a registered source contract are safe.

Additive changes (a new identifier, trait, payload field, raw type value or
declared type; an optional field on a declared type) are accepted under the
same version: events that mapped before map the same way. A breaking change
needs a new version number, because it changes what existing events become:

- a removed identifier, trait, payload field, raw type value or declared type
  (something downstream may use it);
- an identifier whose type, trust or scope changed at the same path (identity
  joins differently);
- a changed record key, event id or event-time mapping (signal ids or times of
  the same raw events change);
- a changed topic, or a new required field on a declared type.

``check_evolution`` raises ``ConfigError`` with every reason; ``breaking_changes``
lists them.
"""

from __future__ import annotations

from signalfold.errors import ConfigError
from signalfold.schemas._contract_model import IdentifierSpec, SourceContract

__all__ = ["breaking_changes", "check_evolution"]


def _removed(kind: str, old: set[str], new: set[str]) -> list[str]:
    return [f"{kind} `{name}` removed" for name in sorted(old - new)]


def _ident(spec: IdentifierSpec) -> str:
    """``email/strong``, or ``email/strong/personal`` when the scope is set."""
    return "/".join(part for part in (spec.type, spec.trust, spec.scope) if part)


def breaking_changes(old: SourceContract, new: SourceContract) -> list[str]:
    """Every change from ``old`` to ``new`` that can alter what existing events become."""
    out: list[str] = []
    if old.topic != new.topic:
        out.append(f"topic changed from `{old.topic}` to `{new.topic}`")
    for key in ("record_key", "event_id", "occurred_at"):
        if getattr(old, key) != getattr(new, key):
            out.append(f"`{key}` mapping changed (the same raw events would map differently)")
    old_ids = {i.path or i.type: i for i in old.identifiers}
    new_ids = {i.path or i.type: i for i in new.identifiers}
    for path, was in sorted(old_ids.items()):
        now = new_ids.get(path)
        if now is None:
            out.append(f"identifier `{was.type}` (path `{path}`) removed")
        elif (now.type, now.trust, now.scope) != (was.type, was.trust, was.scope):
            out.append(f"identifier at `{path}` changed from {_ident(was)} to {_ident(now)}")
    out += _removed("trait", set(old.traits), set(new.traits))
    out += _removed("raw type value", set(old.type.map), set(new.type.map))
    out += _removed("signal type", old.signal_types(), new.signal_types())
    for sig_type, fields in old.payloads.items():
        kept = set(new.payloads.get(sig_type, {}))
        out += _removed(f"payload field of {sig_type}:", set(fields), kept)
    for sig_type, decl in old.declares.items():
        now_decl = new.declares.get(sig_type)
        if now_decl is None:
            out.append(f"declared type `{sig_type}` removed")
            continue
        for name, kind in decl.fields.items():
            if now_decl.fields.get(name) != kind:
                changed = "removed" if name not in now_decl.fields else "changed type"
                out.append(f"declared field `{sig_type}.{name}` {changed}")
        for name, kind in now_decl.fields.items():
            if name not in decl.fields and not kind.startswith("optional "):
                out.append(f"declared field `{sig_type}.{name}` added as required")
    return out


def check_evolution(old: SourceContract, new: SourceContract) -> list[str]:
    """Accept ``new`` as the successor of ``old`` or raise ``ConfigError`` saying why not.

    Returns the breaking changes that a version bump made acceptable (empty
    for an additive change).
    """
    name = new.source_file or new.name
    if new.version < old.version:
        raise ConfigError(
            f"source contract `{name}`: field `version`: expected at least the registered "
            f"version {old.version}, found {new.version}. Bump the version."
        )
    breaking = breaking_changes(old, new)
    if breaking and new.version == old.version:
        raise ConfigError(
            f"source contract `{name}`: breaking change against registered version "
            f"{old.version}: {'; '.join(breaking)}. Keep the change additive, or publish it "
            f"as version {old.version + 1}."
        )
    return breaking
