"""``signalfold topics tail NAME``: watch a topic's records, values as pretty JSON.

For anyone who wants to see ``suppression.changes`` or ``customer.state`` move
without writing a consumer, and because some standard clients cannot talk to
the embedded broker (README, "Looking at topics"). ``signalfold topics`` itself
(create what is missing, list) is registered by ``signalfold.commands.pipeline``;
this module, listed after it in ``GROUPS``, adds the actions under it: ``tail``,
and ``create-raw SOURCE`` for a source that sends before it has a contract.

A tail reads with no consumer group (it commits nothing and moves no one's
offsets) and skips the read-to-end fences other commands write.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from signalfold.commands._errors import needs_broker
from signalfold.commands._help import add_command
from signalfold.commands._progress import interactive
from signalfold.errors import SignalfoldError
from signalfold.privacy.sealing import is_sealed
from signalfold.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Callable

    from signalfold.streams.keylog import KeyLog

__all__ = ["record_view", "register"]


def _topic_name(name: str, prefix: str, existing: set[str]) -> str:
    """``name`` as given, or under the configured prefix; raises naming the known topics."""
    for candidate in (name, f"{prefix}{name}"):
        if candidate in existing:
            return candidate
    known = sorted(t for t in existing if t.startswith(prefix) and not t.startswith("__"))
    shown = ", ".join(t.removeprefix(prefix) for t in known[:30]) or "none"
    raise SignalfoldError(
        f"topic `{name}`: not found on the broker (prefix `{prefix}`); known topics: {shown}; "
        "`signalfold topics` creates the pipeline's"
    )


def _decode(value: bytes | None) -> Any:
    if value is None:
        return None
    text = value.decode("utf-8", errors="backslashreplace")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text


ERASED = b'"(erased: the person\'s key is gone)"'


class _LazyKeys:
    """The key log, opened at the first sealed value (a topic may hold none)."""

    def __init__(self, make: Callable[[], KeyLog]) -> None:
        self._make = make
        self._keys: KeyLog | None = None

    def open(self, value: bytes) -> bytes | None:
        if self._keys is None:
            self._keys = self._make()
        return self._keys.open(value)


def record_view(message: Any, keys: Any = None) -> dict[str, Any]:
    """One record as plain data: where it is, its key and time, and its value decoded
    (JSON when it parses, else text; ``None`` for a tombstone). With ``keys`` a sealed
    value is opened; one whose person was erased shows as ``"(erased)"``."""
    _kind, millis = message.timestamp()
    key = message.key()
    value = message.value()
    if keys is not None and is_sealed(value):
        value = keys.open(value) or ERASED
    return {
        "topic": message.topic(),
        "partition": message.partition(),
        "offset": message.offset(),
        "key": None if key is None else key.decode("utf-8", errors="backslashreplace"),
        "timestamp": datetime.fromtimestamp(millis / 1000, UTC).isoformat() if millis else None,
        "value": _decode(value),
    }


def _show(view: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(view, ensure_ascii=False), flush=True)
        return
    where = f"{view['topic']}[{view['partition']}]@{view['offset']}"
    print(f"── {where}  key {view['key']}  {view['timestamp'] or ''}".rstrip())
    value = view["value"]
    if value is None:
        print("(tombstone: the key was deleted)")
    elif isinstance(value, str):
        print(value)
    else:
        print(json.dumps(value, indent=2, ensure_ascii=False))
    sys.stdout.flush()


def _tail(args: argparse.Namespace, settings: Settings) -> int:
    from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, TopicPartition

    from signalfold.bootstrap import key_log
    from signalfold.streams.kafka import consumer, is_fence

    reader = consumer(settings.kafka_client_config(), None)
    keys = _LazyKeys(lambda: key_log(settings))  # a tail shows what the stages read
    try:
        existing = reader.list_topics(timeout=10).topics
        topic = _topic_name(args.name, settings.topic_prefix, set(existing))
        start = OFFSET_BEGINNING if args.from_beginning else OFFSET_END
        reader.assign([TopicPartition(topic, p, start) for p in sorted(existing[topic].partitions)])
        if interactive():
            where = "from the beginning" if args.from_beginning else "new records"
            print(f"tailing {topic}, {where}; Ctrl-C stops", file=sys.stderr)
        key = args.key.encode() if args.key is not None else None
        shown = 0
        while not args.max or shown < args.max:
            for message in reader.consume(100, 0.5):
                if message.error() is not None or is_fence(message):
                    continue
                if key is not None and message.key() != key:
                    continue
                _show(record_view(message, keys), args.json)
                shown += 1
                if args.max and shown >= args.max:
                    break
    except KeyboardInterrupt:
        pass
    finally:
        reader.close()
    return 0


def _create_raw(args: argparse.Namespace, settings: Settings) -> int:
    from signalfold.streams.topics import Topics, ensure_topics

    name = Topics(settings.topic_prefix).raw(args.source)
    ensure_topics(
        settings.kafka_client_config(), [name], settings.partitions, settings.replication_factor
    )
    print(
        f"{name}: ready; its events are dead-lettered as unknown_source until "
        f"`signalfold sources register` gives `{args.source}` a contract (then `dlq replay`)"
    )
    return 0


def register(sub: Any) -> None:
    """Add ``tail`` under the ``topics`` command ``signalfold.commands.pipeline`` made."""
    topics = sub.choices["topics"]
    actions = topics.add_subparsers(dest="topics_command", required=False, metavar="ACTION")
    p = add_command(
        actions,
        "tail",
        "print a topic's records as they arrive, values as pretty JSON; Ctrl-C stops",
        "signalfold topics tail suppression.changes",
        "signalfold topics tail customer.state --from-beginning --key cus_0123456789abcdef0123",
        "signalfold topics tail signals.dlq --from-beginning --max 5 --json | jq .value.reason",
        description="Print a topic's records as they arrive: where each is (partition, "
        "offset), its key and time, and its value as pretty JSON (text when it is not "
        "JSON). NAME is the topic without SIGNALFOLD_TOPIC_PREFIX (the full name works too). "
        "Reads without a consumer group: it moves no one's offsets.",
    )
    p.add_argument("name", metavar="NAME", help="the topic, e.g. suppression.changes")
    p.add_argument(
        "--from-beginning",
        action="store_true",
        help="start at the oldest record kept (default: only records that arrive from now)",
    )
    p.add_argument("--key", help="only records with this key (e.g. a customer id)")
    p.add_argument("--max", type=int, default=0, help="stop after this many records (0: never)")
    p.add_argument(
        "--json",
        action="store_true",
        help="one JSON object a line (topic, partition, offset, key, timestamp, value)",
    )
    p.set_defaults(func=needs_broker(_tail))

    p = add_command(
        actions,
        "create-raw",
        "create the raw topic of a source that has no contract yet",
        "signalfold topics create-raw legacy_erp",
        description="Create signals.raw.SOURCE with the configured partitions and replication, "
        "for a source that sends before its contract is registered, on a broker that does not "
        "create topics on first use (docker compose, most clusters): its events then wait there, "
        "are dead-lettered as unknown_source, and `dlq replay` recovers them once it is "
        "registered. `sources register` creates the topic too.",
    )
    p.add_argument("source", metavar="SOURCE", help="the source's name (as in its contract)")
    p.set_defaults(func=needs_broker(_create_raw))
