"""Retention of a serving replica's store: rows past their topic's retention are deleted.

A replica's rows come from topics whose ``retention.ms`` signalfold sets from
the ``SIGNALFOLD_RETENTION_*`` settings (``signalfold topics``; every process
checks it at start): timeline rows from ``signals.resolved`` (full history),
``decision_log`` rows from ``decisions.log``. A broker that enforces retention
deletes expired records a segment at a time; one that does not (the embedded
Tansu on memory storage keeps every record, whatever ``retention.ms`` says)
still hands them to a replica replaying from offset 0. Either way the store
deletes the rows older than the retention of the topic they came from, once
the replica has caught up and then every minute, so what a replica shows does
not depend on how long it has run or on the broker.

The retention is read from the topics rather than from the settings, so a
replica cannot disagree with them (``signalfold topics`` may change it while
replicas run). A replica keeps no dead letters: ``signalfold dlq`` applies
their retention itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource

from signalfold.sinks._log_table import DecisionLogTable
from signalfold.sinks.store import Store
from signalfold.streams.kafka import admin as make_admin
from signalfold.streams.topics import Topics

__all__ = ["StoreRetention", "Swept", "cutoffs", "retention_of"]

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def retention_of(value: str | None) -> timedelta | None:
    """A topic's ``retention.ms`` as a period; ``None`` (kept) for ``-1`` or unset."""
    if value is None or int(value) < 0:
        return None
    return timedelta(milliseconds=int(value))


def cutoffs(retention: Mapping[str, timedelta | None], now: datetime) -> dict[str, datetime]:
    """The oldest time each topic still keeps at ``now``: rows from before it go.

    Topics kept forever have no cut-off and are absent.

    Example::

        cutoffs({"signals.resolved": timedelta(days=30), "decisions.log": None}, now)
        # {"signals.resolved": now - 30 days}
    """
    return {topic: now - period for topic, period in retention.items() if period is not None}


@dataclass(frozen=True)
class Swept:
    """One sweep: its time, the rows it deleted, and the cut-offs it applied."""

    at: datetime
    signals: int
    decisions: int
    cutoffs: Mapping[str, datetime]


class StoreRetention:
    """Deletes a replica's rows past retention; the materializer thread calls ``tick``.

    ``configs`` answers ``retention.ms`` per topic name; the default asks the
    broker (tests pass a function instead).

    Example::

        retention = StoreRetention(client, topics, store, log_table, clock=clock)
        retention.tick(caught_up=True)  # sweeps now, then at most every ``every`` s
    """

    def __init__(
        self,
        client_config: Mapping[str, str | int],
        topics: Topics,
        store: Store,
        decision_log: DecisionLogTable | None = None,
        *,
        clock: Callable[[], datetime] = _utcnow,
        every: float = 60.0,
        configs: Callable[[list[str]], Mapping[str, str | None]] | None = None,
    ) -> None:
        self._client: dict[str, str | int | float | bool] = dict(client_config)
        self._configs = configs or self._describe
        self._topics = topics
        self._store = store
        self._log = decision_log
        self._clock = clock
        self._every = every
        self._admin: AdminClient | None = None
        self._names = [topics.resolved] + ([topics.decisions_log] if decision_log else [])
        self._retention: dict[str, timedelta | None] = {}
        self._due = 0.0  # monotonic time of the next sweep; 0: at the first chance
        self.last: Swept | None = None
        self.swept = threading.Event()  # set after every sweep (tests wait on it)

    def tick(self, caught_up: bool) -> Swept | None:
        """Sweep if the replica has caught up and a sweep is due; else do nothing."""
        if not caught_up or time.monotonic() < self._due:
            return None
        return self.sweep()

    def sweep(self) -> Swept:
        """Read the topics' retention, delete the rows past it; say what went."""
        self._due = time.monotonic() + self._every
        self._read_retention()
        now = self._clock()
        cut = cutoffs(self._retention, now)
        history, decisions = cut.get(self._topics.resolved), cut.get(self._topics.decisions_log)
        signals = self._store.expire(history) if history is not None else 0
        logged = self._log.expire(decisions) if self._log and decisions is not None else 0
        if signals or logged:
            log.info(
                "retention: deleted %d history rows received before %s and %d decision-log "
                "rows logged before %s",
                signals,
                history.isoformat() if history else "-",
                logged,
                decisions.isoformat() if decisions else "-",
            )
        self.last = Swept(now, signals, logged, cut)
        self.swept.set()
        return self.last

    def _read_retention(self) -> None:
        """The topics' ``retention.ms``; an unanswered ask keeps what was read before."""
        try:
            found = self._configs(self._names)
        except KafkaException as exc:
            log.warning("retention: topic configs unreadable (%s); kept as before", exc)
            return
        self._retention.update({name: retention_of(found.get(name)) for name in self._names})

    def _describe(self, names: list[str]) -> dict[str, str | None]:
        """``retention.ms`` of ``names`` as the broker reports it (``None``: not set)."""
        if self._admin is None:
            self._admin = make_admin(self._client)
        resources = [ConfigResource(ConfigResource.Type.TOPIC, n) for n in names]
        found: dict[str, str | None] = {}
        for resource, future in self._admin.describe_configs(resources, request_timeout=2).items():
            entry = future.result().get("retention.ms")
            found[resource.name] = entry.value if entry is not None else None
        return found
