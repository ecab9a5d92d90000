"""``signalfold`` command line: one subcommand per process or operator task."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from signalfold.settings import Settings

__all__ = ["main"]


def _logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from signalfold.supervisor import run

    return run(settings, demo=args.demo, people=args.people)


def _cmd_broker(args: argparse.Namespace, settings: Settings) -> int:
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


def _cmd_topics(args: argparse.Namespace, settings: Settings) -> int:
    from signalfold.bootstrap import create_topics

    topics = create_topics(settings)
    print("\n".join(topics.pipeline()))
    return 0


def _cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from signalfold.bootstrap import build_runner

    runner = build_runner(args.stage, settings)
    runner.install_signal_handlers()
    runner.run()
    return 0


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from signalfold.sinks.serve import serve

    serve(settings)
    return 0


def _cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from signalfold.supervisor import feed_demo

    sent = feed_demo(settings, people=args.people, seed=args.seed, bad=not args.no_bad)
    print(f"produced {sent} demo events")
    return 0


def _cmd_schemas(args: argparse.Namespace, settings: Settings) -> int:
    from signalfold.schemas.export import export_json_schemas

    written = export_json_schemas(Path(args.out))
    print("\n".join(str(p) for p in written))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="signalfold",
        description="Fold marketing, sales and support signals into one customer reality. "
        "Settings come from SIGNALFOLD_* environment variables (see README).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "run", help="start broker (if none is configured), workers, API; Ctrl-C stops all"
    )
    p.add_argument("--demo", action="store_true", help="feed the demo generator once started")
    p.add_argument("--people", type=int, default=300, help="demo people (default 300)")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("broker", help="run only the embedded Tansu broker on loopback")
    p.set_defaults(func=_cmd_broker)

    p = sub.add_parser("topics", help="create the pipeline and source topics that are missing")
    p.set_defaults(func=_cmd_topics)

    p = sub.add_parser("worker", help="run one stream stage: ingest, resolve or state")
    p.add_argument("--stage", choices=["ingest", "resolve", "state"], required=True)
    p.set_defaults(func=_cmd_worker)

    p = sub.add_parser("serve", help="materialise state into DuckDB and answer the HTTP API")
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("demo", help="produce synthetic marketing, sales and support events")
    p.add_argument("--people", type=int, default=300)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--no-bad", action="store_true", help="leave out the malformed events")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("schemas", help="export JSON Schema of every model")
    p.add_argument("--out", default="docs/schemas", help="output folder")
    p.set_defaults(func=_cmd_schemas)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings()
    _logging(settings)
    return int(args.func(args, settings) or 0)


if __name__ == "__main__":
    sys.exit(main())
