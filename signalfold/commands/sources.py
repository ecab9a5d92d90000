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

from signalfold.commands._errors import broker_errors, needs_broker, require_broker
from signalfold.commands._help import add_command
from signalfold.errors import ConfigError
from signalfold.settings import Settings

__all__ = ["register"]


def _now() -> datetime:
    return datetime.now(UTC)


def _validate(args: argparse.Namespace, settings: Settings) -> int:
    from signalfold.schemas.contract import load_contract

    contract = load_contract(args.file)
    evolution: list[str] = []
    if args.against:
        evolution = _evolution(args.against, contract, settings)
    # Only now is it known to be ok: every failure above raised.
    types = ", ".join(sorted(contract.signal_types()))
    print(f"ok: `{args.file}` is source `{contract.name}` v{contract.version} ({contract.owner})")
    print(f"  topic {contract.topic}; emits {types}")
    print("\n".join(evolution), end="\n" if evolution else "")
    return 0


def _evolution(against: str, contract: Any, settings: Settings) -> list[str]:
    """What ``contract`` changes against the registered version (or a file); raises
    ``ConfigError`` for a change that is not allowed, naming what it was compared with."""
    from signalfold.schemas.contract import load_contract
    from signalfold.schemas.contract_evolution import check_evolution
    from signalfold.streams.registry import active_contracts

    if against == "registered":
        require_broker(settings)
        old = active_contracts(settings).get(contract.name)
        if old is None:
            return [f"  no registered contract for `{contract.name}`: a new source"]
        baseline = f"registered v{old.version}"
        bumped = check_evolution(old, contract)
    else:
        old = load_contract(against)
        baseline = f"v{old.version} in `{against}`"
        try:
            bumped = check_evolution(old, contract)
        except ConfigError as exc:
            # check_evolution words its refusal for the registry; here the baseline is a file.
            file = f"version {old.version} of `{against}`"
            text = str(exc).replace(f"the registered version {old.version}", file)
            raise ConfigError(text.replace(f"registered version {old.version}", file)) from None
    if not bumped:
        return [f"  compatible with {baseline}: additive changes only"]
    return [
        f"  breaking changes against {baseline}, accepted by the new version {contract.version}:",
        *(f"    - {reason}" for reason in bumped),
    ]


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
    group = add_command(
        sub,
        "sources",
        "validate, test, dry-run, register and list sources",
        "signalfold sources validate examples/returns_portal.yaml",
        "signalfold sources list",
        description="A platform team's tools for adding a source by contract; step by step "
        "in docs/adding-a-source.md.",
    )
    cmds = group.add_subparsers(dest="sources_command", required=True, metavar="ACTION")

    p = add_command(
        cmds,
        "validate",
        "check a contract file (and its evolution)",
        "signalfold sources validate examples/returns_portal.yaml",
        "signalfold sources validate new.yaml --against registered",
        "signalfold sources validate new.yaml --against old.yaml",
    )
    p.add_argument("file", help="the contract (YAML)")
    p.add_argument(
        "--against",
        metavar="registered|FILE",
        help="refuse breaking changes against the registered contract (or a file) "
        "unless the version is bumped",
    )
    p.set_defaults(func=broker_errors(_validate))

    p = add_command(
        cmds,
        "test",
        "map sample events (JSON lines); non-zero exit on errors",
        "signalfold sources test examples/returns_portal.yaml examples/returns_sample.jsonl",
    )
    p.add_argument("file", help="the contract (YAML)")
    p.add_argument("sample", help="sample raw events, one JSON object a line")
    p.set_defaults(func=broker_errors(_test))

    p = add_command(
        cmds,
        "dry-run",
        "what the contract would change, publishing nothing",
        "signalfold sources dry-run examples/returns_portal.yaml --from-topic --limit 100",
    )
    p.add_argument("file", help="the contract (YAML)")
    p.add_argument("--from-topic", action="store_true", help="read the source's raw topic")
    p.add_argument("--limit", type=int, default=0, help="at most this many events (0: all)")
    p.set_defaults(func=needs_broker(_dry_run))

    p = add_command(
        cmds,
        "register",
        "create the topic and publish the contract live",
        "signalfold sources register examples/returns_portal.yaml",
    )
    p.add_argument("file", help="the contract (YAML)")
    p.set_defaults(func=needs_broker(_register))

    p = add_command(
        cmds,
        "list",
        "sources with owners, versions and counts",
        "signalfold sources list",
        description="Sources with owners, versions and counts. "
        "received: records on the raw topic; mapped: distinct signal ids of the "
        "source on signals.canonical; dead: distinct raw records (topic, partition, offset) "
        "whose latest dead letter is not replayed yet (0 after a successful `dlq replay`); "
        "warned: distinct mapped signals that left out an optional trait that did not fit "
        "(see `signalfold dlq inspect --warnings`).",
    )
    p.set_defaults(func=needs_broker(_list))
