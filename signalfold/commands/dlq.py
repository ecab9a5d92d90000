"""``signalfold dlq …``: see why events were dead-lettered, and replay them after a fix.

``inspect --warnings`` shows, grouped the same way, the optional traits ingest
left out of events that still mapped (``signals.warnings``).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from signalfold.commands._errors import broker_errors
from signalfold.settings import Settings

__all__ = ["register"]


def _inspect(args: argparse.Namespace, settings: Settings) -> int:
    from signalfold.schemas.dlq import DeadLetter, FieldWarning
    from signalfold.streams.ingest.replay import group_by_cause
    from signalfold.streams.kafka import read_to_end
    from signalfold.streams.topics import Topics

    topics = Topics(settings.topic_prefix)
    model: type[DeadLetter | FieldWarning] = FieldWarning if args.warnings else DeadLetter
    noun = "warning(s)" if args.warnings else "dead letter(s)"
    letters: list[DeadLetter | FieldWarning] = []
    read_to_end(
        settings.kafka_client_config(),
        topics.warnings if args.warnings else topics.dlq,
        lambda m: letters.append(model.model_validate_json(m.value() or b"")),
    )
    if args.source:
        letters = [letter for letter in letters if letter.source == args.source]
    groups = group_by_cause(letters)
    print(f"{len(letters)} {noun} in {len(groups)} cause(s)")
    for (source, kind, field, expected), members in groups:
        first = members[0]
        where = ", ".join(f"{m.topic}[{m.partition}]@{m.offset}" for m in members[:3])
        more = f" and {len(members) - 3} more" if len(members) > 3 else ""
        trait = f" (trait {first.trait}, dropped)" if isinstance(first, FieldWarning) else ""
        print(f"\n{len(members):>6}  {source}  {kind}  field {field}{trait}")
        print(f"        expected {expected}; e.g. found {first.found or 'nothing'}")
        print(f"        contract v{first.contract_version or '-'}; from {where}{more}")
        print(f"        {first.reason}")
    return 0


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from signalfold.streams.ingest.replay import replay
    from signalfold.streams.registry import active_contracts, install_contracts
    from signalfold.streams.topics import Topics

    contracts = install_contracts(active_contracts(settings).values())
    result = replay(
        settings.kafka_client_config(),
        Topics(settings.topic_prefix),
        {c.name: c for c in contracts},
        now=datetime.now(UTC),
        max_bytes=settings.max_event_bytes,
        source=args.source,
    )
    print("\n".join(result.lines()))
    return 0


def register(sub: Any) -> None:
    group = sub.add_parser("dlq", help="inspect dead letters by cause; replay them after a fix")
    cmds = group.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")

    p = cmds.add_parser("inspect", help="dead letters (or --warnings) grouped by cause")
    p.add_argument("--source", help="only this source")
    p.add_argument(
        "--warnings",
        action="store_true",
        help="optional traits left out of events that still mapped (signals.warnings)",
    )
    p.set_defaults(func=broker_errors(_inspect))

    p = cmds.add_parser(
        "replay",
        help="re-map dead letters not replayed yet through the current contracts",
    )
    p.add_argument("--source", help="only this source (tracked separately)")
    p.set_defaults(func=broker_errors(_replay))
