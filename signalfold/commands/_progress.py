"""Progress on stderr for long commands: a bar where the count is known, a spinner
saying what is happening where it is not.

Shown only when both stdout and stderr are terminals: a pipe, a file, a CI log or
a test sees nothing but the command's own output. The line is drawn by a daemon
thread ten times a second and erased when the work is done, so what the command
prints afterwards starts on a clean line. Standard library only (no ``rich`` or
``tqdm`` among the dependencies).

::

    with Progress("reading signals.canonical") as progress:
        rows = read(...)
        progress.step("mapping events", total=len(rows))
        for row in progress.track(rows):
            ...
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import TextIO, TypeVar

__all__ = ["Progress", "interactive"]

T = TypeVar("T")
_FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
_BAR = 24


def interactive() -> bool:
    """Whether a person is watching: stdout and stderr are both terminals."""
    try:
        return sys.stdout.isatty() and sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed streams
        return False


class Progress:
    """One progress line on ``stream`` (stderr) while the ``with`` block runs."""

    def __init__(
        self,
        what: str,
        total: int | None = None,
        *,
        stream: TextIO | None = None,
        enabled: bool | None = None,
    ) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._enabled = interactive() if enabled is None else enabled
        self._what, self._total, self._done = what, total, 0
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._drawn = 0

    def __enter__(self) -> Progress:
        if self._enabled:
            self._thread = threading.Thread(target=self._draw_loop, daemon=True)
            self._thread.start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._write("\r" + " " * self._drawn + "\r")

    def step(self, what: str, total: int | None = None) -> None:
        """Say what is happening now; with ``total``, a bar counts towards it."""
        with self._lock:
            self._what, self._total, self._done = what, total, 0
            self._started = time.monotonic()

    def advance(self, count: int = 1) -> None:
        """``count`` more of the current step's ``total`` are done."""
        with self._lock:
            self._done += count

    def track(self, items: Iterable[T]) -> Iterator[T]:
        """``items``, advancing the bar by one as each is taken."""
        for item in items:
            yield item
            self.advance()

    def line(self, frame: int = 0) -> str:
        """The progress line as drawn now (``frame`` turns the spinner)."""
        with self._lock:
            what, total, done = self._what, self._total, self._done
            elapsed = time.monotonic() - self._started
        if total:
            filled = min(_BAR, _BAR * done // total)
            bar = "█" * filled + "░" * (_BAR - filled)
            return f"{bar} {done:,}/{total:,} {what}"
        return f"{_FRAMES[frame % len(_FRAMES)]} {what} ({elapsed:.0f} s)"

    def _draw_loop(self) -> None:
        frame = 0
        while not self._stop.wait(0.1):
            width = shutil.get_terminal_size((80, 20)).columns - 1
            text = self.line(frame)[:width]
            self._write("\r" + text + " " * max(0, self._drawn - len(text)))
            self._drawn = len(text)
            frame += 1

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):  # the terminal went away: stop drawing
            self._stop.set()
