"""DuckDB tables of the serving store and the sinks that fill them through Arrow.

Rows arrive as parsed JSON (``dict``) straight from the topics: the serving
process trusts what the pipeline validated, and it may not know every signal
type a source contract declared, so it does not re-validate payloads here.
Each batch becomes one Arrow table, registered and inserted with one
``INSERT … SELECT`` (≈1000x faster than ``executemany`` on these machines).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa

from signalfold.sinks.base import BatchingSink

__all__ = ["IdentityChangeSink", "SignalSink", "change_row", "signal_row"]

_TS = pa.timestamp("us", tz="UTC")

SIGNALS_DDL = """
CREATE TABLE IF NOT EXISTS signals (
    signal_id VARCHAR PRIMARY KEY,
    customer_id VARCHAR NOT NULL,
    type VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    source_event_id VARCHAR NOT NULL,
    record_key VARCHAR NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    identifiers JSON,
    traits JSON,
    payload JSON,
    schema_version INTEGER
)
"""

IDENTITY_DDL = """
CREATE TABLE IF NOT EXISTS identity_changes (
    change_id VARCHAR PRIMARY KEY,
    kind VARCHAR NOT NULL,
    customer_id VARCHAR NOT NULL,
    record_id VARCHAR NOT NULL,
    other_record_id VARCHAR,
    absorbed_ids VARCHAR[],
    signal_id VARCHAR,
    changed_at TIMESTAMPTZ NOT NULL,
    change JSON NOT NULL
)
"""


def _ts(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("timestamp without a timezone")
    return parsed


_SIGNAL_COLUMNS = (
    "signal_id",
    "customer_id",
    "type",
    "source",
    "source_event_id",
    "record_key",
    "occurred_at",
    "received_at",
    "identifiers",
    "traits",
    "payload",
    "schema_version",
)


def signal_row(resolved: dict[str, Any]) -> dict[str, Any]:
    """Row of ``signals`` from a parsed ``Resolved`` of kind ``signal``.

    Raises ``KeyError``/``ValueError``/``TypeError`` for a malformed message,
    so the caller can skip it before it reaches a batch.
    """
    s = resolved["signal"]
    return {
        "signal_id": str(s["signal_id"]),
        "customer_id": str(resolved["customer_id"]),
        "type": str(s["type"]),
        "source": str(s["source"]),
        "source_event_id": str(s["source_event_id"]),
        "record_key": str(s.get("record_key", "")),
        "occurred_at": _ts(s["occurred_at"]),
        "received_at": _ts(s["received_at"]),
        "identifiers": json.dumps(s.get("identifiers", [])),
        "traits": json.dumps(s.get("traits", {})),
        "payload": json.dumps(s.get("payload", {})),
        "schema_version": int(s.get("schema_version", 1)),
    }


def change_row(change: dict[str, Any]) -> dict[str, Any]:
    """Row of ``identity_changes`` from a parsed ``IdentityChange``; raises like ``signal_row``."""
    return {
        "change_id": str(change["change_id"]),
        "kind": str(change["kind"]),
        "customer_id": str(change["customer_id"]),
        "record_id": str(change["record_id"]),
        "other_record_id": change.get("other_record_id"),
        "absorbed_ids": [str(a) for a in change.get("absorbed_ids") or ()],
        "signal_id": change.get("signal_id"),
        "changed_at": _ts(change["at"]),
        "change": json.dumps(change),
    }


def _insert(cur: duckdb.DuckDBPyConnection, table: pa.Table, sql: str) -> None:
    """Register ``table`` under a one-off name, run ``sql`` (``{src}`` = that name), drop it."""
    name = f"batch_{uuid.uuid4().hex}"
    cur.register(name, table)
    try:
        cur.execute(sql.format(src=name))
    finally:
        cur.unregister(name)


class SignalSink(BatchingSink[dict[str, Any]]):
    """``signals.resolved`` rows of kind ``signal`` → table ``signals``.

    A record is a ``signal_row``. Dedupe is by ``signal_id``: the
    same signal delivered twice keeps one row; a later delivery under another
    customer id (re-resolution after a split) moves the row to that customer.
    """

    def __init__(self, cursor: duckdb.DuckDBPyConnection, max_batch: int = 5000) -> None:
        super().__init__(max_batch)
        self._cur = cursor

    def setup(self) -> None:
        self._cur.execute(SIGNALS_DDL)

    def write(self, batch: list[dict[str, Any]]) -> None:
        rows = list({r["signal_id"]: r for r in batch}.values())
        table = pa.table(
            {
                name: pa.array([r[name] for r in rows], _TS if name.endswith("_at") else None)
                for name in _SIGNAL_COLUMNS
            }
        )
        _insert(
            self._cur,
            table,
            "INSERT INTO signals SELECT signal_id, customer_id, type, source, source_event_id, "
            "record_key, occurred_at, received_at, identifiers::JSON, traits::JSON, "
            "payload::JSON, schema_version::INTEGER FROM {src} "
            "ON CONFLICT (signal_id) DO UPDATE SET customer_id = excluded.customer_id",
        )


class IdentityChangeSink(BatchingSink[dict[str, Any]]):
    """``identity.changes`` → table ``identity_changes``, deduplicated by ``change_id``.

    A record is a ``change_row``. The full change is kept as JSON so the API returns it
    exactly as published.
    """

    def __init__(self, cursor: duckdb.DuckDBPyConnection, max_batch: int = 5000) -> None:
        super().__init__(max_batch)
        self._cur = cursor

    def setup(self) -> None:
        self._cur.execute(IDENTITY_DDL)

    def write(self, batch: list[dict[str, Any]]) -> None:
        rows = list({r["change_id"]: r for r in batch}.values())
        table = pa.table(
            {
                "change_id": [r["change_id"] for r in rows],
                "kind": [r["kind"] for r in rows],
                "customer_id": [r["customer_id"] for r in rows],
                "record_id": [r["record_id"] for r in rows],
                "other_record_id": pa.array([r["other_record_id"] for r in rows], pa.string()),
                "absorbed_ids": pa.array([r["absorbed_ids"] for r in rows], pa.list_(pa.string())),
                "signal_id": [r["signal_id"] for r in rows],
                "changed_at": pa.array([r["changed_at"] for r in rows], _TS),
                "change": [r["change"] for r in rows],
            }
        )
        _insert(
            self._cur,
            table,
            "INSERT INTO identity_changes SELECT change_id, kind, customer_id, record_id, "
            "other_record_id, absorbed_ids, signal_id, changed_at, change::JSON FROM {src} "
            "ON CONFLICT (change_id) DO NOTHING",
        )
