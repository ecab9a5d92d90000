"""``signalfold dlq …``: see why events were dead-lettered, and replay them after a fix.

``inspect --warnings`` shows, grouped the same way, the optional traits ingest
left out of events that still mapped (``signals.warnings``). Letters and
warnings older than ``SIGNALFOLD_RETENTION_DEAD_LETTERS`` count as deleted,
whether or not the broker deleted them: neither command shows or replays them
(``dlq_retention``).
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


def _read(args: argparse.Namespace, settings: Settings) -> tuple[list[Any], list[Any], str, str]:
    """The letters ``inspect`` shows, those past retention, what to call them, and
    which ones they are."""
    from signalfold.commands._source_counts import unresolved_letters
    from signalfold.commands.dlq_retention import read_expired
    from signalfold.schemas.dlq import DeadLetter, FieldWarning
    from signalfold.streams.topics import Topics

    topics, client = Topics(settings.topic_prefix), settings.kafka_client_config()
    topic = topics.warnings if args.warnings else topics.dlq
    expired = read_expired(client, topic, settings.retention_dead_letters, _now())
    model: type[DeadLetter | FieldWarning] = FieldWarning if args.warnings else DeadLetter
    past = [model.model_validate_json(m.value() or b"") for m in expired.gone]
    if not args.warnings and not args.all:
        gone = {letter.model_dump_json() for letter in past}
        unresolved = unresolved_letters(client, topics)
        letters: list[DeadLetter | FieldWarning] = [
            letter for letter in unresolved if letter.model_dump_json() not in gone
        ]
        past = [letter for letter in unresolved if letter.model_dump_json() in gone]
        return letters, past, "dead letter(s)", ", not replayed yet"
    letters = [model.model_validate_json(m.value() or b"") for m in expired.kept]
    if args.warnings:
        return letters, past, "warning(s)", ""
    return letters, past, "dead letter(s)", ", replayed ones included"


def _hidden(letter: Any) -> tuple[str, str]:
    """What was found, and the reason, without the value (a warning never holds one)."""
    from signalfold.schemas.dlq import FieldWarning

    if isinstance(letter, FieldWarning) or letter.found is None:
        return letter.found or "nothing", letter.reason
    mark = "a value (shown with --show-values)"
    return mark, letter.reason.replace(f"found {letter.found}", "found a value")


def _inspect(args: argparse.Namespace, settings: Settings) -> int:
    from signalfold.bootstrap import key_log
    from signalfold.schemas.dlq import FieldWarning
    from signalfold.streams.ingest.replay import group_by_cause
    from signalfold.streams.keylog import open_letter

    with Progress("reading dead letters"):
        letters, past, noun, which = _read(args, settings)
        if args.show_values and not args.warnings:  # sealed with their records' keys
            opener = key_log(settings)
            opened = (open_letter(letter, opener) for letter in letters)
            letters = [letter for letter in opened if letter is not None]
    if args.source:
        letters = [letter for letter in letters if letter.source == args.source]
        past = [letter for letter in past if letter.source == args.source]
    groups = group_by_cause(letters)
    causes: list[dict[str, Any]] = []
    lines = [f"{len(letters)} {noun} in {len(groups)} cause(s){which}"]
    if past:
        lines.append(f"{len(past)} more not shown: {_past(settings)}")
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
    data = {"letters": len(letters), "which": kind_of, "past_retention": len(past)}
    emit(args, {**data, "causes": causes}, lines)
    return 0


def _past(settings: Settings) -> str:
    from signalfold.settings import format_retention

    period = format_retention(settings.retention_dead_letters)
    return f"older than SIGNALFOLD_RETENTION_DEAD_LETTERS ({period}), past retention"


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from signalfold.bootstrap import key_log
    from signalfold.commands.dlq_retention import read_expired, skip_expired
    from signalfold.streams.ingest.replay import replay
    from signalfold.streams.registry import active_contracts, install_contracts
    from signalfold.streams.topics import Topics

    topics, client, now = Topics(settings.topic_prefix), settings.kafka_client_config(), _now()
    # The group ``replay`` reads with: letters past retention are skipped as if deleted.
    group = f"{topics.prefix}signalfold-dlq-replay" + (f".{args.source}" if args.source else "")
    with Progress("reading the active contracts") as progress:
        contracts = install_contracts(active_contracts(settings).values())
        progress.step("skipping dead letters past retention")
        expired = read_expired(client, topics.dlq, settings.retention_dead_letters, now)
        skipped = skip_expired(client, group, topics.dlq, expired, args.source)
        progress.step("replaying dead letters not replayed yet")
        result = replay(
            client,
            topics,
            {c.name: c for c in contracts},
            now=now,
            max_bytes=settings.max_event_bytes,
            source=args.source,
            keys=key_log(settings),
        )
    data = {
        "read": result.read,
        "mapped": dict(result.mapped),
        "failed": dict(result.failed),
        "past_retention": skipped,
    }
    lines = result.lines()
    if skipped:
        lines.append(f"skipped {skipped} dead letter(s) {_past(settings)}")
    emit(args, data, lines)
    return 0


def _now() -> datetime:
    return datetime.now(UTC)


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
