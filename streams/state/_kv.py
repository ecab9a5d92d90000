"""The ordered byte store under ``store.PartitionStore``: RocksDB, or memory in tests.

Both answer the three things the store asks: a point read, an atomic write of
a batch of puts and deletes, and keys in order from a start key (the expiry
index is a range scan). ``MemoryKV`` stands in where a stage has no data
directory (unit tests, benches of the fold alone), so the store's logic — the
hot cache, the dirty set, the serialisation — is one implementation over both.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from signalfold.streams.errors import StreamsError

__all__ = ["KV", "MemoryKV", "RocksKV", "StoreBusy", "Writes"]

#: A batch: key → value to put, or ``None`` to delete.
Writes = dict[bytes, bytes | None]


class StoreBusy(StreamsError):
    """Another process holds the store's directory."""


class KV(Protocol):
    def get(self, key: bytes) -> bytes | None: ...

    def write(self, writes: Writes) -> None: ...

    def scan(self, start: bytes) -> Iterator[tuple[bytes, bytes]]: ...

    def close(self) -> None: ...


class MemoryKV:
    """A dict with its keys kept sorted for ``scan``."""

    def __init__(self) -> None:
        self._data: dict[bytes, bytes] = {}
        self._keys: list[bytes] = []

    def get(self, key: bytes) -> bytes | None:
        return self._data.get(key)

    def write(self, writes: Writes) -> None:
        for key, value in writes.items():
            if value is None:
                if self._data.pop(key, None) is not None:
                    del self._keys[bisect.bisect_left(self._keys, key)]
            else:
                if key not in self._data:
                    bisect.insort(self._keys, key)
                self._data[key] = value

    def scan(self, start: bytes) -> Iterator[tuple[bytes, bytes]]:
        at = bisect.bisect_left(self._keys, start)
        for key in self._keys[at:]:  # a copy: the caller may write while it reads
            yield key, self._data[key]

    def close(self) -> None:
        pass


class RocksKV:
    """RocksDB through ``rocksdict`` in raw (bytes) mode; one writer per directory.

    A batch is one ``WriteBatch`` through the write-ahead log: it survives the
    process being killed (not, without fsync, the machine losing power — Kafka
    still holds everything, so a lost store is a full replay, never a wrong one).
    """

    def __init__(self, path: Path, wait: float = 10.0) -> None:
        from rocksdict import Options, Rdict

        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        deadline = time.monotonic() + wait
        while True:
            try:
                self._db = Rdict(str(path), Options(raw_mode=True))
                return
            except Exception as exc:  # rocksdict raises a bare Exception
                if "lock" not in str(exc).lower():
                    raise
                if time.monotonic() > deadline:
                    raise StoreBusy(
                        f"state store `{path}` is open in another process (RocksDB's LOCK is "
                        f"held) after {wait:.0f}s; two state workers share this data_dir and "
                        "partition: give each worker its own SIGNALFOLD_DATA_DIR, or stop the "
                        "other one"
                    ) from None
                time.sleep(0.2)  # a previous owner on this machine is still closing it

    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self._db.get(key)
        return value

    def write(self, writes: Writes) -> None:
        from rocksdict import WriteBatch

        batch = WriteBatch(raw_mode=True)
        for key, value in writes.items():
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        self._db.write(batch)

    def scan(self, start: bytes) -> Iterator[tuple[bytes, bytes]]:
        it = self._db.iter()
        it.seek(start)
        while it.valid():
            yield it.key(), it.value()
            it.next()

    def close(self) -> None:
        self._db.close()

    @staticmethod
    def destroy(path: Path) -> None:
        from rocksdict import Options, Rdict

        if path.exists():
            Rdict.destroy(str(path), Options(raw_mode=True))
