"""The contract registry: source contracts published on the compacted
``signalfold.contracts`` topic, so running workers pick a new source up live.

``signalfold sources register FILE`` publishes the contract's YAML under the
source name (latest record per source wins). Ingest workers tail the topic
(:class:`ContractTail`) and swap the contract in between batches, without a
restart and without losing state (ingest has none). Reading a registration
only parses it; its declared types are installed in the process
(:func:`install_contracts`) when the contract is handed to a worker, so a
re-declaration that adds optional fields widens the type. Every process that parses
signals registers the declared types of the active contracts at start
(:func:`install_declared_types`), and re-reads the registry the first time it
meets a signal type it does not know, so a type registered after it started
still parses.

Which contract is active for a source: the registered one, unless a file
(shipped or in ``SIGNALFOLD_CONTRACTS_DIR``) has a higher version.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable
from datetime import datetime

from confluent_kafka import Message, TopicPartition
from pydantic import BaseModel

from signalfold.errors import ConfigError, SignalfoldError
from signalfold.schemas.contract import (
    SourceContract,
    load_contracts,
    parse_contract,
    register_declared_types,
)
from signalfold.schemas.payloads import set_missing_type_hook
from signalfold.settings import Settings
from signalfold.streams.errors import StreamsError
from signalfold.streams.kafka import consumer, is_fence, producer, read_to_end
from signalfold.streams.topics import Topics, ensure_topics

__all__ = [
    "ContractTail",
    "active_contracts",
    "decode_registration",
    "install_contracts",
    "install_declared_types",
    "publish_contract",
    "read_registered",
]

log = logging.getLogger(__name__)

Client = dict[str, str | int]


def publish_contract(
    client: Client, topics: Topics, contract: SourceContract, text: str, *, at: datetime
) -> None:
    """Publish a checked contract's YAML ``text`` as the source's registered contract."""
    value = {
        "name": contract.name,
        "version": contract.version,
        "owner": contract.owner,
        "registered_at": at.isoformat(),
        "yaml": text,
    }
    prod = producer(client)
    failures: list[str] = []
    prod.produce(
        topics.contracts,
        key=contract.name.encode(),
        value=json.dumps(value).encode(),
        on_delivery=lambda err, _m: failures.append(err.str()) if err else None,
    )
    if prod.flush(15) or failures:
        raise StreamsError(
            f"could not publish contract `{contract.name}` to {topics.contracts}: "
            f"{failures[:1] or 'no acknowledgement within 15s'}; check the broker and retry"
        )


def decode_registration(message: Message) -> SourceContract | None:
    """The contract in one registry record; ``None`` for a tombstone or an unreadable one."""
    raw = message.value()
    if not raw:
        return None
    try:
        record = json.loads(raw)
        where = f"{message.topic()}[{message.partition()}]@{message.offset()}"
        return parse_contract(record["yaml"], f"{where} ({record['name']} v{record['version']})")
    except (ValueError, KeyError, TypeError, ConfigError) as exc:
        log.warning("registry record at offset %s skipped: %s", message.offset(), exc)
        return None


def install_contracts(contracts: Iterable[SourceContract]) -> list[SourceContract]:
    """Install each contract's declared types in this process; the ones that could be.

    A contract whose declared type conflicts with the installed one (same
    version, or another source) is left out with an error in the log naming
    the reason: mapping with it would produce signals no process can parse.
    """
    accepted = []
    for contract in contracts:
        try:
            register_declared_types([contract])
        except ConfigError as exc:
            log.error("contract %s v%d not installed: %s", contract.name, contract.version, exc)
            continue
        accepted.append(contract)
    return accepted


def read_registered(
    client: Client, topics: Topics, timeout: float = 30
) -> dict[str, SourceContract]:
    """Every registered contract, latest per source, read to the end of the registry."""
    found: dict[str, SourceContract] = {}

    def handle(message: Message) -> None:
        contract = decode_registration(message)
        if contract is not None:
            found[contract.name] = contract

    read_to_end(client, topics.contracts, handle, timeout=timeout)
    return found


def _overlay(
    files: dict[str, SourceContract], registered: dict[str, SourceContract]
) -> dict[str, SourceContract]:
    out = dict(files)
    for name, contract in registered.items():
        if name not in out or contract.version >= out[name].version:
            out[name] = contract
    return out


def active_contracts(settings: Settings) -> dict[str, SourceContract]:
    """Shipped and configured contract files, overlaid with the registered ones."""
    dirs = [settings.contracts_dir] if settings.contracts_dir else []
    files = load_contracts(dirs)
    topics, client = _ensure_registry(settings)
    return _overlay(files, read_registered(client, topics))


def _ensure_registry(settings: Settings) -> tuple[Topics, Client]:
    topics, client = Topics(settings.topic_prefix), settings.kafka_client_config()
    ensure_topics(
        client,
        [topics.contracts],
        settings.partitions,
        settings.replication_factor,
        compacted={topics.contracts},
        ordered={topics.contracts},
    )
    return topics, client


def install_declared_types(settings: Settings, *, retry_after: float = 2.0) -> None:
    """Make this process parse every declared signal type, now and registered later.

    Registers the active contracts' types, then installs a hook that re-reads
    the registry (at most once per ``retry_after`` seconds) when a signal of an
    unknown type arrives. One call, at the start of resolve, state and serve.
    """
    files = load_contracts([settings.contracts_dir] if settings.contracts_dir else [])
    topics, client = _ensure_registry(settings)
    lock, last = threading.Lock(), [0.0]

    def refresh(signal_type: str) -> type[BaseModel] | None:
        from signalfold.schemas.payloads import PAYLOAD_MODELS

        with lock:
            if time.monotonic() - last[0] >= retry_after:
                last[0] = time.monotonic()
                try:
                    install_contracts(read_registered(client, topics).values())
                except SignalfoldError as exc:
                    log.warning("contract registry unreadable: %s", exc)
            return PAYLOAD_MODELS.get(signal_type)

    install_contracts(files.values())
    try:
        install_contracts(read_registered(client, topics).values())
    except SignalfoldError as exc:  # no registry yet: the files are enough to start
        log.warning("contract registry unreadable at start: %s", exc)
    set_missing_type_hook(refresh)


class ContractTail:
    """Follows the registry without a consumer group: every worker sees every contract.

    ``poll()`` never blocks; ``catch_up()`` reads to the end (a fence), for the
    moment an event arrives on a topic no known contract claims.
    """

    def __init__(self, client: Client, topics: Topics) -> None:
        self._client, self._topics = client, topics
        self._reader = consumer(client, None)
        meta = self._reader.list_topics(topics.contracts, timeout=10).topics[topics.contracts]
        self._reader.assign([TopicPartition(topics.contracts, p, 0) for p in meta.partitions])

    def poll(self) -> list[SourceContract]:
        """Contracts registered since the last call (possibly none), installed."""
        out = []
        for message in self._reader.consume(num_messages=500, timeout=0):
            if message.error() is None and not is_fence(message):
                contract = decode_registration(message)
                if contract is not None:
                    out.append(contract)
        return install_contracts(out)

    def catch_up(self) -> list[SourceContract]:
        """Every registered contract, read to the end now, installed."""
        return install_contracts(read_registered(self._client, self._topics).values())

    def close(self) -> None:
        self._reader.close()
