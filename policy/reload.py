"""Hot reload of the policy file, and the time at which flags expire.

``PolicyWatcher`` lets a worker pick up an edited policy without a restart: it
checks the file's modification time at most every ``interval`` seconds and
returns the new ``Policy`` only when the file changed *and* is valid. A broken
edit is logged with the loader's message and the running policy stays, so a
typo never drops every suppression on the floor.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

from signalfold.errors import ConfigError
from signalfold.policy.model import Policy, load_policy
from signalfold.schemas.state import Flag

__all__ = ["PolicyWatcher", "next_expiry"]

log = logging.getLogger(__name__)


def _mtime(path: Path | None) -> float | None:
    if path is None:
        return None
    try:
        return path.stat().st_mtime_ns / 1e9
    except OSError:
        return None


class PolicyWatcher:
    """Polls the file a policy was loaded from; see the module docstring."""

    def __init__(
        self,
        policy: Policy,
        *,
        interval: float = 2.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self._path = policy.source
        self._seen = _mtime(self._path)
        self._interval = interval
        self._monotonic = monotonic
        self._next = monotonic() + interval

    def poll(self) -> Policy | None:
        """The new policy if the file changed since the last poll and loads; else ``None``."""
        now = self._monotonic()
        if self._path is None or now < self._next:
            return None
        self._next = now + self._interval
        mtime = _mtime(self._path)
        if mtime is None or mtime == self._seen:
            return None
        self._seen = mtime
        try:
            policy = load_policy(self._path)
        except ConfigError as exc:
            log.error("policy reload refused, keeping the running policy: %s", exc)
            return None
        log.info("policy reloaded from %s: %d rules", self._path, len(policy.rules))
        self.policy = policy
        return policy


def next_expiry(flags: Iterable[Flag]) -> datetime | None:
    """The earliest ``until`` among ``flags``: when the state must be re-evaluated."""
    untils = [f.until for f in flags if f.until is not None]
    return min(untils) if untils else None
