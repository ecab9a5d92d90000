"""Subcommands that run the pipeline: run, broker, topics, worker, serve, demo, schemas."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from signalfold.commands._errors import broker_errors, needs_broker, require_broker
from signalfold.commands._help import add_command
from signalfold.commands._output import add_json_flag, emit
from signalfold.settings import Settings

__all__ = ["register"]


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from signalfold.supervisor import run

    if settings.kafka_bootstrap is not None:  # else `run` starts the embedded broker
        require_broker(settings)
    return run(settings, demo=args.demo, people=args.people)


def _broker(args: argparse.Namespace, settings: Settings) -> int:
    import signal
    import threading

    from signalfold.streams.broker import EmbeddedBroker

    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    with EmbeddedBroker(port=settings.embedded_port) as broker:
        print(f"embedded broker on {broker.bootstrap}; Ctrl-C stops it", flush=True)
        done.wait()
    return 0


def _topics(args: argparse.Namespace, settings: Settings) -> int:
    from signalfold.bootstrap import create_topics

    topics = create_topics(settings)
    emit(args, {"topics": topics.pipeline()}, topics.pipeline())
    return 0


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from signalfold.bootstrap import build_worker

    runner = build_worker(args.stage, settings)
    runner.install_signal_handlers()
    runner.run()
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from signalfold.bootstrap import check_topics, serve

    check_topics(settings, "serve")  # refuses topics made with other settings, naming each
    serve(settings)
    return 0


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from signalfold.supervisor import feed_demo

    sent, good = feed_demo(settings, people=args.people, seed=args.seed, bad=not args.no_bad)
    line = f"produced {sent} demo events ({sent - good} of them malformed, for the DLQ)"
    emit(args, {"produced": sent, "malformed": sent - good}, [line])
    return 0


def _schemas(args: argparse.Namespace, settings: Settings) -> int:
    from signalfold.schemas.export import export_json_schemas

    written = [str(p) for p in export_json_schemas(Path(args.out))]
    emit(args, {"written": written}, written)
    return 0


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "run",
        "start broker (if none is configured), workers and API; Ctrl-C stops all",
        "signalfold run --demo",
        "SIGNALFOLD_KAFKA_BOOTSTRAP=kafka:9092 signalfold run",
    )
    p.add_argument("--demo", action="store_true", help="feed the demo generator once started")
    p.add_argument("--people", type=int, default=300, help="demo people (default 300)")
    p.set_defaults(func=broker_errors(_run))

    p = add_command(
        sub,
        "broker",
        "run only the embedded Tansu broker on loopback; Ctrl-C stops it",
        "signalfold broker   # then, in another shell: signalfold topics",
    )
    p.set_defaults(func=_broker)

    p = add_command(
        sub,
        "topics",
        "create the pipeline and source topics that are missing, and list them",
        "SIGNALFOLD_KAFKA_BOOTSTRAP=127.0.0.1:9092 signalfold topics",
    )
    add_json_flag(p)
    p.set_defaults(func=needs_broker(_topics))

    p = add_command(
        sub,
        "worker",
        "run one stream stage (ingest, resolve or state) until SIGINT/SIGTERM",
        "signalfold worker --stage ingest",
        "signalfold worker --stage resolve   # a second one is a hot standby (lease)",
    )
    p.add_argument(
        "--stage",
        choices=["ingest", "resolve", "state"],
        required=True,
        help="which stage this process runs",
    )
    p.set_defaults(func=needs_broker(_worker))

    p = add_command(
        sub,
        "serve",
        "materialise state into DuckDB and answer the HTTP API until SIGINT/SIGTERM",
        "signalfold serve",
        "SIGNALFOLD_API_PORT=8081 SIGNALFOLD_API_REPLICA=1 signalfold serve",
    )
    p.set_defaults(func=needs_broker(_serve))

    p = add_command(
        sub,
        "demo",
        "produce synthetic marketing, sales and support events onto the raw topics",
        "signalfold demo --people 50 --no-bad",
    )
    p.add_argument("--people", type=int, default=300, help="synthetic people (default 300)")
    p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    p.add_argument("--no-bad", action="store_true", help="leave out the malformed events")
    add_json_flag(p)
    p.set_defaults(func=needs_broker(_demo))

    p = add_command(
        sub,
        "schemas",
        "export the JSON Schema of every model",
        "signalfold schemas --out docs/schemas",
    )
    p.add_argument("--out", default="docs/schemas", help="output folder (default docs/schemas)")
    add_json_flag(p)
    p.set_defaults(func=_schemas)
