"""The decision log: every answer the API gave, to whom, and why.

Each check made through the API (single or batch) becomes one row: the surface
(the API key's name), the customer, the request, the full decision with its
reasons, and the state version it came from. A request thread buffers one
tuple per call (no per-row object, no serialisation); the background thread
numbers the rows, serialises them and writes them in batches through Arrow, so
a check costs the request a list append, not an insert.

``log_id`` (a per-process random prefix and a counter) is unique by
construction, so the table carries no primary key: its index cost more per
insert than the row, and no writer ever repeats an id.

The log lives in its own DuckDB file next to the serving store
(``decisions-<port>.duckdb``) and is *kept* across restarts: the serving
store is thrown away and rebuilt from Kafka at every start, but what the API
told a caller cannot be rebuilt from anything.
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import orjson
import pyarrow as pa
from pydantic import BaseModel

from signalfold.schemas import SuppressionDecision
from signalfold.sinks.base import BatchingSink
from signalfold.sinks.decision_models import LoggedDecision

__all__ = ["DecisionLog", "DecisionLogSink", "LogRecord", "open_decision_log"]

_TS = pa.timestamp("us", tz="UTC")
DDL = """
CREATE TABLE IF NOT EXISTS decision_log (
    log_id VARCHAR NOT NULL,
    logged_at TIMESTAMPTZ NOT NULL,
    surface VARCHAR NOT NULL,
    customer_id VARCHAR,
    channel VARCHAR NOT NULL,
    purpose VARCHAR NOT NULL,
    outcome VARCHAR NOT NULL,
    state_version BIGINT,
    request JSON NOT NULL,
    decision JSON NOT NULL
)
"""


class LogRecord(NamedTuple):
    """One answer as buffered: serialised only when the batch is written."""

    log_id: str
    logged_at: datetime
    surface: str
    request: BaseModel | dict[str, Any]
    decision: SuppressionDecision


class DecisionLogSink(BatchingSink[LogRecord]):
    """``LogRecord`` → table ``decision_log`` (one Arrow insert per batch)."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection, max_batch: int = 10_000) -> None:
        super().__init__(max_batch)
        self._cur = cursor

    def setup(self) -> None:
        self._cur.execute(DDL)

    def write(self, batch: list[LogRecord]) -> None:
        requests = [
            r.request.model_dump_json(exclude_none=True)
            if isinstance(r.request, BaseModel)
            else orjson.dumps(r.request).decode()  # 3x json.dumps' speed, GIL held
            for r in batch
        ]
        table = pa.table(
            {
                "log_id": [r.log_id for r in batch],
                "logged_at": pa.array([r.logged_at for r in batch], _TS),
                "surface": [r.surface for r in batch],
                "customer_id": [r.decision.customer_id for r in batch],
                "channel": [r.decision.channel for r in batch],
                "purpose": [r.decision.purpose for r in batch],
                "outcome": [r.decision.outcome for r in batch],
                "state_version": pa.array([r.decision.state_version for r in batch], pa.int64()),
                "request": requests,
                "decision": [r.decision.model_dump_json() for r in batch],
            }
        )
        name = f"log_batch_{secrets.token_hex(8)}"
        self._cur.register(name, table)
        try:
            # VARCHAR → JSON is DuckDB's implicit cast; the text is valid JSON by construction.
            self._cur.execute(
                f"INSERT INTO decision_log SELECT log_id, logged_at, surface, customer_id, "
                f"channel, purpose, outcome, state_version, request, decision FROM {name}"
            )
        finally:
            self._cur.unregister(name)


class DecisionLog:
    """Thread-safe front of the sink: ``record`` from request threads, writes in the background.

    Example::

        log = DecisionLog(duckdb.connect(":memory:")).start()
        log.record("newsletter-bot", [(query, decision)], now)
        log.query(customer_id="cus_1")   # flushes first, so it sees its own writes
        log.close()
    """

    def __init__(self, conn: duckdb.DuckDBPyConnection, *, flush_interval: float = 0.25) -> None:
        self._conn = conn
        self._sink = DecisionLogSink(conn.cursor())
        self._sink.setup()
        self._interval = flush_interval
        # (surface, at, answers) per ``record`` call; rows are made when flushed.
        self._pending: list[tuple[str, datetime, Sequence[tuple[Any, Any]]]] = []
        self._buffer_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._ids = itertools.count()
        self._prefix = secrets.token_hex(6)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> DecisionLog:
        """Start the background writer (optional: ``flush`` and ``query`` also write)."""
        self._thread = threading.Thread(target=self._run, name="signalfold-decision-log")
        self._thread.daemon = True
        self._thread.start()
        return self

    def record(
        self,
        surface: str,
        answers: Sequence[tuple[BaseModel | dict[str, Any], SuppressionDecision]],
        at: datetime,
    ) -> None:
        """Buffer the answers given to ``surface`` at ``at`` (the caller must not change them)."""
        with self._buffer_lock:
            self._pending.append((surface, at, answers))

    def flush(self) -> int:
        """Write everything buffered now; returns how many rows were written."""
        # The write lock first: what one flush took is written before another flush (or a
        # query) goes on, so rows are numbered and land in the order they were buffered.
        with self._write_lock:
            with self._buffer_lock:
                calls, self._pending = self._pending, []
            if not calls:
                return 0
            written = 0
            ids, prefix, sink = self._ids, self._prefix, self._sink
            for surface, at, answers in calls:
                for request, decision in answers:
                    sink.add(
                        LogRecord(f"{prefix}-{next(ids):012d}", at, surface, request, decision)
                    )
                written += len(answers)
            sink.flush()
        return written

    def query(
        self,
        *,
        customer_ids: Sequence[str] = (),
        surface: str | None = None,
        limit: int = 100,
    ) -> list[LoggedDecision]:
        """Logged answers, newest first, about ``customer_ids`` and/or to ``surface``."""
        self.flush()
        where, params = [], []
        if customer_ids:
            where.append(f"customer_id IN ({', '.join('?' * len(customer_ids))})")
            params.extend(customer_ids)
        if surface is not None:
            where.append("surface = ?")
            params.append(surface)
        sql = (
            "SELECT log_id, logged_at, surface, customer_id, channel, purpose, outcome, "
            "state_version, request, decision FROM decision_log "
            f"{'WHERE ' + ' AND '.join(where) if where else ''} "
            "ORDER BY logged_at DESC, log_id DESC LIMIT ?"
        )
        params.append(limit)
        with self._write_lock, self._conn.cursor() as cur:
            rows = cur.execute(sql, params).fetchall()
        return [
            LoggedDecision(
                log_id=r[0],
                logged_at=r[1],
                surface=r[2],
                customer_id=r[3],
                channel=r[4],
                purpose=r[5],
                outcome=r[6],
                state_version=r[7],
                request=json.loads(r[8]),
                decision=json.loads(r[9]),
            )
            for r in rows
        ]

    def close(self) -> None:
        """Stop the writer, write what is left, close the connection."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self.flush()
        self._conn.close()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.flush()


def open_decision_log(data_dir: Path, name: str = "decisions") -> DecisionLog:
    """The decision log in ``data_dir/<name>.duckdb``, kept across restarts."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return DecisionLog(duckdb.connect(str(data_dir / f"{name}.duckdb"))).start()
