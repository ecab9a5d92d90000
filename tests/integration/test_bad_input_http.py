"""Bad input on a real uvicorn server (``server_config``, as ``signalfold serve`` runs it).

The body limit holds on the fast path too (``FastFront`` sends a learned batch
route straight to ``FastChecks``), a refused body closes the connection, and a
request that fails on the fast path is a 500 whose log line holds no value.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import duckdb
import pytest
import uvicorn

from signalfold.policy import Decider, load_policy
from signalfold.schemas import CustomerState
from signalfold.settings import Settings
from signalfold.sinks import checks
from signalfold.sinks.api import create_app
from signalfold.sinks.serve import server_config
from signalfold.sinks.store import Store
from signalfold.sinks.view import ServingView

NOW = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
LIMIT = 4096
SECRET = "jane.private@example.com"
CHECK = {"email": SECRET, "channel": "email", "purpose": "marketing"}


@pytest.fixture
def port() -> Iterator[int]:
    store = Store(duckdb.connect(":memory:"))
    store.setup()
    view = ServingView()
    view.apply(
        states=[("c1", CustomerState(customer_id="c1", version=3).model_dump_json().encode())]
    )
    app = create_app(
        view,
        store,
        Settings(max_request_bytes=LIMIT),
        clock=lambda: NOW,
        decide=Decider(load_policy()),
    )
    server = uvicorn.Server(server_config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)


def _post(port: int, body: bytes, *, length: int | None = None) -> tuple[bytes, bytes, bool]:
    """(status line, body, whether the server closed the connection) for one POST."""
    head = (
        "POST /v1/suppression/check HTTP/1.1\r\nHost: t\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body) if length is None else length}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head + body[:65536])
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        headers, rest = data.split(b"\r\n\r\n", 1)
        status, *lines = headers.split(b"\r\n")
        fields = dict(line.lower().split(b": ", 1) for line in lines)
        size = int(fields[b"content-length"])
        while len(rest) < size:
            rest += sock.recv(65536)
        sock.settimeout(0.5)  # a kept-alive connection stays open: that is the answer too
        try:
            closed = sock.recv(1) == b""
        except (ConnectionResetError, TimeoutError):
            closed = False
        return status, rest[:size], closed


def _batch(n: int) -> bytes:
    return json.dumps({"checks": [CHECK] * n}).encode()


def test_the_body_limit_holds_on_the_fast_path(port) -> None:
    for _ in range(2):  # the first admits the key; the second is answered from what it kept
        status, body, closed = _post(port, _batch(1))
        assert status == b"HTTP/1.1 200 OK" and json.loads(body)["counts"] == {"allow": 1}
    status, body, closed = _post(port, b"x" * 64, length=50_000_000)  # a 50 MB claim
    assert status.startswith(b"HTTP/1.1 413") and closed
    (detail,) = json.loads(body)["detail"]
    assert detail["type"] == "body_too_large" and detail["found"] == "a body of 50000000 bytes"
    status, body, closed = _post(port, _batch(100))
    assert status.startswith(b"HTTP/1.1 413") and closed and SECRET.encode() not in body


def test_a_fast_path_failure_is_a_500_logged_without_values(port, monkeypatch, caplog) -> None:
    def broken(*args: object, **kwargs: object) -> object:
        raise ValueError(f"cannot answer {args}")  # a message that quotes the request

    assert _post(port, _batch(1))[0] == b"HTTP/1.1 200 OK"
    monkeypatch.setattr(checks, "customer_asked", broken)
    caplog.set_level(logging.DEBUG)
    status, body, _ = _post(port, _batch(1))
    assert status.startswith(b"HTTP/1.1 500")
    (detail,) = json.loads(body)["detail"]
    assert detail["type"] == "internal_error"
    assert SECRET not in caplog.text and "Traceback" not in caplog.text
    (line,) = [r.getMessage() for r in caplog.records if "failed:" in r.getMessage()]
    assert line.startswith("POST /v1/suppression/check failed: ValueError at ")
