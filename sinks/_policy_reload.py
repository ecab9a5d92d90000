"""Live policy edits for a serving replica.

The state workers re-evaluate flags when the policy file changes; the serving
side applies the parts it evaluates itself when asked — unknown-customer rules
and ask-time rules such as quiet hours. A thread polls the file and swaps the
policy inside the running ``Decider``; a broken edit is logged and the
running policy kept (``PolicyWatcher``).
"""

from __future__ import annotations

import logging
import threading

from signalfold.policy import Decider, PolicyWatcher

__all__ = ["PolicyReloader"]

log = logging.getLogger(__name__)


class PolicyReloader:
    """Polls the decider's policy file every ``interval`` seconds until ``stop()``."""

    def __init__(self, decider: Decider, *, interval: float = 2.0) -> None:
        self._decider = decider
        self._interval = interval
        self._watcher = (
            PolicyWatcher(decider.policy, interval=0) if decider.policy is not None else None
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="signalfold-policy", daemon=True)
        self.reloads = 0

    def start(self) -> PolicyReloader:
        if self._watcher is not None:
            self._thread.start()
        return self

    def check(self) -> bool:
        """One poll: True when a changed, valid policy was swapped in."""
        if self._watcher is None:
            return False
        policy = self._watcher.poll()
        if policy is None:
            return False
        self._decider.reload(policy)
        self.reloads += 1
        return True

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.check()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
