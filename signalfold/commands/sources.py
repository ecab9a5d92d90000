"""``signalfold sources …``: a platform team's tools for adding a source by contract.

validate (and ``--against`` the registered version), test on sample events,
dry-run on a sample file or on what is already on the topic, register live,
list. Each prints lines for people, or one JSON document with ``--json``.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from signalfold.commands._errors import broker_errors, needs_broker, require_broker
from signalfold.commands._help import add_command
from signalfold.commands._output import add_json_flag, emit
from signalfold.commands._progress import Progress
from signalfold.commands._samples import read_sample
from signalfold.errors import ConfigError
from signalfold.settings import Settings

__all__ = ["register"]


def _now() -> datetime:
    return datetime.now(UTC)


def _validate(args: argparse.Namespace, settings: Settings) -> int:
    from signalfold.schemas.contract import load_contract

    contract = load_contract(args.file)
    evolution: dict[str, Any] | None = None
    if args.against:
        evolution = _evolution(args.against, contract, settings)
    # Only now is it known to be ok: every failure above raised.
    types = sorted(contract.signal_types())
    lines = [
        f"ok: `{args.file}` is source `{contract.name}` v{contract.version} ({contract.owner})",
        f"  topic {contract.topic}; emits {', '.join(types)}",
    ]
    if evolution is not None:
        lines += evolution.pop("lines")
    data = {
        "ok": True,
        "file": args.file,
        "source": contract.name,
        "version": contract.version,
        "owner": contract.owner,
        "topic": contract.topic,
        "emits": types,
        "evolution": evolution,
    }
    emit(args, data, lines)
    return 0


def _evolution(against: str, contract: Any, settings: Settings) -> dict[str, Any]:
    """What ``contract`` changes against the registered version (or a file); raises
    ``ConfigError`` for a change that is not allowed, naming what it was compared with."""
    from signalfold.schemas.contract import load_contract
    from signalfold.schemas.contract_evolution import check_evolution
    from signalfold.streams.registry import active_contracts

    if against == "registered":
        require_broker(settings)
        old = active_contracts(settings).get(contract.name)
        if old is None:
            line = f"  no registered contract for `{contract.name}`: a new source"
            return {"against": against, "new_source": True, "breaking": [], "lines": [line]}
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
    data: dict[str, Any] = {"against": against, "against_version": old.version}
    if not bumped:
        lines = [f"  compatible with {baseline}: additive changes only"]
    else:
        lines = [
            f"  breaking changes against {baseline}, accepted by the new version "
            f"{contract.version}:",
            *(f"    - {reason}" for reason in bumped),
        ]
    return {**data, "new_source": False, "breaking": list(bumped), "lines": lines}


def _test(args: argparse.Namespace, settings: Settings) -> int:
    from signalfold.schemas.contract import load_contract, register_declared_types
    from signalfold.streams.ingest import DroppedTrait, MappingError, map_event

    contract = load_contract(args.file)
    register_declared_types([contract])  # this process maps with it
    types: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    events: list[dict[str, Any]] = []
    lines: list[str] = []
    for where, raw in read_sample(args.sample):
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
            events.append({"at": where, "error": err.kind, "reason": str(err)})
            lines.append(f"{where}: error {err.kind}: {err}")
            continue
        types[signal.type] += 1
        shown = signal.model_dump(mode="json", exclude={"received_at"}, exclude_none=True)
        event_id = signal.source_event_id
        warnings = [
            {"kind": t.kind, "trait": t.trait, "reason": t.reason(contract.name, event_id)}
            for t in dropped
        ]
        events.append({"at": where, "type": signal.type, "signal": shown, "warnings": warnings})
        lines.append(f"{where}: {signal.type} {json.dumps(shown, sort_keys=True)}")
        lines += [f"{where}: warning {w['kind']}: {w['reason']}" for w in warnings]
    warned = sum(bool(e.get("warnings")) for e in events)
    with_warnings = f", {warned} mapped with warning(s)" if warned else ""
    lines.append(
        f"summary: {sum(types.values())} mapped, {sum(errors.values())} error(s){with_warnings}"
    )
    lines += [f"  {name}: {count}" for name, count in sorted(types.items())]
    lines += [f"  error {kind}: {count}" for kind, count in sorted(errors.items())]
    summary = {"mapped": dict(types), "errors": dict(errors), "warned": warned}
    emit(args, {"source": contract.name, "events": events, "summary": summary}, lines)
    return 1 if errors else 0


def _read_all(settings: Settings, topic: str) -> list[Any]:
    from signalfold.streams.kafka import read_to_end

    messages: list[Any] = []
    read_to_end(settings.kafka_client_config(), topic, messages.append)
    return messages


def _dry_run(args: argparse.Namespace, settings: Settings) -> int:
    from signalfold.bootstrap import key_log
    from signalfold.identity.graph import IdentityGraph
    from signalfold.policy import load_policy
    from signalfold.privacy.secret import pii_hash_key
    from signalfold.schemas.contract import load_contract, register_declared_types
    from signalfold.streams.ingest.dryrun import dry_run, flags_by_customer
    from signalfold.streams.stages.resolve import apply_change_message
    from signalfold.streams.topics import Topics

    contract = load_contract(args.file)
    register_declared_types([contract])  # this process maps with it
    topics = Topics(settings.topic_prefix)
    raw = [event for _where, event in read_sample(args.sample)] if args.sample else None
    graph = IdentityGraph(default_region=settings.default_region, id_key=pii_hash_key(settings))
    keys = key_log(settings)
    with Progress(f"reading {topics.identity_changes}") as progress:
        for message in _read_all(settings, topics.identity_changes):
            apply_change_message(graph, message, keys)
        progress.step(f"reading {topics.customer_state}")
        latest: dict[bytes, bytes | None] = {}
        for message in _read_all(settings, topics.customer_state):
            latest[message.key() or b""] = keys.open(message.value())
        if raw is None:
            progress.step(f"reading {topics.raw(contract.name)}")
            raw = [m.value() or b"" for m in _read_all(settings, topics.raw(contract.name))]
        raw = raw[: args.limit] if args.limit else raw
        progress.step("mapping, resolving and folding events", total=len(raw))
        report = dry_run(
            contract,
            progress.track(raw),
            graph,
            flags_by_customer(v for v in latest.values() if v),
            load_policy(settings.policy_file),
            now=_now(),
            max_bytes=settings.max_event_bytes,
        )
    data = {
        "source": report.source,
        "version": report.version,
        "read_from": args.sample or topics.raw(contract.name),
        "events": report.events,
        "mapped": dict(report.mapped),
        "would_dead_letter": dict(report.errors),
        "warned": dict(report.warned),
        "new_customers": sorted(report.new_customers),
        "existing_customers": sorted(report.existing_customers),
        "merges": [{"absorbed": a, "into": b} for a, b in report.merges],
        "flags_raised": dict(report.flags),
        "published": False,
    }
    emit(args, data, report.lines())
    return 0


def _register(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

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
    lines = [
        f"registered `{contract.name}` v{contract.version}{was} on {topics.contracts}",
        f"  send events to {topics.raw(contract.name)}; running ingest workers pick it up",
    ]
    data = {
        "source": contract.name,
        "version": contract.version,
        "was": old.version if old is not None else None,
        "contracts_topic": topics.contracts,
        "raw_topic": topics.raw(contract.name),
    }
    emit(args, data, lines)
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    from signalfold.bootstrap import key_log
    from signalfold.commands._source_counts import source_counts
    from signalfold.streams.registry import active_contracts
    from signalfold.streams.topics import Topics

    topics = Topics(settings.topic_prefix)
    with Progress(f"reading {topics.contracts}") as progress:
        contracts = active_contracts(settings)
        counts = source_counts(
            settings.kafka_client_config(), topics, on_step=progress.step, keys=key_log(settings)
        )
    rows = []
    for name in sorted(set(contracts) | counts.sources()):
        contract = contracts.get(name)
        rows.append(
            {
                "source": name,
                "version": contract.version if contract else None,
                "owner": contract.owner if contract else None,
                "received": counts.received[name],
                "mapped": counts.mapped[name],
                "dead": counts.dead[name],
                "warned": counts.warned[name],
            }
        )
    lines = [
        f"{'source':<16}{'version':>8}  {'owner':<22}"
        f"{'received':>10}{'mapped':>9}{'dead':>7}{'warned':>8}"
    ]
    for r in rows:
        version = "-" if r["version"] is None else str(r["version"])
        owner = r["owner"] or "(no contract)"
        lines.append(
            f"{r['source']:<16}{version:>8}  {owner:<22}"
            f"{r['received']:>10}{r['mapped']:>9}{r['dead']:>7}{r['warned']:>8}"
        )
    emit(args, {"sources": rows}, lines)
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
        "signalfold sources validate new.yaml --against old.yaml --json",
    )
    p.add_argument("file", help="the contract (YAML)")
    p.add_argument(
        "--against",
        metavar="registered|FILE",
        help="refuse breaking changes against the registered contract (or a file) "
        "unless the version is bumped",
    )
    add_json_flag(p)
    p.set_defaults(func=broker_errors(_validate))

    p = add_command(
        cmds,
        "test",
        "map sample events (JSON lines or a JSON array); non-zero exit on errors",
        "signalfold sources test examples/returns_portal.yaml examples/returns_sample.jsonl",
    )
    p.add_argument("file", help="the contract (YAML)")
    p.add_argument("sample", help="sample raw events: one JSON object a line, or a JSON array")
    add_json_flag(p)
    p.set_defaults(func=broker_errors(_test))

    p = add_command(
        cmds,
        "dry-run",
        "what the contract would change, publishing nothing",
        "signalfold sources dry-run examples/returns_portal.yaml --sample "
        "examples/returns_sample.jsonl",
        "signalfold sources dry-run signalfold/defaults/contracts/billing.yaml --from-topic "
        "--limit 100",
        description="What the contract would change, publishing nothing: its events mapped, "
        "resolved against the live identity graph and folded with the policy; new customers, "
        "existing customers reached, merges and the suppression flags raised. The events come "
        "from a sample file (--sample) or from the source's raw topic (--from-topic).",
    )
    p.add_argument("file", help="the contract (YAML)")
    given = p.add_mutually_exclusive_group(required=True)
    given.add_argument(
        "--sample",
        metavar="FILE",
        help="raw events from a file: one JSON object a line, or a JSON array",
    )
    given.add_argument("--from-topic", action="store_true", help="read the source's raw topic")
    p.add_argument("--limit", type=int, default=0, help="at most this many events (0: all)")
    add_json_flag(p)
    p.set_defaults(func=needs_broker(_dry_run))

    p = add_command(
        cmds,
        "register",
        "create the topic and publish the contract live",
        "signalfold sources register examples/returns_portal.yaml",
    )
    p.add_argument("file", help="the contract (YAML)")
    add_json_flag(p)
    p.set_defaults(func=needs_broker(_register))

    p = add_command(
        cmds,
        "list",
        "sources with owners, versions and counts",
        "signalfold sources list",
        "signalfold sources list --json | jq '.sources[] | select(.dead > 0)'",
        description="Sources with owners, versions and counts. "
        "received: records on the raw topic; mapped: distinct signal ids of the "
        "source on signals.canonical; dead: distinct raw records (topic, partition, offset) "
        "whose latest dead letter is not replayed yet (0 after a successful `dlq replay`); "
        "warned: distinct mapped signals that left out an optional trait that did not fit "
        "(see `signalfold dlq inspect --warnings`).",
    )
    add_json_flag(p)
    p.set_defaults(func=needs_broker(_list))
