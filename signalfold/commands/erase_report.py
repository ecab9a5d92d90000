"""``signalfold erase-report``: which raw-source offsets still hold an erased person.

Erasure reaches every topic and store signalfold owns, not the raw source
topics: those are the sources' data (``docs/privacy.md``). This command tells
the operator where the person still is there. It reads the request from
``privacy.erasures``, the erased records' keyed ids from the ``erased`` change
on ``identity.changes`` and the request's identifier hashes from
``privacy.do_not_contact``, then every raw topic through its source contract
(``privacy/holdings.py`` judges each event), and prints the offsets per topic
and partition with the topic's ``retention.ms``. It prints offsets only, never
a value. Reading a raw topic to its end writes one fence record to each
partition, which ingest skips (``streams/kafka.py``).
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from signalfold.commands._errors import needs_broker
from signalfold.commands._help import add_command
from signalfold.commands._output import add_json_flag, emit
from signalfold.errors import SignalfoldError
from signalfold.settings import Settings

__all__ = ["register"]


def _request(client: Any, topic: str, request_id: str) -> dict[str, Any]:
    from signalfold.streams.kafka import read_to_end

    found: list[dict[str, Any]] = []

    def seen(message: Any) -> None:
        body = json.loads(message.value() or b"{}")
        if body.get("request_id") == request_id:
            found.append(body)

    read_to_end(client, topic, seen)
    if not found:
        raise SignalfoldError(
            f"erase-report: no erasure request {request_id} on {topic}; give the id "
            "`signalfold erase` printed (era_…)"
        )
    return found[0]


def _person(client: Any, topics: Any, request_id: str) -> tuple[Any, bool]:
    """What outlives the erasure, and whether the resolve owner has applied it."""
    from signalfold.privacy.holdings import ErasedPerson
    from signalfold.privacy.sealing import is_sealed
    from signalfold.streams.kafka import read_to_end

    kids: set[bytes] = set()
    hashes: set[str] = set()
    applied = False

    def change(message: Any) -> None:
        nonlocal applied
        value = message.value() or b""
        if is_sealed(value) or b'"erased"' not in value:
            return  # only the ``erased`` kind is published unsealed
        body = json.loads(value)
        if body.get("kind") == "erased" and body.get("signal_id") == request_id:
            applied = True
            kids.update(bytes.fromhex(kid) for kid in body.get("records", ()))

    def held(message: Any) -> None:
        nonlocal applied
        value = message.value()
        if value is not None and json.loads(value).get("request_id") == request_id:
            applied = True
            hashes.add((message.key() or b"").decode())

    read_to_end(client, topics.identity_changes, change)
    read_to_end(client, topics.do_not_contact, held)
    return ErasedPerson(request_id, frozenset(kids), frozenset(hashes)), applied


def _retention(client: Any, names: list[str]) -> dict[str, int | None]:
    """Each topic's ``retention.ms`` as the broker reports it (None: not set, the default)."""
    from confluent_kafka.admin import ConfigResource

    from signalfold.streams.kafka import admin as make_admin

    admin = make_admin(client)
    resources = [ConfigResource("topic", name) for name in names]
    out: dict[str, int | None] = {}
    for resource, future in admin.describe_configs(resources).items():
        entry = future.result(timeout=10).get("retention.ms")
        out[resource.name] = int(entry.value) if entry is not None and entry.value else None
    return out


def _scan(settings: Settings, person: Any, ids: Any) -> tuple[Any, list[str]]:
    from signalfold.privacy.holdings import RawHoldings
    from signalfold.streams.ingest.errors import MappingError
    from signalfold.streams.ingest.mapping import map_event
    from signalfold.streams.kafka import consumer, read_to_end
    from signalfold.streams.registry import active_contracts
    from signalfold.streams.topics import Topics

    topics, client = Topics(settings.topic_prefix), settings.kafka_client_config()
    contracts = active_contracts(settings)
    regions = {
        name: region
        for name, contract in contracts.items()
        if (region := getattr(contract, "default_region", None))
    }
    holdings = RawHoldings(
        person, ids, region_for=lambda source: regions.get(source, settings.default_region)
    )
    meta = consumer(client, None)
    try:
        existing = meta.list_topics(timeout=10).topics
    finally:
        meta.close()
    raw = sorted(t for t in existing if t.startswith(topics.raw("")))
    now = datetime.now(UTC)
    for topic in raw:
        source = topic.removeprefix(topics.raw(""))
        contract = contracts.get(source)

        def judge(message: Any, source: str = source, contract: Any = contract) -> None:
            where = (message.topic(), message.partition(), message.offset())
            if contract is not None:
                try:
                    signal = map_event(
                        contract,
                        message.value() or b"",
                        received_at=now,
                        max_bytes=settings.max_event_bytes,
                    )
                except MappingError:
                    pass
                else:
                    holdings.check(signal, *where)
                    return
            holdings.check_unmapped(source, message.key(), *where)

        read_to_end(client, topic, judge, timeout=600)
    return holdings, raw


@needs_broker
def _report(args: argparse.Namespace, settings: Settings) -> int:
    from signalfold.bootstrap import key_log
    from signalfold.privacy.holdings import ranges
    from signalfold.streams.topics import Topics

    topics, client = Topics(settings.topic_prefix), settings.kafka_client_config()
    request = _request(client, topics.erasures, args.request_id)
    keys = key_log(settings)  # refuses a secret other than the deployment's
    keys.close()
    person, applied = _person(client, topics, args.request_id)
    if not applied:
        raise SignalfoldError(
            f"erase-report: request {args.request_id} is not applied yet (no `erased` change "
            "and no do-not-contact entry for it); is resolve running? try again shortly"
        )
    holdings, raw = _scan(settings, person, keys.ids)
    retention = _retention(client, raw) if raw else {}
    held = []
    for (topic, partition), offsets in sorted(holdings.offsets.items()):
        kept = retention.get(topic)
        held.append(
            {
                "topic": topic,
                "partition": partition,
                "offsets": [list(run) for run in ranges(offsets)],
                "count": len(offsets),
                "retention_ms": kept,
                "delete_before": max(offsets) + 1,
            }
        )
    data = {
        "request_id": args.request_id,
        "requested_at": request.get("requested_at"),
        "records_erased": len(person.record_kids),
        "identifiers_held": len(person.identifier_hashes),
        "raw_topics_read": raw,
        "raw_events_read": holdings.read,
        "held": held,
    }
    emit(args, data, _lines(data))
    return 0


def _lines(data: dict[str, Any]) -> list[str]:
    count = sum(h["count"] for h in data["held"])
    lines = [
        f"erase-report: request {data['request_id']}: {data['records_erased']} record(s) and "
        f"{data['identifiers_held']} identifier(s) erased; {data['raw_events_read']} raw "
        f"event(s) read in {len(data['raw_topics_read'])} topic(s)",
    ]
    if not count:
        lines.append("no raw offset holds the person any more")
        return lines
    lines.append(f"{count} raw event(s) still hold the person (the sources' data):")
    for h in data["held"]:
        runs = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in h["offsets"])
        kept = h["retention_ms"]
        until = (
            "kept until deleted (no retention.ms set)"
            if kept is None or kept < 0
            else f"gone within {timedelta(milliseconds=kept)} (retention.ms={kept})"
        )
        lines.append(f"  {h['topic']} partition {h['partition']}: offsets {runs}; {until}")
    lines.append(
        "to remove them: delete the records before `delete_before` (--json; it takes "
        "everyone's events before it: kafka-delete-records.sh), shorten the topic's "
        "retention.ms, or have the source delete and re-send"
    )
    return lines


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "erase-report",
        "list the raw-source offsets that still hold an erased person (offsets, no values)",
        "signalfold erase-report era_0f3c9a1b2d4e5f60",
        "signalfold erase-report era_0f3c9a1b2d4e5f60 --json",
    )
    p.add_argument("request_id", help="the erasure request id (`signalfold erase` printed it)")
    add_json_flag(p)
    p.set_defaults(func=_report)
