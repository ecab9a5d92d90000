"""Subcommands that run the pipeline: run, broker, topics, worker, serve, demo, schemas."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from signalfold.settings import Settings

__all__ = ["register"]


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from signalfold.supervisor import run

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
    print("\n".join(topics.pipeline()))
    return 0


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from signalfold.bootstrap import build_runner

    runner = build_runner(args.stage, settings)
    runner.install_signal_handlers()
    runner.run()
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from signalfold.sinks.serve import serve

    serve(settings)
    return 0


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from signalfold.supervisor import feed_demo

    sent, good = feed_demo(settings, people=args.people, seed=args.seed, bad=not args.no_bad)
    print(f"produced {sent} demo events ({sent - good} of them malformed, for the DLQ)")
    return 0


def _schemas(args: argparse.Namespace, settings: Settings) -> int:
    from signalfold.schemas.export import export_json_schemas

    written = export_json_schemas(Path(args.out))
    print("\n".join(str(p) for p in written))
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "run", help="start broker (if none is configured), workers and API; Ctrl-C stops all"
    )
    p.add_argument("--demo", action="store_true", help="feed the demo generator once started")
    p.add_argument("--people", type=int, default=300, help="demo people (default 300)")
    p.set_defaults(func=_run)

    p = sub.add_parser("broker", help="run only the embedded Tansu broker on loopback")
    p.set_defaults(func=_broker)

    p = sub.add_parser("topics", help="create the pipeline and source topics that are missing")
    p.set_defaults(func=_topics)

    p = sub.add_parser("worker", help="run one stream stage: ingest, resolve or state")
    p.add_argument("--stage", choices=["ingest", "resolve", "state"], required=True)
    p.set_defaults(func=_worker)

    p = sub.add_parser("serve", help="materialise state into DuckDB and answer the HTTP API")
    p.set_defaults(func=_serve)

    p = sub.add_parser("demo", help="produce synthetic marketing, sales and support events")
    p.add_argument("--people", type=int, default=300)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--no-bad", action="store_true", help="leave out the malformed events")
    p.set_defaults(func=_demo)

    p = sub.add_parser("schemas", help="export JSON Schema of every model")
    p.add_argument("--out", default="docs/schemas", help="output folder")
    p.set_defaults(func=_schemas)
