"""The decision log: buffered answers land in DuckDB and are queried newest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb

from signalfold.schemas import SuppressionDecision
from signalfold.sinks.decision_log import DecisionLog
from signalfold.sinks.decision_models import DecisionQuery

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def _decision(customer_id: str | None, outcome: str = "deny") -> SuppressionDecision:
    return SuppressionDecision.model_validate(
        {
            "outcome": outcome,
            "allowed": outcome == "allow",
            "channel": "email",
            "purpose": "marketing",
            "reasons": [],
            "customer_id": customer_id,
            "state_version": 4 if customer_id else None,
            "known": customer_id is not None,
            "evaluated_at": T0,
        }
    )


def test_records_are_written_in_batches_and_queried_by_customer_and_surface(tmp_path):
    conn = duckdb.connect(str(tmp_path / "log.duckdb"))
    log = DecisionLog(conn)
    q = DecisionQuery(email="a@example.com", channel="email", purpose="marketing")
    log.record("bot-a", [(q, _decision("c1")), (q, _decision(None, "allow"))], T0)
    log.record("bot-b", [(q, _decision("c1", "allow"))], T0 + timedelta(seconds=1))

    about_c1 = log.query(customer_ids=["c1"])
    assert [(e.surface, e.outcome) for e in about_c1] == [("bot-b", "allow"), ("bot-a", "deny")]
    assert about_c1[1].request == {
        "identifier_type": "email",
        "identifier_hash": log.hasher.identifier("email", "a@example.com"),
        "channel": "email",
        "purpose": "marketing",
    }
    assert about_c1[1].state_version == 4 and about_c1[1].decision["outcome"] == "deny"
    assert len(log.query(surface="bot-a")) == 2
    log.close()

    reopened = DecisionLog(duckdb.connect(str(tmp_path / "log.duckdb")))
    assert len(reopened.query()) == 3, "the log survives a restart"
    reopened.close()


def test_a_large_flush_is_split_into_chunks_that_keep_every_row_in_order(monkeypatch):
    from signalfold.sinks import decision_log

    monkeypatch.setattr(decision_log, "CHUNK_BYTES", 4096)
    published: list[list[bytes]] = []

    class Collecting:  # what a Kafka publisher would be handed
        def publish(self, key: bytes, chunks: list[bytes]) -> None:
            published.append(chunks)
            log.table.insert(chunks)  # as the materializer reads them back

        def sync(self, timeout: float) -> bool:
            return True

        def close(self) -> None:
            pass

    log = DecisionLog(duckdb.connect(":memory:"), publisher=Collecting())
    answers = [
        (
            DecisionQuery(email=f"p{i}@example.com", channel="email", purpose="marketing"),
            _decision(f"c{i}"),
        )
        for i in range(200)
    ]
    log.record("bot", answers, T0)
    rows = log.query(surface="bot", limit=1000)
    [chunks] = published
    assert len(chunks) > 1 and all(len(c) <= 4096 for c in chunks)
    assert sum(c.count(b"\n") + 1 for c in chunks) == 200
    hashes = [log.hasher.identifier("email", f"p{i}@example.com") for i in range(200)]
    assert [r.request["identifier_hash"] for r in reversed(rows)] == hashes
    log.close()
