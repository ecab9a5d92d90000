"""The shape every sink shares (style rule 9): ``setup()``, ``add(record)``, ``flush()``.

A sink buffers records and writes them in batches, because every store we
write to (DuckDB through Arrow above all) is orders of magnitude faster per
row in batches. Subclasses implement ``write(batch)`` only.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Generic, TypeVar

__all__ = ["BatchingSink"]

R = TypeVar("R")


class BatchingSink(ABC, Generic[R]):
    """Buffers records and hands them to ``write`` in batches of at most ``max_batch``.

    Not thread-safe: one writer thread calls ``add`` and ``flush``.

    Example::

        sink.setup()
        for record in records:
            sink.add(record)
        sink.flush()
    """

    def __init__(self, max_batch: int = 5000) -> None:
        self.max_batch = max_batch
        self._buffer: list[R] = []
        self.written = 0

    def setup(self) -> None:
        """Prepare the destination (create tables...). Idempotent; default does nothing."""

    def add(self, record: R) -> None:
        """Buffer one record; writes the batch when it reaches ``max_batch``."""
        self._buffer.append(record)
        if len(self._buffer) >= self.max_batch:
            self.flush()

    def flush(self) -> int:
        """Write what is buffered now; returns how many records were handed to ``write``."""
        if not self._buffer:
            return 0
        batch, self._buffer = self._buffer, []
        self.write(batch)
        self.written += len(batch)
        return len(batch)

    @property
    def pending(self) -> int:
        """Records buffered and not yet written."""
        return len(self._buffer)

    @abstractmethod
    def write(self, batch: list[R]) -> None:
        """Write one batch to the destination; called by ``flush``."""
