"""A serving replica: ``build_serving`` wires store + view + materializer + app.

``serve`` runs one until SIGINT/SIGTERM (``signalfold serve``); ``serve_handle``
runs one in a thread on a free port (tests, notebooks).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from signalfold.bootstrap.topics import key_log
from signalfold.settings import Settings
from signalfold.streams.topics import Topics, ensure_topics

if TYPE_CHECKING:  # a worker imports this package too: FastAPI and DuckDB load on use
    from signalfold.policy import Decider
    from signalfold.sinks.checks import DecideFunction
    from signalfold.sinks.serve import ServeHandle, Serving

__all__ = ["build_serving", "serve", "serve_handle"]


def build_serving(
    settings: Settings,
    *,
    clock: Callable[[], datetime] | None = None,
    decide: Decider | DecideFunction | None = None,
) -> Serving:
    """Wire one replica; nothing runs until ``Serving.start()`` and the HTTP server.

    ``decide`` defaults to a ``Decider`` with ``settings.policy_file`` (the
    shipped policy when unset): its unknown-customer and ask-time rules, and
    live edits of the file.
    """
    from signalfold.policy import Decider, load_policy
    from signalfold.sinks.api import create_app
    from signalfold.sinks.decision_log import DecisionLog, DecisionLogTable
    from signalfold.sinks.log_publisher import KafkaLogPublisher
    from signalfold.sinks.materializer import Materializer
    from signalfold.sinks.pii import hasher_for
    from signalfold.sinks.routes_erasure import ErasureWiring, KafkaErasures
    from signalfold.sinks.routes_identity import KafkaCommands
    from signalfold.sinks.serve import PolicyReloader, Serving
    from signalfold.sinks.store import open_store
    from signalfold.sinks.view import ServingView
    from signalfold.streams.registry import install_declared_types

    reloading: Decider | None = None
    if decide is None:
        decide = reloading = Decider(load_policy(settings.policy_file))
    topics = Topics(prefix=settings.topic_prefix)
    client = settings.kafka_client_config()
    ensure_topics(
        client,
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
    install_declared_types(settings)  # signals of contract-declared types parse here too
    replica = "" if settings.api_replica is None else f"-r{settings.api_replica}"
    store = open_store(settings.data_dir, name=f"serve-{settings.api_port}{replica}")
    view = ServingView()
    log_table = DecisionLogTable(store.connection)  # rebuilt from decisions.log at start
    keys = key_log(settings)
    materializer = Materializer(
        client,
        topics,
        view,
        store,
        batch_size=settings.batch_size,
        decision_log=log_table,
        max_lag=settings.ready_max_lag,
        broker_timeout=settings.ready_broker_timeout,
        keys=keys,
    )
    publisher = KafkaLogPublisher(client, topics.decisions_log, materializer.wait_applied)
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


def serve(settings: Settings, *, ready_event: threading.Event | None = None) -> None:
    """Build a replica and run it until SIGINT/SIGTERM; ``ready_event`` is set once HTTP listens.

    With ``settings.api_replica`` set, the port is bound with ``SO_REUSEPORT``:
    several replicas on one host share it and the kernel spreads connections.
    """
    from signalfold.sinks.serve import run

    run(build_serving(settings), ready_event=ready_event)


def serve_handle(
    settings: Settings,
    *,
    clock: Callable[[], datetime] | None = None,
    decide: Decider | DecideFunction | None = None,
) -> ServeHandle:
    """A replica in a background thread: ``with serve_handle(settings) as h: h.url``.

    Give ``settings.api_port=0`` to bind any free port; ``url`` tells which.
    """
    from signalfold.sinks.serve import ServeHandle

    return ServeHandle(build_serving(settings, clock=clock, decide=decide))
