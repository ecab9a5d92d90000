"""What commands that talk to the broker share: a clear error when it is unreachable."""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable

from signalfold.errors import SignalfoldError
from signalfold.settings import Settings

__all__ = ["broker_errors", "needs_broker", "require_broker"]

Command = Callable[[argparse.Namespace, Settings], int]


def require_broker(settings: Settings, timeout: float = 5.0) -> None:
    """Raise ``KafkaException`` unless the broker answers a metadata request within ``timeout``.

    Commands that need the broker (``worker`` and ``serve`` before their loops) call it
    first, through :func:`needs_broker`, so a missing broker is one line, not
    librdkafka's reconnect log and a traceback. The probe itself logs nothing.
    """
    from signalfold.streams.kafka import admin as make_admin

    make_admin({**settings.kafka_client_config(), "log_level": 0}).list_topics(timeout=timeout)


def broker_errors(func: Command) -> Command:
    """A command whose broker is unreachable says so, instead of a traceback."""

    @functools.wraps(func)
    def run(args: argparse.Namespace, settings: Settings) -> int:
        from confluent_kafka import KafkaException

        try:
            return int(func(args, settings))
        except KafkaException as exc:
            where = settings.kafka_client_config()["bootstrap.servers"]
            raise SignalfoldError(
                f"broker at {where}: {exc.args[0].str() if exc.args else exc}; start the "
                "pipeline (`signalfold run`) or set SIGNALFOLD_KAFKA_BOOTSTRAP"
            ) from None

    return run


def needs_broker(func: Command) -> Command:
    """:func:`broker_errors`, and the broker is probed first (:func:`require_broker`): a
    command that cannot work without it says so within seconds, before any output."""

    def probed(args: argparse.Namespace, settings: Settings) -> int:
        require_broker(settings)
        return int(func(args, settings))

    return broker_errors(functools.wraps(func)(probed))
