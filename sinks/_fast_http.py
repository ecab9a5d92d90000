"""uvicorn's httptools protocol, answering plain decision checks while it parses them.

For a request, uvicorn builds an ASGI scope, a request/response cycle, an
``asyncio.Event`` and a task, then runs the app through them: about 130 µs of
CPU per request on this machine, more than the decision itself (a bare
asyncio protocol answers a constant in about 40 µs, syscalls included). At
2,000 checks/s that overhead alone keeps a replica a quarter busy, and the
queueing it causes is the p99.

``FastHttpProtocol`` asks ``FastFront.answer_now`` once a request's headers
are parsed; when it gets a body (a plain ``GET`` check from a key admitted
before), it writes the response as uvicorn would (status line, uvicorn's
default headers, content length and type) with no task at all. Everything
else — first use of a key, errors, bodies, pipelined requests behind a slow
one, paused writing, upgrades — goes through uvicorn unchanged.
"""

from __future__ import annotations

import logging
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from signalfold.sinks._fast_check import FastFront

__all__ = ["FastHttpProtocol", "fast_http_protocol"]

log = logging.getLogger(__name__)

_STATUS_200 = b"HTTP/1.1 200 OK\r\n"
_JSON = b"content-type: application/json\r\n"
_BODY_HEADERS = (b"content-length", b"transfer-encoding")


class FastHttpProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` with ``front``'s synchronous answers (see the module doc).

    Use ``fast_http_protocol(front)`` to get the class uvicorn's ``http`` option takes.
    """

    front: FastFront
    _answer: tuple[bytes, bool] | None = None  # (body, keep alive) of the request parsed

    def on_headers_complete(self) -> None:
        # A keep-alive timer armed by an answer given earlier in this same read is void.
        self._unset_keepalive_if_required()
        body = self._answer_now()
        if body is None:
            super().on_headers_complete()
            return
        parser = self.parser
        keep_alive = parser.get_http_version() != "1.0" and parser.should_keep_alive()
        self._answer = (body, keep_alive)

    def _answer_now(self) -> bytes | None:
        parser = self.parser
        cycle = self.cycle
        if (
            parser.get_method() != b"GET"
            or self.root_path
            or self.expect_100_continue
            or parser.should_upgrade()
            or (cycle is not None and not cycle.response_complete)  # answers stay in order
            or self.pipeline
            or self.flow.write_paused  # a client that does not read waits, as in uvicorn
        ):
            return None
        headers = self.headers
        for name, _ in headers:
            if name in _BODY_HEADERS:
                return None
        url = httptools.parse_url(self.url)
        path = url.path
        if b"%" in path:
            return None
        try:
            return self.front.answer_now("GET", path.decode("ascii"), url.query or b"", headers)
        except Exception:  # a bug here must not become uvicorn's 400: the route answers 500
            log.exception("fast check failed; answering through the app")
            return None

    def on_body(self, body: bytes) -> None:
        if self._answer is None:
            super().on_body(body)

    def on_message_complete(self) -> None:
        answer = self._answer
        if answer is None:
            super().on_message_complete()
            return
        self._answer = None
        body, keep_alive = answer
        if self.transport.is_closing():
            return
        head = [_STATUS_200]
        for name, value in self.server_state.default_headers:
            head += (name, b": ", value, b"\r\n")
        head += (b"content-length: %d\r\n" % len(body), _JSON)
        if not keep_alive:
            head.append(b"connection: close\r\n")
        head += (b"\r\n", body)
        self.transport.write(b"".join(head))
        if not keep_alive:
            self.transport.close()
        self.on_response_complete()  # as uvicorn: counts it, resumes reading, arms keep-alive


def fast_http_protocol(front: FastFront) -> type[FastHttpProtocol]:
    """The protocol class for uvicorn's ``http`` option, answering through ``front``."""
    attrs: dict[str, Any] = {"front": front, "__doc__": FastHttpProtocol.__doc__}
    return type("BoundFastHttpProtocol", (FastHttpProtocol,), attrs)
