"""Run the stages as threads of one process: for tests, benchmarks and notebooks.

``make run`` uses one process per stage instead (``supervisor.py``); the code
each stage runs is the same.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType

from signalfold.bootstrap import STAGES, build_runner, create_topics
from signalfold.settings import Settings
from signalfold.streams.runner import StageRunner

__all__ = ["LocalPipeline"]


class LocalPipeline:
    """The three stages running in threads until ``stop()``.

    Example::

        with LocalPipeline(settings) as pipeline:
            ...  # produce raw events, read customer.state
    """

    def __init__(
        self,
        settings: Settings,
        *,
        stages: tuple[str, ...] = STAGES,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self._stages = stages
        self._clock = clock
        self.runners: dict[str, StageRunner] = {}
        self._threads: dict[str, threading.Thread] = {}
        self.errors: list[BaseException] = []

    def start(self) -> LocalPipeline:
        create_topics(self.settings)
        for name in self._stages:
            self.start_stage(name)
        return self

    def start_stage(self, name: str) -> StageRunner:
        runner = build_runner(name, self.settings, self._clock)

        def target() -> None:
            try:
                runner.run()
            except BaseException as exc:  # surfaced to the test through .errors
                self.errors.append(exc)
                raise

        thread = threading.Thread(target=target, name=f"signalfold-{name}", daemon=True)
        self.runners[name], self._threads[name] = runner, thread
        thread.start()
        return runner

    def stop_stage(self, name: str, timeout: float = 30) -> None:
        self.runners.pop(name).stop()
        self._threads.pop(name).join(timeout)

    def stop(self) -> None:
        for name in list(self.runners):
            self.stop_stage(name)

    def __enter__(self) -> LocalPipeline:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
