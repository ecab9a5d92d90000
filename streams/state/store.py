"""One partition's customers on disk (RocksDB), a bounded hot cache in memory.

The state stage no longer holds every customer in Python memory, and no
longer rebuilds a partition from offset 0 on every start: ``PartitionStore``
keeps, in one RocksDB directory per partition of ``signals.resolved``,

=========================  ==============================================
key                        value
=========================  ==============================================
``a:<customer>``           the aggregate, ``orjson`` of ``to_transfer()``
``w:<absorbed>``           the survivor it was merged into (a forward)
``f:<customer>``           the flags last published (the suppression diff)
``e:<customer>``           when its earliest flag expires (ISO, UTC)
``x:<ISO time><customer>`` the expiry index: due expiries are a range scan
``c:checkpoint``           the next input offset the stored state covers
=========================  ==============================================

Changes gather in memory (the dirty set pins the changed aggregates in the
cache) and reach the disk in one atomic batch together with the checkpoint
(``commit``), so the stored state is always the fold of an offset prefix. The
stage decides when a checkpoint is safe to write (see
``streams/stages/state.py``); this module has no Kafka in it. Forwards are few
(one per merge) and read for every record: all of them stay in memory.

The bytes sit in a ``KV``: ``RocksKV`` (one directory, held by one process:
``StoreBusy`` otherwise) or ``MemoryKV`` (tests, benches of the fold alone).

Example::

    store = PartitionStore.open(Path(".data/state/signals.resolved-0"), cache_customers=10_000)
    agg = store.get("cus_1") or CustomerAggregate("cus_1")
    agg.fold(facts)
    store.put("cus_1", agg)
    store.commit(checkpoint=42)  # the state of offsets [0, 42), written at once
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import orjson

from signalfold.errors import ConfigError
from signalfold.schemas.state import Flag
from signalfold.streams.errors import StreamsError
from signalfold.streams.state._kv import KV, MemoryKV, RocksKV, StoreBusy, Writes
from signalfold.streams.state.aggregate import TRANSFER_FORMAT, CustomerAggregate
from signalfold.streams.state.bounds import DEFAULT_BOUNDS, Bounds
from signalfold.streams.state.flag_changes import Flags

__all__ = [
    "KV",
    "STORE_FORMAT",
    "Flags",
    "MemoryKV",
    "PartitionStore",
    "RocksKV",
    "StoreBusy",
    "UnreadableStore",
    "Writes",
]

#: The layout above and the aggregates' transfer format: a store of another is rebuilt.
STORE_FORMAT = f"1.{TRANSFER_FORMAT}".encode()

_FORMAT, _CHECKPOINT = b"c:format", b"c:checkpoint"
_AGG, _FWD, _FLAGS, _EXP, _IDX = b"a:", b"w:", b"f:", b"e:", b"x:"
_ISO = len("2026-12-01T00:00:00.000000")


class Sealer(Protocol):
    """Seals values with a customer's key and opens them (``streams.keylog.KeyLog``)."""

    def seal_customer(self, customer_id: str, plain: bytes) -> bytes: ...

    def open(self, value: bytes | None) -> bytes | None: ...


class UnreadableStore(StreamsError, ValueError):
    """A store another version of signalfold wrote; the stage rebuilds it from Kafka."""


def _iso(at: datetime) -> bytes:
    """Fixed-width UTC time, so byte order is time order."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f").encode()


class PartitionStore:
    """See the module docstring. ``cache_customers`` bounds the clean aggregates kept in
    memory; dirty ones (changed since the last ``commit``) stay until committed."""

    def __init__(
        self,
        kv: KV,
        *,
        cache_customers: int = 10_000,
        bounds: Bounds = DEFAULT_BOUNDS,
        sealer: Sealer | None = None,
    ) -> None:
        if cache_customers < 1:
            raise ConfigError(
                f"cache_customers must be at least 1, got {cache_customers}; "
                "set SIGNALFOLD_STATE_CACHE_CUSTOMERS to 1 or more"
            )
        self._kv, self._size, self._bounds = kv, cache_customers, bounds
        self._sealer = sealer
        self._cache: OrderedDict[str, CustomerAggregate] = OrderedDict()
        self._dirty: dict[str, CustomerAggregate | None] = {}  # None: deleted
        self._flags: dict[str, Flags | None] = {}
        self._expiry: dict[str, datetime | None] = {}
        self._forwards_changed: set[str] = set()
        self.forwards: dict[str, str] = {}
        self.checkpoint: int | None = None
        found = kv.get(_FORMAT)
        if found is not None and found != STORE_FORMAT:
            kv.close()
            raise UnreadableStore(
                f"state store format {found.decode(errors='replace')}; this version reads "
                f"{STORE_FORMAT.decode()}: delete the store (the state stage rebuilds it "
                "from signals.resolved)"
            )
        raw = kv.get(_CHECKPOINT)
        self.checkpoint = int(raw) if raw is not None else None
        for key, value in kv.scan(_FWD):
            if not key.startswith(_FWD):
                break
            self.forwards[key[2:].decode()] = value.decode()

    @classmethod
    def open(
        cls,
        path: Path | None,
        *,
        cache_customers: int = 10_000,
        bounds: Bounds = DEFAULT_BOUNDS,
        sealer: Sealer | None = None,
    ) -> PartitionStore:
        """The store in ``path`` (made if missing); ``None``: an in-memory one.

        With a ``sealer`` every customer's aggregate and flags are sealed with the
        customer's key on disk: erasing the customer (deleting the key) leaves
        nothing readable in the files, compacted or not.
        """
        kv: KV = MemoryKV() if path is None else RocksKV(path)
        return cls(kv, cache_customers=cache_customers, bounds=bounds, sealer=sealer)

    def _sealed(self, cid: str, body: bytes) -> bytes:
        return body if self._sealer is None else self._sealer.seal_customer(cid, body)

    def _opened(self, raw: bytes | None) -> bytes | None:
        return raw if self._sealer is None or raw is None else self._sealer.open(raw)

    @staticmethod
    def destroy(path: Path) -> None:
        """Delete a closed store's directory: Kafka rebuilds it."""
        RocksKV.destroy(path)

    # -- customers -----------------------------------------------------------------

    def get(self, cid: str) -> CustomerAggregate | None:
        """The customer's aggregate: from the dirty set, the cache, or the disk."""
        if cid in self._dirty:
            return self._dirty[cid]
        agg = self._cache.get(cid)
        if agg is not None:
            self._cache.move_to_end(cid)
            return agg
        raw = self._opened(self._kv.get(_AGG + cid.encode()))
        if raw is None:
            return None  # unknown, or erased (its key is gone)
        agg = CustomerAggregate.from_transfer(orjson.loads(raw), self._bounds)
        self._remember(cid, agg)
        return agg

    def __contains__(self, cid: object) -> bool:
        return isinstance(cid, str) and self.get(cid) is not None

    def put(self, cid: str, agg: CustomerAggregate) -> None:
        """``agg`` is the customer's aggregate now (new or changed): write it at ``commit``."""
        self._cache.pop(cid, None)
        self._dirty[cid] = agg

    def delete(self, cid: str) -> CustomerAggregate | None:
        """Remove the customer (merged away); returns what it held."""
        agg = self.get(cid)
        self._cache.pop(cid, None)
        self._dirty[cid] = None
        return agg

    def customer_ids(self) -> list[str]:
        """Every customer held, in id order (a policy reload re-evaluates them all)."""
        ids = {k[2:].decode() for k, _ in self._scan(_AGG)}
        ids |= {c for c, a in self._dirty.items() if a is not None}
        return sorted(ids - {c for c, a in self._dirty.items() if a is None})

    # -- forwards, flags, expiries -------------------------------------------------

    def set_forward(self, cid: str, survivor: str | None) -> None:
        if survivor is None:
            self.forwards.pop(cid, None)
        else:
            self.forwards[cid] = survivor
        self._forwards_changed.add(cid)

    def flags(self, cid: str) -> Flags | None:
        """The flags last published for the customer; ``None`` if none were recorded."""
        if cid in self._flags:
            return self._flags[cid]
        raw = self._opened(self._kv.get(_FLAGS + cid.encode()))
        if raw is None:
            return None
        return {k: Flag.model_validate(v) for k, v in orjson.loads(raw).items()}

    def set_flags(self, cid: str, flags: Flags | None) -> None:
        """Record the flags published for ``cid``; none (or ``None``) is kept as absent."""
        self._flags[cid] = flags or None

    def set_expiry(self, cid: str, at: datetime | None) -> None:
        self._expiry[cid] = at

    def due(self, now: datetime) -> list[str]:
        """Customers whose earliest flag expiry is at or before ``now``, in time order."""
        limit = _iso(now)
        due = []
        for key, _ in self._scan(_IDX):
            if key[2 : 2 + _ISO] > limit:
                break
            cid = key[2 + _ISO :].decode()
            if cid not in self._expiry:
                due.append((key[2 : 2 + _ISO], cid))
        due += [(_iso(at), c) for c, at in self._expiry.items() if at is not None and at <= now]
        return [cid for _, cid in sorted(due)]

    # -- writing ------------------------------------------------------------------

    @property
    def pending(self) -> bool:
        """Changes wait for ``commit``."""
        return bool(self._dirty or self._flags or self._expiry or self._forwards_changed)

    @property
    def dirty_customers(self) -> int:
        return len(self._dirty)

    def commit(self, checkpoint: int | None) -> None:
        """Write every pending change and, unless ``None``, the checkpoint: one atomic batch."""
        writes: Writes = {_FORMAT: STORE_FORMAT}
        for cid, agg in self._dirty.items():
            writes[_AGG + cid.encode()] = (
                None if agg is None else self._sealed(cid, orjson.dumps(agg.to_transfer()))
            )
        for cid in self._forwards_changed:
            survivor = self.forwards.get(cid)
            writes[_FWD + cid.encode()] = None if survivor is None else survivor.encode()
        for cid, flags in self._flags.items():
            writes[_FLAGS + cid.encode()] = (
                None
                if flags is None
                else self._sealed(
                    cid, orjson.dumps({k: f.model_dump(mode="json") for k, f in flags.items()})
                )
            )
        for cid, at in self._expiry.items():
            key = _EXP + cid.encode()
            old = self._kv.get(key)
            if old is None and at is None:
                continue
            if old is not None:
                writes[_IDX + old + cid.encode()] = None
            writes[key] = None if at is None else _iso(at)
            if at is not None:
                writes[_IDX + _iso(at) + cid.encode()] = b""
        if checkpoint is not None:
            writes[_CHECKPOINT] = str(checkpoint).encode()
        self._kv.write(writes)
        if checkpoint is not None:
            self.checkpoint = checkpoint
        for cid, agg in self._dirty.items():
            if agg is not None:
                self._remember(cid, agg)
        self._dirty.clear()
        self._flags.clear()
        self._expiry.clear()
        self._forwards_changed.clear()

    def close(self) -> None:
        """Close without writing what is pending (the caller commits what is safe first)."""
        self._kv.close()

    def _remember(self, cid: str, agg: CustomerAggregate) -> None:
        self._cache[cid] = agg
        self._cache.move_to_end(cid)
        while len(self._cache) > self._size:
            self._cache.popitem(last=False)

    def _scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        for key, value in self._kv.scan(prefix):
            if not key.startswith(prefix):
                return
            yield key, value
