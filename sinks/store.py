"""The serving store: a DuckDB database for history (timelines) and identity explanations.

Hot lookups (state by id, identifier → customer) are not here but in
``ServingView``: DuckDB answers primary-key lookups with a scan. The store is
a file the serving process alone owns, thrown away and rebuilt from Kafka at
every start; the connection is passed in, so tests use ``:memory:``.

``signal_row`` and ``change_row`` turn a parsed ``signals.resolved`` or
``identity.changes`` value into the record ``Store.signals`` and
``Store.identity_changes`` take.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from signalfold.schemas import Identifier, IdentityChange, Signal, Traits
from signalfold.sinks._tables import IdentityChangeSink, SignalSink, change_row, signal_row
from signalfold.sinks.errors import InvalidCursor
from signalfold.sinks.models import TimelineItem

__all__ = ["Store", "change_row", "decode_cursor", "encode_cursor", "open_store", "signal_row"]

_COLUMNS = (
    "customer_id, signal_id, type, source, source_event_id, record_key, occurred_at, "
    "received_at, identifiers, traits, payload, schema_version, epoch_us(occurred_at)"
)


def encode_cursor(occurred_us: int, signal_id: str) -> str:
    """Opaque keyset cursor: the (event time, signal id) of the last row handed out."""
    raw = json.dumps([occurred_us, signal_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    """Inverse of ``encode_cursor``; raises ``InvalidCursor`` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        occurred_us, signal_id = json.loads(raw)
        if not isinstance(occurred_us, int) or not isinstance(signal_id, str):
            raise ValueError("wrong types")
    except (ValueError, TypeError, binascii.Error) as exc:
        raise InvalidCursor(
            "cursor is not one this service handed out; pass the `next_cursor` of the "
            "previous page unchanged, or omit it to start from the newest signal"
        ) from exc
    return occurred_us, signal_id


def _signal(row: tuple[Any, ...]) -> Signal:
    # Rows were validated by the pipeline; construct without re-validating so
    # signal types declared by contracts this process never loaded still serve.
    identifiers = tuple(Identifier.model_construct(**i) for i in json.loads(row[8] or "[]"))
    return Signal.model_construct(
        schema_version=row[11] or 1,
        signal_id=row[1],
        source=row[3],
        source_event_id=row[4],
        record_key=row[5],
        type=row[2],
        occurred_at=row[6],
        received_at=row[7],
        identifiers=identifiers,
        traits=Traits.model_construct(**json.loads(row[9] or "{}")),
        payload=json.loads(row[10] or "{}"),
    )


class Store:
    """History tables and their sinks over one DuckDB connection.

    The writer (the materializer thread) uses ``signals``/``identity_changes``
    sinks and ``flush``; readers call ``timeline``/``identity_changes_for``
    from any thread (each query runs on its own cursor).
    """

    def __init__(
        self, conn: duckdb.DuckDBPyConnection, *, max_batch: int = 5000, path: Path | None = None
    ) -> None:
        self._conn = conn
        self._path = path  # the file, deleted on close: a cache of the topics
        self.signals = SignalSink(conn.cursor(), max_batch)
        self.identity_changes = IdentityChangeSink(conn.cursor(), max_batch)

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The store's DuckDB connection (for tables kept beside it: the decision log)."""
        return self._conn

    def setup(self) -> None:
        """Create the tables (idempotent)."""
        self.signals.setup()
        self.identity_changes.setup()

    def flush(self) -> int:
        """Write every buffered row; returns how many were handed to DuckDB."""
        return self.signals.flush() + self.identity_changes.flush()

    def timeline(
        self,
        customer_ids: Sequence[str],
        *,
        limit: int = 50,
        cursor: str | None = None,
        type: str | None = None,
        source: str | None = None,
    ) -> tuple[list[TimelineItem], str | None]:
        """History of ``customer_ids``, newest first, and the cursor of the next page.

        ``type`` matches exactly, or as a prefix when it ends with ``*``
        (``support.*``). Paging is keyset on (occurred_at, signal_id), so rows
        arriving meanwhile never shift a page.
        """
        if not customer_ids:
            return [], None
        where = [f"customer_id IN ({', '.join('?' * len(customer_ids))})"]
        params: list[Any] = list(customer_ids)
        if type is not None and type.endswith("*"):
            where.append("starts_with(type, ?)")
            params.append(type[:-1])
        elif type is not None:
            where.append("type = ?")
            params.append(type)
        if source is not None:
            where.append("source = ?")
            params.append(source)
        if cursor is not None:
            occurred_us, signal_id = decode_cursor(cursor)
            where.append(
                "(epoch_us(occurred_at) < ? OR (epoch_us(occurred_at) = ? AND signal_id < ?))"
            )
            params += [occurred_us, occurred_us, signal_id]
        sql = (
            f"SELECT {_COLUMNS} FROM signals WHERE {' AND '.join(where)} "
            "ORDER BY occurred_at DESC, signal_id DESC LIMIT ?"
        )
        params.append(limit + 1)
        with self._conn.cursor() as cur:
            rows = cur.execute(sql, params).fetchall()
        items = [TimelineItem(customer_id=r[0], signal=_signal(r)) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            next_cursor = encode_cursor(last[12], last[1])
        return items, next_cursor

    def history(self, customer_ids: Sequence[str]) -> list[TimelineItem]:
        """Every signal of ``customer_ids``, oldest first, unpaged (for a subject access export)."""
        if not customer_ids:
            return []
        sql = (
            f"SELECT {_COLUMNS} FROM signals "
            f"WHERE customer_id IN ({', '.join('?' * len(customer_ids))}) "
            "ORDER BY occurred_at, signal_id"
        )
        with self._conn.cursor() as cur:
            rows = cur.execute(sql, list(customer_ids)).fetchall()
        return [TimelineItem(customer_id=r[0], signal=_signal(r)) for r in rows]

    def identity_changes_for(self, customer_ids: Sequence[str]) -> list[IdentityChange]:
        """Every identity change of ``customer_ids`` (created, linked, merged...), oldest first."""
        if not customer_ids:
            return []
        sql = (
            "SELECT change FROM identity_changes "
            f"WHERE customer_id IN ({', '.join('?' * len(customer_ids))}) "
            "ORDER BY changed_at, change_id"
        )
        with self._conn.cursor() as cur:
            rows = cur.execute(sql, list(customer_ids)).fetchall()
        return [IdentityChange.model_validate_json(r[0]) for r in rows]

    def identity_splits_from(self, customer_ids: Sequence[str]) -> list[IdentityChange]:
        """Splits that took records out of ``customer_ids`` (stored under the new id)."""
        if not customer_ids:
            return []
        sql = (
            "SELECT change FROM identity_changes WHERE kind = 'split' AND "
            "json_extract_string(change, '$.from_customer_id') "
            f"IN ({', '.join('?' * len(customer_ids))}) ORDER BY changed_at, change_id"
        )
        with self._conn.cursor() as cur:
            rows = cur.execute(sql, list(customer_ids)).fetchall()
        return [IdentityChange.model_validate_json(r[0]) for r in rows]

    def expire(self, received_before: datetime) -> int:
        """Delete history rows signalfold received before ``received_before``; how many went.

        Retention counts from arrival (``received_at``), as the broker counts
        from when a record was written: a backfill of old events is kept for
        the whole retention. Identity changes are never expired: they are the
        identity graph's log.
        """
        with self._conn.cursor() as cur:
            row = cur.execute(
                "DELETE FROM signals WHERE received_at < ?", [received_before]
            ).fetchone()
            gone = int(row[0]) if row else 0
            if gone:
                cur.execute("CHECKPOINT")  # write the deletion to the file, not only the WAL
        return gone

    def erase(self, customer_ids: Sequence[str]) -> int:
        """Delete an erased customer's rows (any of its ids); how many went.

        Its history, its identity changes, and other customers' changes that name
        one of its records (a relationship, a refused merge) all go.
        """
        ids = [c for c in customer_ids if c]
        if not ids:
            return 0
        self.flush()  # rows still buffered would land after the delete
        marks = ", ".join("?" for _ in ids)
        with self._conn.cursor() as cur:
            records = [
                r[0]
                for r in cur.execute(
                    "SELECT DISTINCT record_id FROM identity_changes "
                    f"WHERE customer_id IN ({marks})",
                    ids,
                ).fetchall()
                if r[0]
            ]
            gone = cur.execute(
                f"DELETE FROM signals WHERE customer_id IN ({marks})", ids
            ).fetchone()
            named = ", ".join("?" for _ in records) or "NULL"
            changes = cur.execute(
                f"DELETE FROM identity_changes WHERE customer_id IN ({marks}) "
                f"OR record_id IN ({named}) "
                f"OR other_record_id IN ({named})",
                [*ids, *records, *records],
            ).fetchone()
            cur.execute("CHECKPOINT")
        return (int(gone[0]) if gone else 0) + (int(changes[0]) if changes else 0)

    def count(self, table: str) -> int:
        """Rows in ``signals`` or ``identity_changes`` (for tests and status)."""
        if table not in ("signals", "identity_changes"):
            raise ValueError(f"unknown table {table!r}; expected signals or identity_changes")
        with self._conn.cursor() as cur:
            row = cur.execute(f"SELECT count(*) FROM {table}").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        """Close, and delete the file: it is rebuilt from the topics at every start, and
        its freed pages may still hold rows deleted since (an erased person's)."""
        self._conn.close()
        if self._path is not None:
            for left in (self._path, self._path.with_suffix(".duckdb.wal")):
                left.unlink(missing_ok=True)


def open_store(data_dir: Path, name: str = "serve") -> Store:
    """A fresh store in ``data_dir/<name>.duckdb``: any previous file is deleted first.

    The file is this process's alone; Kafka is the source of truth, so
    starting from empty and replaying is always correct.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / f"{name}.duckdb"
    for stale in (path, path.with_suffix(".duckdb.wal")):
        stale.unlink(missing_ok=True)
    store = Store(duckdb.connect(str(path), config={"threads": 1}), path=path)
    store.setup()
    return store
