"""A replica's store forgets rows past their topic's retention (sinks/retention.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import duckdb
import pytest
from sink_factory import T0, resolved, ticket_signal

from signalfold.sinks.decision_log import DecisionLogTable
from signalfold.sinks.retention import StoreRetention, cutoffs, retention_of
from signalfold.sinks.store import Store, signal_row
from signalfold.streams.topics import Topics

TOPICS = Topics("p.")
DAY = 86_400_000


def test_retention_ms_reads_as_a_period_and_minus_one_or_unset_as_forever() -> None:
    assert retention_of("2592000000") == timedelta(days=30)
    assert retention_of("-1") is None and retention_of(None) is None


def test_cutoffs_are_now_minus_each_period_and_forever_has_none() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    found = cutoffs({"a": timedelta(days=30), "b": None, "c": timedelta(hours=12)}, now)
    assert found == {
        "a": datetime(2026, 11, 1, tzinfo=UTC),
        "c": datetime(2026, 11, 30, 12, tzinfo=UTC),
    }


@pytest.fixture
def conn() -> duckdb.DuckDBPyConnection:
    return duckdb.connect(":memory:")


def _logged(log_id: str, at: datetime) -> bytes:
    row = {"log_id": log_id, "logged_at": at.isoformat(), "surface": "bot", "customer_id": "c1",
           "channel": "email", "purpose": "marketing", "outcome": "allow", "state_version": 1,
           "request": "{}", "decision": "{}"}  # fmt: skip
    return json.dumps(row).encode()


def test_a_sweep_deletes_history_and_log_rows_older_than_their_topics_keep(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    store = Store(conn)
    store.setup()
    table = DecisionLogTable(conn)
    # Signals received 0, 10 and 40 days after T0 (ticket_signal's `at` is in minutes).
    for n, days in enumerate((0, 10, 40)):
        sig = ticket_signal(f"e{n}", at=days * 24 * 60)
        store.signals.add(signal_row(resolved("c1", sig)))
    store.flush()
    table.insert([_logged("l0", T0), _logged("l1", T0 + timedelta(days=35))])
    now = [T0 + timedelta(days=31)]
    configs = {TOPICS.resolved: str(30 * DAY), TOPICS.decisions_log: "-1"}
    retention = StoreRetention(
        {}, TOPICS, store, table, clock=lambda: now[0], configs=lambda names: configs
    )
    assert retention.tick(caught_up=False) is None  # not before the replica has caught up
    swept = retention.sweep()
    assert (swept.signals, swept.decisions) == (1, 0)  # the decision log is kept forever
    assert store.count("signals") == 2
    assert swept.cutoffs == {TOPICS.resolved: T0 + timedelta(days=1)}

    # Someone shortens the decision log's retention; time goes on.
    configs[TOPICS.decisions_log] = str(30 * DAY)
    now[0] = T0 + timedelta(days=45)
    swept = retention.sweep()
    assert (swept.signals, swept.decisions) == (1, 1)
    kept = [i.signal.source_event_id for i in store.history(["c1"])]
    assert kept == ["e2"]
    assert [d.log_id for d in table.query()] == ["l1"]


def test_an_unreadable_topic_config_keeps_the_retention_read_before(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    from confluent_kafka import KafkaError, KafkaException

    store = Store(conn)
    store.setup()
    answers: list[dict[str, str | None]] = [{TOPICS.resolved: str(DAY)}]

    def configs(names: list[str]) -> dict[str, str | None]:
        if not answers:
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT))
        return answers.pop()

    retention = StoreRetention({}, TOPICS, store, None, clock=lambda: T0, configs=configs)
    assert retention.sweep().cutoffs == {TOPICS.resolved: T0 - timedelta(days=1)}
    assert retention.sweep().cutoffs == {TOPICS.resolved: T0 - timedelta(days=1)}


def test_tick_sweeps_once_caught_up_then_waits_its_interval(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    store = Store(conn)
    store.setup()
    retention = StoreRetention(
        {}, TOPICS, store, None, clock=lambda: T0, configs=lambda n: {}, every=3600
    )
    assert retention.tick(caught_up=True) is not None
    assert retention.tick(caught_up=True) is None  # the next one is an hour away
