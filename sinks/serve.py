"""``signalfold serve``: the composition root of a serving replica, and its runner.

``build`` wires store + view + materializer + app; ``serve`` runs them until
SIGINT/SIGTERM and then stops the consumer cleanly; ``ServeHandle`` runs the
same thing in a thread (tests, notebooks) on a free port.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from types import FrameType, TracebackType
from typing import Any

import uvicorn
from fastapi import FastAPI

from signalfold.settings import Settings
from signalfold.sinks._fast_check import FastFront
from signalfold.sinks._fast_http import fast_http_protocol
from signalfold.sinks._log_publisher import KafkaLogPublisher
from signalfold.sinks._policy_reload import PolicyReloader
from signalfold.sinks._resolve import Decider
from signalfold.sinks.api import create_app
from signalfold.sinks.decision_log import DecisionLog, DecisionLogTable
from signalfold.sinks.materializer import Materializer
from signalfold.sinks.store import Store, open_store
from signalfold.sinks.view import ServingView
from signalfold.streams.policy._fast import FastDecider
from signalfold.streams.topics import Topics, ensure_topics

__all__ = [
    "GC_THRESHOLDS",
    "SERVER_OPTIONS",
    "SWITCH_INTERVAL",
    "ServeHandle",
    "Serving",
    "build",
    "serve",
    "server_config",
    "shared_socket",
    "tune_gc",
]

log = logging.getLogger(__name__)

# uvloop's event loop and httptools' parser (``uvicorn[standard]``) halve the
# per-request CPU of the asyncio loop with h11 (/v1/health: ≈ 680 µs → ≈ 350 µs).
SERVER_OPTIONS: dict[str, str] = {"loop": "uvloop", "http": "httptools"}

# A full (oldest-generation) collection walks every tracked object of the process:
# imports, the app, and every decision cached per customer: 100 to 250 ms on a replica
# with 20,000 customers, which stalls every request in flight (it was the whole p99
# at 1,500 req/s). Full collections run 100 times less often (young ones as before).
GC_THRESHOLDS = (700, 10, 1000)

# A thread that wants the GIL waits up to the switch interval (5 ms by default) for a
# busy one to hand it over: the decision-log writer and the consumer thread, while
# they serialise a batch, held every request that far. 0.5 ms bounds that wait.
SWITCH_INTERVAL = 0.0005


def tune_gc() -> None:
    """Set up the interpreter for a serving process (process-wide: ``serve`` only, not tests).

    Freezes what exists now (imports, the built app: never garbage) out of the
    collector's reach, makes full collections rare (``GC_THRESHOLDS``), and
    lets the event loop take the GIL back sooner (``SWITCH_INTERVAL``).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    sys.setswitchinterval(SWITCH_INTERVAL)


@dataclass
class Serving:
    """Everything a replica runs, built once by ``build``."""

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


def build(
    settings: Settings,
    *,
    clock: Callable[[], datetime] | None = None,
    decide: Decider | None = None,
) -> Serving:
    """Wire one replica; nothing runs until ``materializer.start()`` and the HTTP server.

    ``decide`` defaults to the policy's ``decide`` with ``settings.policy_file``
    (the shipped policy when unset): its unknown-customer and ask-time rules.
    """
    reloading: FastDecider | None = None
    if decide is None:
        from signalfold.streams.policy import decide as policy_decide
        from signalfold.streams.policy import load_policy

        policy = load_policy(settings.policy_file)
        try:
            # The fast decider answers from cached inputs and takes live policy edits.
            decide = reloading = FastDecider(policy)
        except ValueError:  # an ask-time rule kind it does not serve: plain decide
            decide = functools.partial(policy_decide, policy=policy)
    topics = Topics(prefix=settings.topic_prefix)
    ensure_topics(
        settings.kafka_client_config(),
        [
            topics.customer_state,
            topics.identity_index,
            topics.resolved,
            topics.identity_changes,
            topics.decisions_log,
        ],
        settings.partitions,
        settings.replication_factor,
        compacted=topics.compacted(),
        ordered=topics.ordered(),
        kept=topics.kept(),
    )
    from signalfold.streams.registry import install_declared_types

    install_declared_types(settings)  # signals of contract-declared types parse here too
    replica = "" if settings.api_replica is None else f"-r{settings.api_replica}"
    store = open_store(settings.data_dir, name=f"serve-{settings.api_port}{replica}")
    view = ServingView()
    log_table = DecisionLogTable(store.connection)  # rebuilt from decisions.log at start
    materializer = Materializer(
        settings.kafka_client_config(),
        topics,
        view,
        store,
        batch_size=settings.batch_size,
        decision_log=log_table,
    )
    publisher = KafkaLogPublisher(
        settings.kafka_client_config(), topics.decisions_log, materializer.wait_applied
    )
    decision_log = DecisionLog(log_table, publisher=publisher, flush_interval=0.05).start()
    extra = {"clock": clock} if clock is not None else {}
    app = create_app(
        view,
        store,
        settings,
        decide=decide,
        readiness=materializer,
        decision_log=decision_log,
        **extra,
    )
    reloader = PolicyReloader(reloading) if reloading is not None else None
    return Serving(settings, store, view, materializer, app, decision_log, reloader)


class _Server(uvicorn.Server):
    """uvicorn that reports when it listens and never re-raises the signal that stopped it.

    uvicorn re-raises SIGINT/SIGTERM after shutdown, which would kill the
    process (or print a KeyboardInterrupt traceback) before the consumer stops.
    """

    def __init__(self, config: uvicorn.Config, on_started: Callable[[_Server], None]) -> None:
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self._on_started(self)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def stop(sig: int, frame: FrameType | None) -> None:
            self.should_exit = True

        previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    @property
    def port(self) -> int:
        """The port actually bound (differs from the config when it asked for 0)."""
        return int(self.servers[0].sockets[0].getsockname()[1])


def server_config(app: FastAPI, **options: Any) -> uvicorn.Config:
    """uvicorn's config for a replica serving ``app``: fast checks answered while parsed.

    ``FastFront`` sends learned fast paths past FastAPI's stack;
    ``FastHttpProtocol`` answers plain checks from known keys without even an
    ASGI task (uvloop's loop, httptools' parser underneath, as ``SERVER_OPTIONS``).
    """
    front = FastFront(app)
    return uvicorn.Config(
        front,
        access_log=False,  # URLs carry identifiers (email=...): no PII in logs
        lifespan="off",
        loop=SERVER_OPTIONS["loop"],
        http=fast_http_protocol(front),
        **options,
    )


def _server(serving: Serving, on_started: Callable[[_Server], None]) -> _Server:
    config = server_config(
        serving.app,
        host=serving.settings.api_host,
        port=serving.settings.api_port,
        log_level=serving.settings.log_level.lower(),
    )
    return _Server(config, on_started)


def serve(settings: Settings, *, ready_event: threading.Event | None = None) -> None:
    """Run a replica until SIGINT/SIGTERM; ``ready_event`` is set once HTTP listens.

    With ``settings.api_replica`` set, the port is bound with ``SO_REUSEPORT``:
    several replicas on one host share it and the kernel spreads connections.
    """
    serving = build(settings)
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


def shared_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` that other processes may bind too (SO_REUSEPORT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


class ServeHandle:
    """A replica in a background thread, for tests: ``with ServeHandle(settings) as h: h.url``.

    Give ``settings.api_port=0`` to bind any free port; ``url`` tells which.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], datetime] | None = None,
        decide: Decider | None = None,
    ) -> None:
        self.serving = build(settings, clock=clock, decide=decide)
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
