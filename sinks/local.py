"""Local mode: decisions inside the bot's own process, with no network hop.

``LocalDecisions`` reads ``customer.state`` and ``identity.index`` from Kafka
(every partition, from offset 0, no consumer group) into an in-process
``ServingView`` and answers ``check`` exactly as the HTTP API does — same
identifier normalisation, same policy, same ``decide``. It is as fresh as the
topics (a state lands within one poll, ~100 ms) and costs memory for every
customer's state, so it suits bots that check large send lists often.

Checks made here are not in the service's decision log: the bot owns its own
record of what it did.

    with LocalDecisions(settings) as local:
        local.wait_caught_up(30)
        local.check(email="jane@example.com", channel="email", purpose="marketing")
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NamedTuple

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from signalfold.policy import Decider, Policy, load_policy
from signalfold.privacy.sealing import SubjectIds
from signalfold.privacy.secret import pii_hash_key
from signalfold.schemas import SuppressionDecision
from signalfold.settings import Settings
from signalfold.sinks._index_names import IndexNames
from signalfold.sinks._resolve import declared_identifier_types
from signalfold.sinks.checks import Checks
from signalfold.sinks.errors import TopicMissing
from signalfold.sinks.view import ServingView
from signalfold.streams.kafka import consume_ready, is_fence, offset_of, partition_of, topic_of
from signalfold.streams.kafka import consumer as make_consumer
from signalfold.streams.keylog import KeyLog
from signalfold.streams.topics import Topics

__all__ = ["LocalDecisions"]

log = logging.getLogger(__name__)
_ALIAS_PREFIX = "customer:"


class LocalDecisions:
    """An in-process replica of the decision state; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        *,
        policy: Policy | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings
        self._topics = Topics(prefix=settings.topic_prefix)
        self._policy = policy if policy is not None else load_policy(settings.policy_file)
        self._clock = clock
        # The serving replica's own answer path, unlogged. A typo in an identifier type
        # is an error, not an unknown (allowed) customer.
        self._checks = Checks(
            ServingView(),
            Decider(self._policy),
            clock,
            settings.default_region,
            None,
            types=declared_identifier_types(settings.contracts_dir),
        )
        self._stop = threading.Event()
        self._caught_up = threading.Event()
        self._targets: dict[tuple[str, int], int] = {}
        self._thread: threading.Thread | None = None
        self._keys: KeyLog | None = None  # opened at start: states and index are sealed
        self._names = IndexNames()
        self.applied = 0

    def _route(
        self,
        msg: Any,
        states: list[tuple[str, bytes | None]],
        index: list[tuple[str, str | None]],
        aliases: list[tuple[str, str | None]],
    ) -> None:
        key = (msg.key() or b"").decode()
        value = msg.value()
        if value is not None and self._keys is not None:
            value = self._keys.open(value)  # None: sealed for someone erased since
        if msg.topic() == self._topics.customer_state:
            states.append((key, value))
            return
        entry = None if value is None else json.loads(value)
        customer_id = None if entry is None else str(entry["customer_id"])
        if key.startswith(_ALIAS_PREFIX):
            aliases.append((key[len(_ALIAS_PREFIX) :], customer_id))
            return
        plain = self._names.plain(key, entry)  # keyed by a hash of the identifier
        if plain is not None:
            index.append((plain, customer_id))

    @property
    def view(self) -> ServingView:
        """The states and index checks are answered from (replaceable, e.g. by a bench)."""
        return self._checks.view

    @view.setter
    def view(self, view: ServingView) -> None:
        self._checks.view = view

    def start(self) -> LocalDecisions:
        settings = self._settings
        ids = SubjectIds(pii_hash_key(settings))  # the deployment's secret: SIGNALFOLD_PII_HASH_KEY
        self._keys = KeyLog(settings.kafka_client_config(), self._topics.privacy_keys, ids)
        consumer = make_consumer(self._settings.kafka_client_config(), None)
        try:
            self._assign(consumer)
        except BaseException:
            consumer.close()
            raise
        self._thread = threading.Thread(
            target=self._run, args=(consumer,), name="signalfold-local", daemon=True
        )
        self._thread.start()
        return self

    def wait_caught_up(self, timeout: float) -> bool:
        """Block until the topics were read up to where they ended at start."""
        return self._caught_up.wait(timeout)

    def check(
        self,
        *,
        channel: str,
        purpose: str,
        now: datetime | None = None,
        **identifier: str | None,
    ) -> SuppressionDecision:
        """The decision for one person, like ``GET /v1/suppression/check``.

        Raises ``BadIdentifier`` (with ``.error``) for a missing or invalid identifier.
        """
        get = identifier.get
        query = _Question(
            channel,
            purpose,
            get("email"),
            get("phone"),
            get("customer_id"),
            get("type"),
            get("value"),
            get("product_id"),
            get("category"),
        )
        moment = now if now is not None else self._clock()
        return self._checks.answer(query, moment).decision()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> LocalDecisions:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _assign(self, consumer: Consumer) -> None:
        metadata = consumer.list_topics(timeout=10)
        assignment = []
        for name in (self._topics.customer_state, self._topics.identity_index):
            topic = metadata.topics.get(name)
            if topic is None or topic.error is not None:
                raise TopicMissing(
                    f"topic {name!r} does not exist on the broker; start the pipeline "
                    "before local mode, or check SIGNALFOLD_TOPIC_PREFIX"
                )
            for partition in sorted(topic.partitions):
                tp = TopicPartition(name, partition)
                low, high = consumer.get_watermark_offsets(tp, timeout=10)
                if high > low:
                    self._targets[(name, partition)] = high
                assignment.append(TopicPartition(name, partition, OFFSET_BEGINNING))
        consumer.assign(assignment)
        if not self._targets:
            self._caught_up.set()

    def _run(self, consumer: Consumer) -> None:
        positions: dict[tuple[str, int], int] = {}
        try:
            while not self._stop.is_set():
                batch = consume_ready(consumer, 2000, 0.1)
                states: list[tuple[str, bytes | None]] = []
                index: list[tuple[str, str | None]] = []
                aliases: list[tuple[str, str | None]] = []
                for msg in batch:
                    err = msg.error()
                    if err is not None:
                        if err.code() != KafkaError._PARTITION_EOF:
                            log.warning("local mode: consumer error %s", err.str())
                        continue
                    positions[(topic_of(msg), partition_of(msg))] = offset_of(msg) + 1
                    if not is_fence(msg):
                        self._route(msg, states, index, aliases)
                self.view.apply(states=states, index=index, aliases=aliases)
                self.applied += len(states) + len(index) + len(aliases)
                if all(positions.get(tp, 0) >= end for tp, end in self._targets.items()):
                    self._caught_up.set()
        finally:
            consumer.close()


class _Question(NamedTuple):
    """A ``DecisionQuery`` without validation: local checks are microseconds."""

    channel: str
    purpose: str
    email: str | None
    phone: str | None
    customer_id: str | None
    type: str | None
    value: str | None
    product_id: str | None
    category: str | None
