"""``FastHttpProtocol`` on a real uvicorn server: the same bytes as uvicorn, in order.

A replica's app over an in-memory view, served by uvicorn with
``server_config`` (as ``signalfold serve`` runs it) on a free port; requests
go over raw sockets, so keep-alive, pipelining and ``Connection: close`` are
exactly what a client sends.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
import uvicorn

from signalfold.policy import Decider, load_policy
from signalfold.schemas import CustomerState
from signalfold.settings import Settings
from signalfold.sinks.api import create_app
from signalfold.sinks.auth import hash_key
from signalfold.sinks.decision_log import DecisionLog
from signalfold.sinks.serve import server_config
from signalfold.sinks.store import Store
from signalfold.sinks.view import ServingView

NOW = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
KEY = "sf_fast_http_bot"
CHECK = "/v1/suppression/check?channel=email&purpose=marketing&customer_id=c1"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[int, list[bool], DecisionLog]]:
    """(port, whether each ``answer_now`` call answered, the decision log)."""
    keys = tmp_path / "keys.yaml"
    keys.write_text(f"keys:\n  - {{name: bot, role: marketing_bot, hash: {hash_key(KEY)}}}\n")
    store = Store(duckdb.connect(":memory:"))
    store.setup()
    view = ServingView()
    view.apply(
        states=[("c1", CustomerState(customer_id="c1", version=3).model_dump_json().encode())]
    )
    log = DecisionLog(duckdb.connect(":memory:"))
    app = create_app(
        view,
        store,
        Settings(api_keys_file=keys),
        clock=lambda: NOW,
        decide=Decider(load_policy()),
        decision_log=log,
    )
    config = server_config(app, host="127.0.0.1", port=0, log_level="warning")
    answered: list[bool] = []
    front = config.http.front  # type: ignore[union-attr]
    real = front.answer_now

    def counted(*args: object) -> bytes | None:
        body = real(*args)  # type: ignore[arg-type]
        answered.append(body is not None)
        return body

    front.answer_now = counted
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield port, answered, log
    finally:
        server.should_exit = True
        thread.join(10)
        log.close()


def _get(path: str, *, key: str = KEY, version: str = "1.1", extra: str = "") -> bytes:
    return f"GET {path} HTTP/{version}\r\nHost: t\r\nX-API-Key: {key}\r\n{extra}\r\n".encode()


def _responses(sock: socket.socket, count: int) -> list[tuple[bytes, dict[bytes, bytes], bytes]]:
    """Read ``count`` responses (status line, headers without ``date``, body)."""
    data, out = b"", []
    sock.settimeout(5)
    while len(out) < count:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed after {len(out)} of {count} responses"
            data += chunk
        head, data = data.split(b"\r\n\r\n", 1)
        status, *lines = head.split(b"\r\n")
        headers = dict(line.split(b": ", 1) for line in lines)
        length = int(headers[b"content-length"])
        while len(data) < length:
            data += sock.recv(65536)
        body, data = data[:length], data[length:]
        headers.pop(b"date")
        out.append((status, headers, body))
    return out


def _closed(sock: socket.socket) -> bool:
    sock.settimeout(5)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_a_known_key_is_answered_while_parsed_with_uvicorns_bytes(served) -> None:
    port, answered, log = served
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(_get(CHECK))
        (slow,) = _responses(sock, 1)  # first use of the key: through the app
        sock.sendall(_get(CHECK))
        (fast,) = _responses(sock, 1)
    assert answered == [False, True]
    assert slow == fast
    assert slow[0] == b"HTTP/1.1 200 OK"
    assert slow[1][b"content-type"] == b"application/json"
    assert b'"customer_id":"c1"' in slow[2]
    assert len(log.query(customer_ids=["c1"])) == 2  # both logged


def test_pipelined_requests_are_answered_in_order(served) -> None:
    port, answered, _log = served
    other = "/v1/suppression/check?channel=sms&purpose=marketing&customer_id=c1"
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(_get(CHECK))
        _responses(sock, 1)
        # fast, then one the app answers (a wrong key: 401), then fast again
        sock.sendall(_get(CHECK) + _get(CHECK, key="sf_wrong") + _get(other))
        first, refused, third = _responses(sock, 3)
    assert first[0] == third[0] == b"HTTP/1.1 200 OK"
    assert b'"channel":"email"' in first[2] and b'"channel":"sms"' in third[2]
    assert refused[0] == b"HTTP/1.1 401 Unauthorized"
    # the last waited behind the app's answer to the wrong key (never asked to overtake it)
    assert answered == [False, True, False]


def test_connection_close_and_http_1_0_close_after_the_answer(served) -> None:
    port, answered, _log = served
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(_get(CHECK))
        _responses(sock, 1)
        sock.sendall(_get(CHECK, extra="Connection: close\r\n"))
        ((status, headers, _),) = _responses(sock, 1)
        assert (status, headers[b"connection"]) == (b"HTTP/1.1 200 OK", b"close")
        assert _closed(sock)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(_get(CHECK, version="1.0"))
        ((status, headers, _),) = _responses(sock, 1)
        assert headers[b"connection"] == b"close"
        assert _closed(sock)
    assert answered == [False, True, True]


def test_typos_after_the_key_is_admitted_get_the_routes_422(served) -> None:
    port, answered, log = served
    typos = [
        "/v1/suppression/check?channel=email&purpose=marketing&type=nonsense_id&value=x",
        "/v1/suppression/check?channel=email&purpose=marketing&customer_id=jane",
    ]
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(_get(CHECK))
        _responses(sock, 1)  # the key is admitted: plain checks are answered while parsed
        sock.sendall(b"".join(_get(path) for path in typos))
        by_type, by_id = _responses(sock, 2)
    assert not any(answered)  # the fast path declined: the route answered (pipelined behind)
    for status, headers, body in (by_type, by_id):
        assert status == b"HTTP/1.1 422 Unprocessable Entity"
        assert headers[b"content-type"] == b"application/json"
        assert b'"allow"' not in body and b'"outcome"' not in body
    assert b'"field":"type"' in by_type[2] and b"crm_contact_id" in by_type[2]
    assert b'"field":"customer_id"' in by_id[2]
    assert len(log.query(customer_ids=["c1"])) == 1  # typos are not logged as answers


def test_docs_are_served_from_this_replica(served) -> None:
    port, _answered, _log = served
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(_get("/docs"))
        ((status, _headers, body),) = _responses(sock, 1)
        assert status == b"HTTP/1.1 200 OK"
        assets = re.findall(rb"""(?:src|href)="([^"]+)\"""", body)
        assert assets and b"http://" not in body and b"https://" not in body
        sock.sendall(b"".join(_get(a.decode()) for a in assets))
        for status, _headers, _body in _responses(sock, len(assets)):
            assert status == b"HTTP/1.1 200 OK"
