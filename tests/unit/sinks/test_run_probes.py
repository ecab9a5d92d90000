"""``make run``'s probes for example identifiers leave nothing in the decision log."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import duckdb
import httpx
import pytest
import uvicorn

from signalfold import supervisor
from signalfold.identity import normalize_email
from signalfold.schemas import CustomerState
from signalfold.settings import Settings
from signalfold.sinks.api import create_app
from signalfold.sinks.decision_log import DecisionLog
from signalfold.sinks.store import Store
from signalfold.sinks.view import ServingView
from signalfold.streams.demo import generate_demo

NOW = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def _first_marketing_email() -> str:
    for event in generate_demo(people=50, seed=7):  # the people ``_example_email`` asks about
        if event.source == "marketing":
            email = json.loads(event.value).get("email", "").strip()
            if email:
                return email
    raise AssertionError("the demo has no marketing email")


@pytest.fixture
def served() -> Iterator[tuple[str, DecisionLog, str]]:
    """(base URL, the decision log, the one demo email the view knows)."""
    email = _first_marketing_email()
    view = ServingView()
    view.apply(
        states=[("c1", CustomerState(customer_id="c1", version=1).model_dump_json().encode())],
        index=[(f"email:{normalize_email(email)}", "c1")],  # as the graph indexes it
    )
    store = Store(duckdb.connect(":memory:"))
    store.setup()
    log = DecisionLog(duckdb.connect(":memory:"))
    app = create_app(view, store, Settings(), clock=lambda: NOW, decision_log=log)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", log, email
    finally:
        server.should_exit = True
        thread.join(10)
        log.close()


def test_example_probes_find_a_customer_without_logging_a_decision(served) -> None:
    base, log, email = served
    denied, allowed = supervisor._example_email(Settings(), base)
    assert email in (denied, allowed)
    log.flush()
    assert log.query(customer_ids=["c1"]) == []
    # a real caller's check is still logged, under its surface
    params = {"email": email, "channel": "email", "purpose": "marketing"}
    assert httpx.get(f"{base}/v1/suppression/check", params=params).status_code == 200
    log.flush()
    (row,) = log.query(customer_ids=["c1"])
    assert row.surface == "open-access"
