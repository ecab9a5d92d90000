"""What the benchmarks read of a running process from ``/proc``."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cpu_seconds"]

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(*pids: int) -> float | None:
    """CPU seconds (user + system) processes ``pids`` have spent so far.

    ``None`` when one cannot be read (it has exited, or this is not Linux).
    """
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        ticks += int(fields[11]) + int(fields[12])
    return ticks / _TICK
