"""``signalfold identity``: split a customer, pin records, ask why two records are one.

``split`` and ``pin`` publish an ``IdentityCommand`` on ``identity.commands``
and wait (``--wait`` seconds, 0: don't) for the resolve stage's answer on
``identity.changes``. ``why`` and ``show`` rebuild the identity graph from
``identity.changes`` — the same log the resolve stage rebuilds from — so they
answer with exactly what the pipeline decided. Modules in ``EXTENSIONS`` add
more subcommands to the group (``register_identity(subparsers)``), e.g. ``train``.
"""

from __future__ import annotations

import argparse
import importlib
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from signalfold.commands._help import add_command
from signalfold.commands._output import add_json_flag, emit
from signalfold.commands._progress import Progress
from signalfold.errors import SignalfoldError
from signalfold.settings import Settings

__all__ = ["EXTENSIONS", "register"]

EXTENSIONS: tuple[str, ...] = ("signalfold.commands.identity_model",)


def _publish(settings: Settings, command: Any, wait: float) -> list[Any]:
    """Send ``command``; return the changes answering it (empty when not waiting)."""
    from confluent_kafka import TopicPartition

    from signalfold.bootstrap import key_log
    from signalfold.schemas import IdentityChange
    from signalfold.streams.kafka import consumer, producer
    from signalfold.streams.topics import Topics, command_record

    topics, client = Topics(settings.topic_prefix), settings.kafka_client_config()
    reader = consumer(client, None)
    meta = reader.list_topics(topics.identity_changes, timeout=10).topics[topics.identity_changes]
    start = []
    for p in sorted(meta.partitions):
        _low, high = reader.get_watermark_offsets(TopicPartition(topics.identity_changes, p), 10)
        start.append(TopicPartition(topics.identity_changes, p, max(0, high - 1)))
    reader.assign(start)
    keys = key_log(settings)  # commands name records (often emails): sealed with their keys
    topic, key, body = command_record(topics, command, keys)
    keys.publish()
    sender = producer(client)
    sender.produce(topic, key=key, value=body)
    if sender.flush(10):
        raise SignalfoldError(
            f"identity command {command.command_id}: the broker did not "
            "acknowledge it within 10 s; check SIGNALFOLD_KAFKA_BOOTSTRAP"
        )
    answer: list[IdentityChange] = []
    deadline = time.monotonic() + wait
    try:
        while time.monotonic() < deadline and not answer:
            for message in reader.consume(500, 0.2):
                value = keys.open(message.value()) if message.error() is None else None
                if value:
                    change = IdentityChange.model_validate_json(value)
                    if change.signal_id == command.command_id:
                        answer.append(change)
        for message in reader.consume(500, 0.5):  # the rest of the command's changes
            value = keys.open(message.value()) if message.error() is None else None
            if value:
                change = IdentityChange.model_validate_json(value)
                if change.signal_id == command.command_id:
                    answer.append(change)
    finally:
        reader.close()
    return answer


def _command(args: argparse.Namespace, settings: Settings, **fields: Any) -> int:
    from signalfold.schemas import IdentityCommand

    command = IdentityCommand(
        command_id=f"cmd_{uuid.uuid4().hex}",
        requested_at=datetime.now(UTC),
        note=args.note,
        **fields,
    )
    answer = _publish(settings, command, args.wait)
    lines, code = _answer_lines(command, answer, args.wait)
    data = {
        "sent": command.kind,
        "command_id": command.command_id,
        "answered": bool(answer),
        "changes": [change.model_dump(mode="json") for change in answer],
    }
    emit(args, data, lines)
    return code


def _answer_lines(command: Any, answer: list[Any], wait: float) -> tuple[list[str], int]:
    """What the resolve worker's answer to ``command`` means, and the exit code."""
    from signalfold.identity.operations import REFUSALS

    lines = [f"sent {command.kind} {command.command_id}"]
    if wait <= 0:
        return lines, 0
    if not answer:
        lines.append(
            f"no answer within {wait:.0f}s: is `signalfold worker --stage resolve` running?"
        )
        return lines, 1
    for change in answer:
        rule = change.evidence[0].rule if change.evidence else ""
        if change.kind == "refused" and rule in REFUSALS:  # the command itself was refused
            return [*lines, f"refused ({rule}): {REFUSALS[rule]}"], 1
        if change.kind in ("refused", "related"):  # the re-clustering kept records apart
            apart = f"{change.record_id} {change.other_record_id or ''}".strip()
            lines.append(f"kept apart ({rule}): {apart}")
        elif change.kind == "split":
            lines.append(
                f"split {', '.join(change.records)} out of {change.from_customer_id} "
                f"into {change.customer_id}"
            )
        else:
            lines.append(
                f"{change.kind} {change.record_id} {change.other_record_id or ''} {rule}".strip()
            )
    return lines, 0


def _split(args: argparse.Namespace, settings: Settings) -> int:
    records = tuple(r.strip() for r in args.records.split(",") if r.strip())
    return _command(args, settings, kind="split", customer_id=args.customer_id, records=records)


def _pin(args: argparse.Namespace, settings: Settings) -> int:
    pin = "always" if args.always else "never"
    return _command(args, settings, kind="pin", records=(args.record_a, args.record_b), pin=pin)


def _graph(settings: Settings) -> Any:
    from signalfold.bootstrap import key_log
    from signalfold.identity.graph import IdentityGraph
    from signalfold.streams.kafka import read_to_end
    from signalfold.streams.stages.resolve import apply_change_message
    from signalfold.streams.topics import Topics

    graph = IdentityGraph(default_region=settings.default_region)
    topic = Topics(settings.topic_prefix).identity_changes
    keys = key_log(settings)
    read_to_end(
        settings.kafka_client_config(), topic, lambda m: apply_change_message(graph, m, keys)
    )
    return graph


def _why(args: argparse.Namespace, settings: Settings) -> int:
    with Progress("rebuilding the identity graph from identity.changes"):
        graph = _graph(settings)
    a, b = args.record_a, args.record_b
    path = graph.why(a, b)
    if path is None:
        ca, cb = graph.customer_of_record(a), graph.customer_of_record(b)
        apart = graph.kept_apart(a, b)
        lines = [f"{a} ({ca or 'unknown'}) and {b} ({cb or 'unknown'}) are not one customer"]
        if apart:
            lines.append("kept apart although they share something:")
        for change in apart:
            what = " ".join(_describe(e) for e in change.evidence[:2])
            lines.append(f"  {change.record_id} — {change.other_record_id}: {change.kind} {what}"
                         f"  [{change.change_id} at {change.at.isoformat()}]")  # fmt: skip
        data = {
            "record_a": a,
            "record_b": b,
            "one_customer": False,
            "customers": {a: ca, b: cb},
            "kept_apart": [change.model_dump(mode="json") for change in apart],
        }
        emit(args, data, lines)
        return 1
    customer = graph.customer_of_record(a)
    lines = [f"{a} and {b} are customer {customer}:"]
    links = []
    for link in path:
        lines.append(
            f"  {link.a} — {link.b}: {_describe(link.evidence)}"
            f"  [{link.change_id} at {link.at.isoformat()}]"
        )
        links.append(
            {
                "record_id": link.a,
                "other_record_id": link.b,
                "evidence": link.evidence.model_dump(mode="json"),
                "change_id": link.change_id,
                "at": link.at.isoformat(),
            }
        )
    data = {"record_a": a, "record_b": b, "one_customer": True, "customer_id": customer}
    emit(args, {**data, "links": links}, lines)
    return 0


def _describe(ev: Any) -> str:
    """One piece of evidence as a line: the rule, the identifier, the weight and its parts."""
    what = str(ev.rule)
    if ev.identifier_type:
        what += f" {ev.identifier_type}={ev.identifier_value or ''}"
    if ev.match_weight is not None:
        parts = ", ".join(f"{k} {v:+.2f}" for k, v in sorted(ev.detail.items()))
        what += f" weight {ev.match_weight:.2f} ({parts})"
    return what


def _show(args: argparse.Namespace, settings: Settings) -> int:
    from signalfold.identity.explain import from_graph

    with Progress("rebuilding the identity graph from identity.changes"):
        graph = _graph(settings)
    if not graph.records_of(args.customer_id):
        print(f"no live customer {args.customer_id}")
        return 1
    identity = from_graph(graph, args.customer_id)
    emit(args, identity.model_dump(mode="json"), _show_lines(identity))
    return 0


def _show_lines(identity: Any) -> list[str]:
    """A customer's identity for people: ids, records, links, relationships, refusals."""
    aliases = [i for i in identity.customer_ids if i != identity.customer_id]
    lines = [f"customer {identity.customer_id}"]
    if aliases:
        lines.append(f"  merged into it: {', '.join(aliases)}")
    lines.append(f"records ({len(identity.records)}):")
    lines += [f"  {record}" for record in identity.records]
    lines.append(f"links ({len(identity.links)}):")
    for link in identity.links:
        lines.append(
            f"  {link.record_id} — {link.other_record_id}: {_describe(link.evidence)}"
            f"  [{link.change_id} at {link.at.isoformat()}]"
        )
    for rel in identity.relationships:
        lines.append(
            f"related ({rel.kind}) to {rel.customer_id or 'a customer not live now'}: "
            f"{rel.record_id} — {rel.other_record_id}, {_describe(rel.evidence)}"
        )
    for change in identity.refused:
        what = " ".join(_describe(e) for e in change.evidence[:2])
        lines.append(f"refused merge: {change.record_id} — {change.other_record_id or ''} {what}")
    for change in identity.operator:
        lines.append(f"operator {change.kind}: {change.change_id} at {change.at.isoformat()}")
    lines.append(f"{len(identity.changes)} identity change(s) behind it; --json for all of them")
    return lines


def register(sub: Any) -> None:
    group = add_command(
        sub,
        "identity",
        "split customers, pin records, explain links",
        "signalfold identity why marketing:jane@example.com support:1001",
        "signalfold identity split cus_0123456789abcdef0123 --records support:1001",
        description="Operate the identity graph: split a wrong merge, pin two records never or "
        "always together, explain why records are (or are not) one customer, retrain the "
        "Splink model. Commands travel on identity.commands; the resolve worker answers.",
    )
    isub = group.add_subparsers(dest="identity_command", required=True, metavar="ACTION")

    def waiting(p: argparse.ArgumentParser) -> None:
        p.add_argument("--wait", type=float, default=30, help="seconds to wait for the answer")
        p.add_argument("--note", default=None, help="why, kept with the command for the audit")
        add_json_flag(p)

    p = add_command(
        isub,
        "split",
        "move records out of a customer (each side is named after its oldest record)",
        "signalfold identity split cus_0123456789abcdef0123 --records support:1001,sales:003A",
    )
    p.add_argument("customer_id", help="the customer to split (cus_…)")
    p.add_argument("--records", required=True, help="comma-separated record ids (source:key)")
    waiting(p)
    p.set_defaults(func=_split)

    p = add_command(
        isub,
        "pin",
        "pin two records as never / always the same customer",
        "signalfold identity pin support:1001 marketing:jane@example.com --never",
        "signalfold identity pin support:1001 sales:003A --always",
    )
    p.add_argument("record_a", help="a record id (source:key)")
    p.add_argument("record_b", help="the other record id (source:key)")
    kind = p.add_mutually_exclusive_group(required=True)
    kind.add_argument("--never", action="store_true", help="keep them apart from now on")
    kind.add_argument("--always", action="store_true", help="join them now and from now on")
    waiting(p)
    p.set_defaults(func=_pin)

    p = add_command(
        isub,
        "why",
        "the chain of links joining two records, or what kept them apart",
        "signalfold identity why marketing:jane@example.com support:1001",
    )
    p.add_argument("record_a", help="a record id (source:key)")
    p.add_argument("record_b", help="the other record id (source:key)")
    add_json_flag(p)
    p.set_defaults(func=_why)

    p = add_command(
        isub,
        "show",
        "a customer's records, links, relationships and refused merges",
        "signalfold identity show cus_0123456789abcdef0123",
        "signalfold identity show cus_0123456789abcdef0123 --json   # every change, as JSON",
    )
    p.add_argument("customer_id", help="the customer (cus_…)")
    add_json_flag(p)
    p.set_defaults(func=_show)

    for module in EXTENSIONS:
        importlib.import_module(module).register_identity(isub)
