"""``signalfold serve``: the composition root of a serving replica, and its runner.

``build`` wires store + view + materializer + app; ``serve`` runs them until
SIGINT/SIGTERM and then stops the consumer cleanly; ``ServeHandle`` runs the
same thing in a thread (tests, notebooks) on a free port.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

from fastapi import FastAPI

from signalfold.policy import Decider, load_policy
from signalfold.privacy.sealing import SubjectIds
from signalfold.privacy.secret import pii_hash_key
from signalfold.settings import Settings
from signalfold.sinks._log_publisher import KafkaLogPublisher
from signalfold.sinks._policy_reload import PolicyReloader
from signalfold.sinks._server import Server, server_config, shared_socket, tune_gc
from signalfold.sinks.api import create_app
from signalfold.sinks.checks import DecideFunction
from signalfold.sinks.decision_log import DecisionLog, DecisionLogTable
from signalfold.sinks.materializer import Materializer
from signalfold.sinks.pii import hasher_for
from signalfold.sinks.routes_erasure import ErasureWiring, KafkaErasures
from signalfold.sinks.routes_identity import KafkaCommands
from signalfold.sinks.store import Store, open_store
from signalfold.sinks.view import ServingView
from signalfold.streams.keylog import KeyLog
from signalfold.streams.topics import Topics, ensure_topics

__all__ = ["ServeHandle", "Serving", "build", "serve"]

log = logging.getLogger(__name__)


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
    decide: Decider | DecideFunction | None = None,
) -> Serving:
    """Wire one replica; nothing runs until ``materializer.start()`` and the HTTP server.

    ``decide`` defaults to a ``Decider`` with ``settings.policy_file`` (the
    shipped policy when unset): its unknown-customer and ask-time rules, and
    live edits of the file.
    """
    reloading: Decider | None = None
    if decide is None:
        decide = reloading = Decider(load_policy(settings.policy_file))
    topics = Topics(prefix=settings.topic_prefix)
    ensure_topics(
        settings.kafka_client_config(),
        [
            topics.customer_state,
            topics.identity_index,
            topics.resolved,
            topics.identity_changes,
            topics.decisions_log,
            topics.privacy_keys,
            topics.erasures,
            topics.do_not_contact,
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
    keys = KeyLog(
        settings.kafka_client_config(), topics.privacy_keys, SubjectIds(pii_hash_key(settings))
    )
    materializer = Materializer(
        settings.kafka_client_config(),
        topics,
        view,
        store,
        batch_size=settings.batch_size,
        decision_log=log_table,
        max_lag=settings.ready_max_lag,
        broker_timeout=settings.ready_broker_timeout,
        keys=keys,
    )
    publisher = KafkaLogPublisher(
        settings.kafka_client_config(), topics.decisions_log, materializer.wait_applied
    )
    hasher = hasher_for(settings)  # the deployment's key: every replica hashes alike
    decision_log = DecisionLog(
        log_table, publisher=publisher, flush_interval=0.05, hasher=hasher
    ).start()
    extra: dict[str, Any] = {"clock": clock} if clock is not None else {}
    app = create_app(
        view,
        store,
        settings,
        decide=decide,
        readiness=materializer,
        decision_log=decision_log,
        publish=KafkaCommands(settings, keys),
        erasures=ErasureWiring(KafkaErasures(settings), hasher.key, materializer.erasures.get),
        **extra,
    )
    reloader = PolicyReloader(reloading) if reloading is not None else None
    return Serving(settings, store, view, materializer, app, decision_log, reloader)


def _server(serving: Serving, on_started: Callable[[Server], None]) -> Server:
    config = server_config(
        serving.app,
        host=serving.settings.api_host,
        port=serving.settings.api_port,
        log_level=serving.settings.log_level.lower(),
    )
    return Server(config, on_started)


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


class ServeHandle:
    """A replica in a background thread, for tests: ``with ServeHandle(settings) as h: h.url``.

    Give ``settings.api_port=0`` to bind any free port; ``url`` tells which.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], datetime] | None = None,
        decide: Decider | DecideFunction | None = None,
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
