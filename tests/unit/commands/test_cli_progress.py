"""Progress: a bar where the count is known, a spinner with what is happening where not,
erased when done, and nothing at all when output is not a terminal."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path

from signalfold.commands import Progress, interactive

EXAMPLES = Path(__file__).parents[3] / "examples"


def test_a_bar_counts_and_a_spinner_says_what_it_waits_for() -> None:
    with Progress("reading signals.canonical", enabled=False) as progress:
        assert progress.line().startswith("⠋ reading signals.canonical (")
        progress.step("mapping events", total=4)
        items = list(progress.track(["a", "b", "c"]))
        assert items == ["a", "b", "c"]
        assert progress.line() == "█" * 18 + "░" * 6 + " 3/4 mapping events"


def test_the_line_is_drawn_on_the_stream_and_erased_at_the_end() -> None:
    stream = io.StringIO()
    with Progress("replaying dead letters", stream=stream, enabled=True):
        time.sleep(0.35)
    text = stream.getvalue()
    assert "\r⠙ replaying dead letters (0 s)" in text  # the spinner turned
    assert text.endswith("\r")  # the last write blanks the line and returns to its start
    assert text.rsplit("\r", 2)[-2].strip() == ""


def test_nothing_is_drawn_when_not_on_a_terminal() -> None:
    assert not interactive()  # pytest captures stdout and stderr
    stream = io.StringIO()
    with Progress("reading", stream=stream):
        time.sleep(0.25)
    assert stream.getvalue() == ""
    # A real command in a pipe: its stderr holds no progress line.
    done = subprocess.run(
        [sys.executable, "-m", "signalfold.cli", "sources", "test",
         str(EXAMPLES / "returns_portal.yaml"), str(EXAMPLES / "returns_sample.jsonl")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1 and "\r" not in done.stderr and "⠋" not in done.stderr
