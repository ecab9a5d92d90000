"""``signalfold sources …``: a platform team's tools for adding a source by contract.

validate (and ``--against`` the registered version), test on sample events,
dry-run against what is already on the topic, register live, list.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from signalfold.commands._errors import broker_errors
from signalfold.errors import ConfigError
from signalfold.settings import Settings

__all__ = ["register"]


def _now() -> datetime:
    return datetime.now(UTC)


def _validate(args: argparse.Namespace, settings: Settings) -> int:
    from signalfold.schemas.contract import load_contract
    from signalfold.schemas.contract_evolution import check_evolution

    contract = load_contract(args.file)
    types = ", ".join(sorted(contract.signal_types()))
    print(f"ok: `{args.file}` is source `{contract.name}` v{contract.version} ({contract.owner})")
    print(f"  topic {contract.topic}; emits {types}")
    if args.against:
        old = _registered_or_file(args.against, contract.name, settings)
        if old is None:
            print(f"  no registered contract for `{contract.name}`: a new source")
            return 0
        bumped = check_evolution(old, contract)
        if bumped:
            print(f"  breaking changes accepted by the new version {contract.version}:")
            print("\n".join(f"    - {reason}" for reason in bumped))
        else:
            print(f"  compatible with v{old.version}: additive changes only")
    return 0


def _registered_or_file(against: str, name: str, settings: Settings) -> Any:
    from signalfold.schemas.contract import load_contract
    from signalfold.streams.registry import active_contracts

    if against != "registered":
        return load_contract(against)
    return active_contracts(settings).get(name)


def _test(args: argparse.Namespace, settings: Settings) -> int:
    from signalfold.schemas.contract import load_contract, register_declared_types
    from signalfold.streams.ingest import DroppedTrait, MappingError, map_event

    contract = load_contract(args.file)
    register_declared_types([contract])  # this process maps with it
    types: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    warned = 0
    lines = Path(args.sample).read_bytes().splitlines()
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        dropped: list[DroppedTrait] = []
        try:
            signal = map_event(
                contract,
                raw,
                received_at=_now(),
                max_bytes=settings.max_event_bytes,
                dropped=dropped,
            )
        except MappingError as err:
            errors[err.kind] += 1
            print(f"{args.sample}:{number}: error {err.kind}: {err}")
            continue
        types[signal.type] += 1
        warned += bool(dropped)
        shown = signal.model_dump(mode="json", exclude={"received_at"}, exclude_none=True)
        print(f"{args.sample}:{number}: {signal.type} {json.dumps(shown, sort_keys=True)}")
        for trait in dropped:
            text = trait.reason(contract.name, signal.source_event_id)
            print(f"{args.sample}:{number}: warning {trait.kind}: {text}")
    with_warnings = f", {warned} mapped with warning(s)" if warned else ""
    print(f"summary: {sum(types.values())} mapped, {sum(errors.values())} error(s){with_warnings}")
    for name, count in sorted(types.items()):
        print(f"  {name}: {count}")
    for kind, count in sorted(errors.items()):
        print(f"  error {kind}: {count}")
    return 1 if errors else 0


def _read_all(settings: Settings, topic: str) -> list[Any]:
    from signalfold.streams.kafka import read_to_end

    messages: list[Any] = []
    read_to_end(settings.kafka_client_config(), topic, messages.append)
    return messages


def _dry_run(args: argparse.Namespace, settings: Settings) -> int:
    from signalfold.identity.graph import IdentityGraph
    from signalfold.schemas.contract import load_contract, register_declared_types
    from signalfold.streams.ingest.dryrun import dry_run, flags_by_customer
    from signalfold.streams.policy import load_policy
    from signalfold.streams.stages.resolve import apply_change_message
    from signalfold.streams.topics import Topics

    contract = load_contract(args.file)
    register_declared_types([contract])  # this process maps with it
    topics = Topics(settings.topic_prefix)
    if not args.from_topic:
        raise ConfigError("sources dry-run: expected --from-topic (the only input for now)")
    graph = IdentityGraph(default_region=settings.default_region)
    for message in _read_all(settings, topics.identity_changes):
        apply_change_message(graph, message)
    latest: dict[bytes, bytes | None] = {}
    for message in _read_all(settings, topics.customer_state):
        latest[message.key() or b""] = message.value()
    raw = [m.value() or b"" for m in _read_all(settings, topics.raw(contract.name))]
    report = dry_run(
        contract,
        raw[: args.limit] if args.limit else raw,
        graph,
        flags_by_customer(v for v in latest.values() if v),
        load_policy(settings.policy_file),
        now=_now(),
        max_bytes=settings.max_event_bytes,
    )
    print("\n".join(report.lines()))
    return 0


def _register(args: argparse.Namespace, settings: Settings) -> int:
    from signalfold.schemas.contract import load_contract
    from signalfold.schemas.contract_evolution import check_evolution
    from signalfold.streams.registry import active_contracts, publish_contract
    from signalfold.streams.topics import Topics, ensure_topics

    contract = load_contract(args.file)
    old = active_contracts(settings).get(contract.name)
    if old is not None:
        check_evolution(old, contract)
    topics = Topics(settings.topic_prefix)
    ensure_topics(
        settings.kafka_client_config(),
        [topics.raw(contract.name)],
        settings.partitions,
        settings.replication_factor,
    )
    text = Path(args.file).read_text(encoding="utf-8")
    publish_contract(settings.kafka_client_config(), topics, contract, text, at=_now())
    was = f" (was v{old.version})" if old is not None else ""
    print(f"registered `{contract.name}` v{contract.version}{was} on {topics.contracts}")
    print(f"  send events to {topics.raw(contract.name)}; running ingest workers pick it up")
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    from signalfold.commands._source_counts import source_counts
    from signalfold.streams.registry import active_contracts
    from signalfold.streams.topics import Topics

    contracts = active_contracts(settings)
    counts = source_counts(settings.kafka_client_config(), Topics(settings.topic_prefix))
    print(
        f"{'source':<16}{'version':>8}  {'owner':<22}"
        f"{'received':>10}{'mapped':>9}{'dead':>7}{'warned':>8}"
    )
    for name in sorted(set(contracts) | counts.sources()):
        contract = contracts.get(name)
        version = str(contract.version) if contract else "-"
        owner = contract.owner if contract else "(no contract)"
        received, mapped, dead = counts.received[name], counts.mapped[name], counts.dead[name]
        warned = counts.warned[name]
        print(f"{name:<16}{version:>8}  {owner:<22}{received:>10}{mapped:>9}{dead:>7}{warned:>8}")
    return 0


def register(sub: Any) -> None:
    group = sub.add_parser("sources", help="validate, test, dry-run, register and list sources")
    cmds = group.add_subparsers(dest="sources_command", required=True, metavar="ACTION")

    p = cmds.add_parser("validate", help="check a contract file (and its evolution)")
    p.add_argument("file")
    p.add_argument(
        "--against",
        metavar="registered|FILE",
        help="refuse breaking changes against the registered contract (or a file) "
        "unless the version is bumped",
    )
    p.set_defaults(func=broker_errors(_validate))

    p = cmds.add_parser("test", help="map sample events (JSON lines); non-zero exit on errors")
    p.add_argument("file")
    p.add_argument("sample")
    p.set_defaults(func=broker_errors(_test))

    p = cmds.add_parser("dry-run", help="what the contract would change, publishing nothing")
    p.add_argument("file")
    p.add_argument("--from-topic", action="store_true", help="read the source's raw topic")
    p.add_argument("--limit", type=int, default=0, help="at most this many events (0: all)")
    p.set_defaults(func=broker_errors(_dry_run))

    p = cmds.add_parser("register", help="create the topic and publish the contract live")
    p.add_argument("file")
    p.set_defaults(func=broker_errors(_register))

    p = cmds.add_parser(
        "list",
        help="sources with owners, versions and counts",
        description="received: records on the raw topic; mapped: distinct signal ids of the "
        "source on signals.canonical; dead: distinct raw records (topic, partition, offset) "
        "whose latest dead letter is not replayed yet (0 after a successful `dlq replay`); "
        "warned: distinct mapped signals that left out an optional trait that did not fit "
        "(see `signalfold dlq inspect --warnings`).",
    )
    p.set_defaults(func=broker_errors(_list))
