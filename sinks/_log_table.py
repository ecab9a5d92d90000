"""Table ``decision_log`` of a serving replica's DuckDB store, filled from ``decisions.log``.

Rows arrive as chunks of newline-delimited ``LoggedDecision`` JSON (what
``DecisionLog`` publishes) and DuckDB parses them itself: no Python per row.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from datetime import datetime

import duckdb

from signalfold.sinks.decision_models import LoggedDecision

__all__ = ["DDL", "DecisionLogTable"]

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
    request VARCHAR NOT NULL,  -- JSON text as published (DuckDB's JSON type parsed it twice)
    decision VARCHAR NOT NULL
)
"""
# DuckDB parses the rows itself (no Python per row or field), from a scratch file:
# its reader takes no in-memory buffer without fsspec.
_INSERT = """
INSERT INTO decision_log SELECT * FROM read_json(?, format = 'newline_delimited', columns = {
    log_id: 'VARCHAR', logged_at: 'TIMESTAMPTZ', surface: 'VARCHAR', customer_id: 'VARCHAR',
    channel: 'VARCHAR', purpose: 'VARCHAR', outcome: 'VARCHAR', state_version: 'BIGINT',
    request: 'VARCHAR', decision: 'VARCHAR'})
"""


class DecisionLogTable:
    """Table ``decision_log``: chunks of ``LoggedDecision`` JSON lines in, ``LoggedDecision``s out.

    ``insert`` runs on one writer thread; ``query`` on any (own cursor each).
    """

    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        self._conn = conn
        self._cur = conn.cursor()
        self._cur.execute(DDL)

    def insert(self, chunks: Sequence[bytes]) -> None:
        """Append the rows of ``chunks`` (each newline-delimited ``LoggedDecision`` JSON)."""
        data = b"\n".join(chunk for chunk in chunks if chunk)
        if not data:
            return
        fd, name = tempfile.mkstemp(prefix="signalfold-log-", suffix=".jsonl")
        try:
            with os.fdopen(fd, "wb") as scratch:
                scratch.write(data)
            self._cur.execute(_INSERT, [name])
        finally:
            os.unlink(name)

    def expire(self, logged_before: datetime) -> int:
        """Delete the rows logged before ``logged_before``; returns how many went."""
        with self._conn.cursor() as cur:
            row = cur.execute(
                "DELETE FROM decision_log WHERE logged_at < ?", [logged_before]
            ).fetchone()
            gone = int(row[0]) if row else 0
            if gone:
                cur.execute("CHECKPOINT")  # write the deletion to the file, not only the WAL
        return gone

    def query(
        self,
        *,
        customer_ids: Sequence[str] = (),
        surface: str | None = None,
        identifier_hashes: Sequence[str] = (),
        limit: int = 100,
    ) -> list[LoggedDecision]:
        """Logged answers, newest first, to ``surface`` and about ``customer_ids`` or
        ``identifier_hashes`` (the ``request.identifier_hash`` of a row: either matches).
        """
        where: list[str] = []
        about: list[str] = []
        params: list[str | int] = []
        if customer_ids:
            about.append(f"customer_id IN ({', '.join('?' * len(customer_ids))})")
            params.extend(customer_ids)
        if identifier_hashes:
            about.append(
                "json_extract_string(request, '$.identifier_hash') "
                f"IN ({', '.join('?' * len(identifier_hashes))})"
            )
            params.extend(identifier_hashes)
        if about:
            where.append(f"({' OR '.join(about)})")
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
        with self._conn.cursor() as cur:
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
