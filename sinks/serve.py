"""A serving replica's parts (``Serving``) and how they run.

``run`` serves them until SIGINT/SIGTERM and then stops the consumer cleanly;
``ServeHandle`` runs the same thing in a thread (tests, notebooks) on a free
port. They are wired by the composition root, ``signalfold.bootstrap``
(``build_serving``, ``serve``, ``serve_handle``).

``server_config`` is the uvicorn config a replica runs under: the fast path
(``FastFront``, ``FastHttpProtocol``) in front of the app. ``PolicyReloader``
follows edits of the policy file.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from fastapi import FastAPI

from signalfold.settings import Settings
from signalfold.sinks._fast_check import FastFront
from signalfold.sinks._fast_http import FastHttpProtocol
from signalfold.sinks._policy_reload import PolicyReloader
from signalfold.sinks._server import Server, server_config, shared_socket, tune_gc
from signalfold.sinks.decision_log import DecisionLog
from signalfold.sinks.materializer import Materializer
from signalfold.sinks.store import Store
from signalfold.sinks.view import ServingView

__all__ = [
    "FastFront",
    "FastHttpProtocol",
    "PolicyReloader",
    "ServeHandle",
    "Serving",
    "run",
    "server_config",
]

log = logging.getLogger(__name__)


@dataclass
class Serving:
    """Everything a replica runs, built once by ``signalfold.bootstrap.build_serving``."""

    settings: Settings
    store: Store
    view: ServingView
    materializer: Materializer
    app: FastAPI
    decision_log: DecisionLog
    reloader: PolicyReloader | None = None

    def start(self) -> None:
        """Start consuming, and following edits of the policy file."""
        self.materializer.start()
        if self.reloader is not None:
            self.reloader.start()

    def close(self) -> None:
        """Deliver the log's last rows, stop the consumer (flushing what it read), close."""
        if self.reloader is not None:
            self.reloader.stop()
        self.decision_log.close()
        self.materializer.stop()
        self.store.close()


def _server(serving: Serving, on_started: Callable[[Server], None]) -> Server:
    config = server_config(
        serving.app,
        host=serving.settings.api_host,
        port=serving.settings.api_port,
        log_level=serving.settings.log_level.lower(),
    )
    return Server(config, on_started)


def run(serving: Serving, *, ready_event: threading.Event | None = None) -> None:
    """Run ``serving`` until SIGINT/SIGTERM; ``ready_event`` is set once HTTP listens.

    With ``settings.api_replica`` set, the port is bound with ``SO_REUSEPORT``:
    several replicas on one host share it and the kernel spreads connections.
    """
    settings = serving.settings
    tune_gc()
    serving.start()
    try:
        server = _server(serving, lambda _s: ready_event.set() if ready_event else None)
        sockets = None
        if settings.api_replica is not None:
            sockets = [shared_socket(settings.api_host, settings.api_port)]
        server.run(sockets=sockets)
    finally:
        serving.close()
        gc.unfreeze()  # frozen objects are never freed at exit: DuckDB's bindings report leaks
        log.info("serve stopped after applying %d messages", serving.materializer.applied)


class ServeHandle:
    """A built replica in a background thread: ``with ServeHandle(serving) as h: h.url``.

    Give ``settings.api_port=0`` to bind any free port; ``url`` tells which.
    """

    def __init__(self, serving: Serving) -> None:
        self.serving = serving
        self._started = threading.Event()
        self._server = _server(self.serving, lambda _s: self._started.set())
        self._thread = threading.Thread(target=self._server.run, name="signalfold-serve")

    @property
    def url(self) -> str:
        return f"http://{self.serving.settings.api_host}:{self._server.port}"

    def start(self, timeout: float = 20.0) -> ServeHandle:
        """Start consuming and serving; returns once HTTP listens."""
        self.serving.start()
        self._thread.start()
        if not self._started.wait(timeout):
            self.stop()
            raise TimeoutError(f"the API did not start listening within {timeout:.0f}s")
        return self

    def stop(self) -> None:
        """Stop HTTP, then the consumer; safe to call twice."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(10)
        self.serving.close()

    def __enter__(self) -> ServeHandle:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
