"""``signalfold`` command line. Subcommands live in ``signalfold/commands/``."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from signalfold.commands import GROUPS
from signalfold.errors import SignalfoldError
from signalfold.settings import Settings

__all__ = ["build_parser", "main"]


def _logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Request lines carry emails and phone numbers in their query strings: no PII in logs.
    for noisy in ("httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="signalfold",
        description="Fold marketing, sales and support signals into one customer reality. "
        "Settings come from SIGNALFOLD_* environment variables (see README).",
        epilog="examples:\n"
        "  signalfold run --demo          # everything on one machine, with demo data\n"
        "  signalfold sources list        # sources, owners and counts\n"
        "  signalfold COMMAND --help      # what a command does, with an example",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        importlib.import_module(group).register(sub)
    return parser


def _reader_left() -> int:
    """``signalfold … | head`` closed the pipe: stop quietly, as ``cat`` does (128 + SIGPIPE).

    stdout is pointed at /dev/null so the interpreter's last flush fails no more.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout is not a file (captured in tests)
        pass
    return 141


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings()
    _logging(settings)
    try:
        return int(args.func(args, settings) or 0)
    except SignalfoldError as exc:
        print(f"signalfold {args.command}: {exc}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    try:
        try:
            return _main(argv)
        finally:
            sys.stdout.flush()  # a reader that left shows here, not at interpreter exit
    except BrokenPipeError:
        return _reader_left()


if __name__ == "__main__":
    sys.exit(main())
