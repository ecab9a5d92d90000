"""The leased runner: a standby follows until it holds the lease, the holder runs the
stage, and losing the lease stops the stage and goes back to following."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from signalfold.streams.lease import LeasedRunner


class FakeLease:
    """``Lease``'s interface, held or lost when the test says so."""

    topic = "identity.lease"
    gone: str | None = None  # the lease topic never vanishes here

    def __init__(self) -> None:
        self._held = threading.Event()
        self.on_lost: Callable[[], None] = lambda: None
        self.closed = False

    @property
    def held(self) -> bool:
        return self._held.is_set()

    def start(self) -> FakeLease:
        return self

    def close(self) -> None:
        self.closed = True

    def grant(self) -> None:
        self._held.set()

    def revoke(self) -> None:
        self._held.clear()
        self.on_lost()


class FakeRunner:
    def __init__(self) -> None:
        self.started = threading.Event()
        self._stop = threading.Event()

    def run(self) -> None:
        self.started.set()
        self._stop.wait(10)

    def stop(self) -> None:
        self._stop.set()


def _until(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_a_standby_follows_owns_while_it_holds_the_lease_and_follows_again() -> None:
    lease, runners, follows = FakeLease(), [], []

    def make() -> FakeRunner:
        runners.append(FakeRunner())
        return runners[-1]

    def follow(seconds: float) -> None:
        follows.append(seconds)
        time.sleep(0.01)

    leased = LeasedRunner(lease, make, follow)  # type: ignore[arg-type]
    thread = threading.Thread(target=leased.run, daemon=True)
    thread.start()
    _until(lambda: len(follows) > 3, "the standby to follow")
    assert runners == []  # no stage without the lease

    lease.grant()
    _until(lambda: bool(runners) and runners[0].started.is_set(), "the takeover")
    following = len(follows)
    time.sleep(0.05)
    assert len(follows) == following  # the owner does not follow: it writes the log

    lease.revoke()
    _until(lambda: len(follows) > following, "following again")
    assert len(runners) == 1

    lease.grant()
    _until(lambda: len(runners) == 2 and runners[1].started.is_set(), "a second term")
    leased.stop()
    thread.join(5)
    assert not thread.is_alive() and lease.closed
