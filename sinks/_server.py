"""The HTTP server a serving replica runs: uvicorn, tuned and fronted for fast checks.

``server_config`` puts ``FastFront`` and ``FastHttpProtocol`` in front of the
app; ``tune_gc`` sets up the interpreter of a serving process; ``Server``
reports when it listens and leaves SIGINT/SIGTERM to the replica's own
shutdown; ``shared_socket`` lets several replicas bind one port.
"""

from __future__ import annotations

import contextlib
import gc
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI

from signalfold.sinks._fast_check import FastFront
from signalfold.sinks._fast_http import fast_http_protocol

__all__ = [
    "GC_THRESHOLDS",
    "LOOP",
    "SWITCH_INTERVAL",
    "Server",
    "server_config",
    "shared_socket",
    "tune_gc",
]

# uvloop's event loop with httptools' parser (``uvicorn[standard]``; the parser under
# ``FastHttpProtocol``) halved the per-request CPU of asyncio with h11.
LOOP = "uvloop"

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


class Server(uvicorn.Server):
    """uvicorn that reports when it listens and never re-raises the signal that stopped it.

    uvicorn re-raises SIGINT/SIGTERM after shutdown, which would kill the
    process (or print a KeyboardInterrupt traceback) before the consumer stops.
    """

    def __init__(self, config: uvicorn.Config, on_started: Callable[[Server], None]) -> None:
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
    ASGI task (uvloop's loop, ``LOOP``; httptools' parser underneath).
    """
    front = FastFront(app)
    return uvicorn.Config(
        front,
        access_log=False,  # URLs carry identifiers (email=...): no PII in logs
        lifespan="off",
        loop=LOOP,
        http=fast_http_protocol(front),
        **options,
    )


def shared_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` that other processes may bind too (SO_REUSEPORT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock
