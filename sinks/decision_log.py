"""The decision log: every answer the API gave, to whom, and why.

Each check made through the API (single or batch) becomes one row: the surface
(the API key's name), the customer, the request, the full decision with its
reasons, and the state version it came from. A request buffers one tuple per
call (no per-row object, no serialisation); a background thread numbers the
rows and serialises each once, as the ``LoggedDecision`` JSON.

Where the rows go:

- A serving replica (``publisher`` given) publishes them to the
  ``decisions.log`` topic, kept forever, like every log in Kafka: each
  message is a chunk of rows as newline-delimited JSON (at most
  ``CHUNK_BYTES``), keyed by the replica's log-id prefix, so a replica's
  rows stay in order on one partition and cost one message per chunk. Every
  replica's materializer reads that topic into its own ``DecisionLogTable``,
  so any replica answers "who was told what" for the answers of all of
  them, and the table is rebuilt from Kafka at every start like the rest of
  the serving store. A query first waits until this replica's own rows are
  back from the topic (it sees its own writes).
- Without a publisher (tests, a notebook) rows go straight into the table.

A row never carries the identifier a question named: ``request`` keeps its
type and keyed hash (``identifier_type``, ``identifier_hash``: see
``sinks.pii``) with the channel, purpose, product and category, so the log
(kept forever, and holding people who are not customers) answers "what was
this address told?" only to someone who holds the address and the API.

``log_id`` (a per-process random prefix and a counter) is unique by
construction, so the table carries no primary key: its index cost more per
insert than the row, and no writer ever repeats an id.
"""

from __future__ import annotations

import functools
import itertools
import secrets
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

import duckdb
import orjson
from pydantic import BaseModel

from signalfold.policy import Answer
from signalfold.sinks._log_table import DecisionLogTable
from signalfold.sinks.decision_models import LoggedDecision
from signalfold.sinks.pii import IdentifierHasher

__all__ = ["DecisionLog", "DecisionLogTable", "LogPublisher"]

_ROW = (
    b'%b%012d","customer_id":%b,"channel":%b,"purpose":%b,"outcome":%b,'
    b'"state_version":%b,"request":%b,"decision":%b}'
)
CHUNK_BYTES = 512 * 1024  # well under Kafka's default 1 MB message limit


class LogPublisher(Protocol):
    """Where a replica's rows go: ``publish`` them, ``sync`` waits until they are readable."""

    def publish(self, key: bytes, chunks: list[bytes]) -> None: ...

    def sync(self, timeout: float) -> bool: ...

    def close(self) -> None: ...


class DecisionLog:
    """Thread-safe front: ``record`` from request threads; rows leave in the background.

    Example::

        log = DecisionLog(DecisionLogTable(duckdb.connect(":memory:"))).start()
        log.record("newsletter-bot", [(query, decision)], now)
        log.query(customer_ids=["cus_1"])   # flushes first, so it sees its own writes
        log.close()
    """

    def __init__(
        self,
        table: DecisionLogTable | duckdb.DuckDBPyConnection,
        *,
        publisher: LogPublisher | None = None,
        flush_interval: float = 0.25,
        sync_timeout: float = 5.0,
        hasher: IdentifierHasher | None = None,
    ) -> None:
        # No hasher given (tests, a notebook): a key of this process alone, never plain values.
        self.hasher = hasher or IdentifierHasher(secrets.token_bytes(32))
        self._owned = None if isinstance(table, DecisionLogTable) else table  # closed with us
        self.table = table if isinstance(table, DecisionLogTable) else DecisionLogTable(table)
        self._publisher = publisher
        self._interval, self._sync_timeout = flush_interval, sync_timeout
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
        answers: Sequence[tuple[BaseModel | dict[str, Any], Any]],
        at: datetime,
    ) -> None:
        """Buffer the answers given to ``surface`` at ``at`` (the caller must not change them).

        Each answer is a (request, decision) pair: a ``SuppressionDecision`` or
        the fast path's ``Answer``.
        """
        with self._buffer_lock:
            self._pending.append((surface, at, answers))

    def flush(self) -> int:
        """Write (or publish) everything buffered now; returns how many rows."""
        # The write lock first: what one flush took is written before another flush (or a
        # query) goes on, so rows are numbered and leave in the order they were buffered.
        with self._write_lock:
            with self._buffer_lock:
                calls, self._pending = self._pending, []
            rows = self._rows(calls)
            if rows:
                chunks = _chunks(rows)
                if self._publisher is not None:
                    self._publisher.publish(self._prefix.encode(), chunks)
                else:
                    self.table.insert(chunks)
            elif self._publisher is not None:
                self._publisher.publish(self._prefix.encode(), [])  # sends again what failed
        return len(rows)

    def _rows(self, calls: list[tuple[str, datetime, Sequence[tuple[Any, Any]]]]) -> list[bytes]:
        """One ``LoggedDecision`` JSON per answer, numbered in order.

        Written by formatting rather than through a dict: a batch of 10,000
        answers is 10,000 rows, and this runs holding the GIL. Every string
        that is not a fixed enum value goes through ``orjson.dumps``.
        """
        rows: list[bytes] = []
        ids, prefix, dumps, enum = self._ids, self._prefix.encode(), orjson.dumps, _enum_json
        hashed = self.hasher.logged
        for surface, at, answers in calls:
            head = b'{"logged_at":%b,"surface":%b,"log_id":"%b-' % (
                dumps(at),
                dumps(surface),
                prefix,
            )
            for request, decision in answers:
                if isinstance(request, BaseModel):
                    request = request.model_dump(mode="json", exclude_none=True)
                if type(decision) is Answer:
                    raw = decision.json
                else:
                    raw = decision.model_dump_json().encode()
                if _FACTS in raw:
                    raw = _without_facts(raw)
                version = decision.state_version
                rows.append(
                    _ROW
                    % (
                        head,
                        next(ids),
                        dumps(decision.customer_id),
                        enum(decision.channel),
                        enum(decision.purpose),
                        enum(decision.outcome),
                        b"null" if version is None else b"%d" % version,
                        dumps(_audited(request, hashed)),
                        raw,
                    )
                )
        return rows

    def query(
        self,
        *,
        customer_ids: Sequence[str] = (),
        surface: str | None = None,
        identifier_hashes: Sequence[str] = (),
        limit: int = 100,
    ) -> list[LoggedDecision]:
        """Logged answers, newest first, about ``customer_ids`` and/or to ``surface``.

        ``identifier_hashes`` (from ``hasher``) also selects the questions that
        named one of those identifiers, customers or not.

        This replica's own answers so far are included (it waits for them up
        to ``sync_timeout``); other replicas' as soon as their rows arrive.
        """
        self.flush()
        if self._publisher is not None:
            self._publisher.sync(self._sync_timeout)
        return self.table.query(
            customer_ids=customer_ids,
            surface=surface,
            identifier_hashes=identifier_hashes,
            limit=limit,
        )

    def close(self) -> None:
        """Stop the writer and write what is left (the publisher delivers it).

        A connection given to the constructor is closed too; a table's is its owner's.
        """
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self.flush()
        if self._publisher is not None:
            self._publisher.close()
        if self._owned is not None:
            self._owned.close()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.flush()


def _audited(request: dict[str, Any], hashed: Any) -> dict[str, Any]:
    """``request`` with its identifier replaced by type and keyed hash (customer ids stay).

    >>> _audited({"email": "a@b.co", "channel": "email"}, lambda t, v: "h")
    {'identifier_type': 'email', 'identifier_hash': 'h', 'channel': 'email'}
    """
    if "email" in request or "phone" in request:
        type_ = "email" if "email" in request else "phone"
        value = request[type_]
    elif "value" in request:
        type_, value = str(request.get("type")), request["value"]
    else:
        return request  # named by customer id, or by nothing: no value to hide
    rest = {k: v for k, v in request.items() if k not in ("email", "phone", "type", "value")}
    return {"identifier_type": type_, "identifier_hash": hashed(type_, str(value)), **rest}


@functools.lru_cache(maxsize=256)
def _enum_json(value: str) -> bytes:
    """JSON of a channel, purpose or outcome (a handful of values, encoded once each)."""
    return orjson.dumps(value)


def _chunks(rows: list[bytes]) -> list[bytes]:
    """Rows joined by newlines into chunks of at most ``CHUNK_BYTES`` (one row at least)."""
    chunks: list[bytes] = []
    start, size = 0, 0
    for i, row in enumerate(rows):
        if size and size + len(row) + 1 > CHUNK_BYTES:
            chunks.append(b"\n".join(rows[start:i]))
            start, size = i, 0
        size += len(row) + 1
    chunks.append(b"\n".join(rows[start:]))
    return chunks


_FACTS = b'"details":{"'


def _without_facts(decision: bytes) -> bytes:
    """A decision's JSON with each reason's ``details`` emptied, for the log.

    The rule's facts (a ticket's subject, a returned product) are the person's
    data; the log is kept for years and cannot be edited, so it keeps the rule,
    its text, the event behind it and when, and the answer itself carried the rest.
    """
    parsed = orjson.loads(decision)
    for reason in parsed.get("reasons") or ():
        reason["details"] = {}
    return orjson.dumps(parsed)
