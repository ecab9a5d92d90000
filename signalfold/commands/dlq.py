"""``signalfold dlq …``: see why events were dead-lettered, and replay them after a fix.

``inspect --warnings`` shows, grouped the same way, the optional traits ingest
left out of events that still mapped (``signals.warnings``).
"""

from __future__ import annotations

import argparse
import base64
from datetime import UTC, datetime
from typing import Any

from signalfold.commands._errors import needs_broker
from signalfold.commands._help import add_command
from signalfold.commands._output import add_json_flag, emit
from signalfold.commands._progress import Progress
from signalfold.settings import Settings

__all__ = ["register"]


def _read(args: argparse.Namespace, settings: Settings) -> tuple[list[Any], str, str]:
    """The letters ``inspect`` shows, what to call them, and which ones they are."""
    from signalfold.commands._source_counts import unresolved_letters
    from signalfold.schemas.dlq import DeadLetter, FieldWarning
    from signalfold.streams.kafka import read_to_end
    from signalfold.streams.topics import Topics

    topics = Topics(settings.topic_prefix)
    if not args.warnings and not args.all:
        return (
            unresolved_letters(settings.kafka_client_config(), topics),
            "dead letter(s)",
            ", not replayed yet",
        )
    model: type[DeadLetter | FieldWarning] = FieldWarning if args.warnings else DeadLetter
    letters: list[DeadLetter | FieldWarning] = []
    read_to_end(
        settings.kafka_client_config(),
        topics.warnings if args.warnings else topics.dlq,
        lambda m: letters.append(model.model_validate_json(m.value() or b"")),
    )
    if args.warnings:
        return letters, "warning(s)", ""
    return letters, "dead letter(s)", ", replayed ones included"


def _hidden(letter: Any) -> tuple[str, str]:
    """What was found, and the reason, without the value (a warning never holds one)."""
    from signalfold.schemas.dlq import FieldWarning

    if isinstance(letter, FieldWarning) or letter.found is None:
        return letter.found or "nothing", letter.reason
    mark = "a value (shown with --show-values)"
    return mark, letter.reason.replace(f"found {letter.found}", "found a value")


def _inspect(args: argparse.Namespace, settings: Settings) -> int:
    from signalfold.schemas.dlq import FieldWarning
    from signalfold.streams.ingest.replay import group_by_cause

    with Progress("reading dead letters"):
        letters, noun, which = _read(args, settings)
    if args.source:
        letters = [letter for letter in letters if letter.source == args.source]
    groups = group_by_cause(letters)
    causes: list[dict[str, Any]] = []
    lines = [f"{len(letters)} {noun} in {len(groups)} cause(s){which}"]
    for (source, kind, field, expected), members in groups:
        first = members[0]
        where = [f"{m.topic}[{m.partition}]@{m.offset}" for m in members]
        more = f" and {len(members) - 3} more" if len(members) > 3 else ""
        trait = first.trait if isinstance(first, FieldWarning) else None
        found, reason = (
            (first.found or "nothing", first.reason) if args.show_values else _hidden(first)
        )
        cause: dict[str, Any] = {
            "count": len(members),
            "source": source,
            "kind": kind,
            "field": field,
            "trait": trait,
            "expected": expected,
            "found": found,
            "contract_version": first.contract_version,
            "reason": reason,
            "from": where,
        }
        lines += [
            "",
            f"{len(members):>6}  {source}  {kind}  field {field}"
            + (f" (trait {trait}, dropped)" if trait else ""),
            f"        expected {expected}; e.g. found {found}",
            f"        contract v{first.contract_version or '-'}; from {', '.join(where[:3])}{more}",
            f"        {reason}",
        ]
        if args.show_values and not isinstance(first, FieldWarning):
            raw = base64.b64decode(first.original).decode("utf-8", errors="backslashreplace")
            cut = "…" if len(raw) > 300 or getattr(first, "truncated", False) else ""
            cause["raw"] = raw
            lines.append(f"        raw: {raw[:300]}{cut}")
        causes.append(cause)
    kind_of = "warnings" if args.warnings else "all" if args.all else "unresolved"
    emit(args, {"letters": len(letters), "which": kind_of, "causes": causes}, lines)
    return 0


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from signalfold.streams.ingest.replay import replay
    from signalfold.streams.registry import active_contracts, install_contracts
    from signalfold.streams.topics import Topics

    with Progress("reading the active contracts") as progress:
        contracts = install_contracts(active_contracts(settings).values())
        progress.step("replaying dead letters not replayed yet")
        result = replay(
            settings.kafka_client_config(),
            Topics(settings.topic_prefix),
            {c.name: c for c in contracts},
            now=datetime.now(UTC),
            max_bytes=settings.max_event_bytes,
            source=args.source,
        )
    data = {"read": result.read, "mapped": dict(result.mapped), "failed": dict(result.failed)}
    emit(args, data, result.lines())
    return 0


def register(sub: Any) -> None:
    group = add_command(
        sub,
        "dlq",
        "inspect dead letters by cause; replay them after a fix",
        "signalfold dlq inspect",
        "signalfold dlq replay --source returns_portal",
    )
    cmds = group.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")

    p = add_command(
        cmds,
        "inspect",
        "dead letters not replayed yet (or --all, or --warnings) grouped by cause",
        "signalfold dlq inspect --source returns_portal",
        "signalfold dlq inspect --all --show-values   # operators only: prints personal data",
        "signalfold dlq inspect --json | jq '.causes[].reason'",
        description="Dead letters grouped by (source, kind, field, expected). By default the "
        "latest letter of each raw record that `dlq replay` has not recovered yet (a record "
        "that failed again counts once); --all shows every letter on signals.dlq. Fields "
        "and error kinds only: the values found and the raw bytes are printed with "
        "--show-values.",
    )
    shown = p.add_mutually_exclusive_group()
    shown.add_argument(
        "--unresolved",
        action="store_true",
        help="the latest letter of each record not replayed yet (the default)",
    )
    shown.add_argument(
        "--all", action="store_true", help="every letter on signals.dlq, replayed ones included"
    )
    shown.add_argument(
        "--warnings",
        action="store_true",
        help="optional traits left out of events that still mapped (signals.warnings)",
    )
    p.add_argument("--source", help="only this source")
    p.add_argument(
        "--show-values",
        action="store_true",
        help="also print the values found and the raw bytes (personal data: operators only)",
    )
    add_json_flag(p)
    p.set_defaults(func=needs_broker(_inspect))

    p = add_command(
        cmds,
        "replay",
        "re-map dead letters not replayed yet through the current contracts",
        "signalfold dlq replay",
        "signalfold dlq replay --source returns_portal",
    )
    p.add_argument("--source", help="only this source (tracked separately)")
    add_json_flag(p)
    p.set_defaults(func=needs_broker(_replay))
