"""Schemathesis against the published OpenAPI: no input it generates gets a 5xx.

A replica's app (``create_app``) over a small in-memory view and store, served
by uvicorn with ``server_config`` as ``signalfold serve`` runs it (so the fast
paths answer too), with identity commands published to the real embedded
broker. Examples per operation are bounded (``MAX_EXAMPLES``): the whole run
stays well under a minute.

Checks: every check schemathesis has (``--checks all``) except

- ``positive_data_acceptance``: a request valid for the schema may still be
  refused on purpose: an identifier type no contract declares, a customer id
  no customer has in a shape that is not signalfold's, a cursor this service
  did not hand out are all 422 (the schema cannot say "a value that exists");
- ``max_response_time``: timing belongs to the benchmarks, not to a test on a
  shared two-core machine;
- the stateful checks (``use_after_free``, ``ensure_resource_availability``):
  no operation creates or deletes a resource.

The replica runs with a key file, so ``ignored_auth`` and the negative cases
that drop the key expect (and get) a 401.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings

from signalfold.policy import Decider, load_policy
from signalfold.schemas import CustomerState, Resolved, Signal
from signalfold.schemas.signal import make_signal_id
from signalfold.settings import Settings
from signalfold.sinks.api import create_app
from signalfold.sinks.auth import hash_key
from signalfold.sinks.serve import server_config
from signalfold.sinks.store import Store, signal_row
from signalfold.sinks.view import ServingView
from signalfold.streams.topics import Topics, ensure_topics

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 12
KEY = "sf_schemathesis_admin"
EXCLUDED = [
    schemathesis.checks.positive_data_acceptance,
    schemathesis.checks.max_response_time,
    schemathesis.checks.use_after_free,
    schemathesis.checks.ensure_resource_availability,
]


def _resolved(n: int) -> dict[str, Any]:
    """A ``signals.resolved`` value: ticket ``n`` of customer ``c1``."""
    at = datetime(2024, 5, 1, tzinfo=UTC) + timedelta(minutes=n)
    signal = Signal(
        signal_id=make_signal_id("zendesk", f"e{n}"),
        source="zendesk",
        source_event_id=f"e{n}",
        record_key="u1",
        type="support.ticket.opened",
        occurred_at=at,
        received_at=at,
        identifiers=({"type": "email", "value": "jane@example.com"},),
        payload={"ticket_id": f"T-{n}"},
    )
    return Resolved(kind="signal", customer_id="c1", signal=signal).model_dump(mode="json")


@pytest.fixture(scope="module")
def served_url(broker, tmp_path_factory) -> Iterator[str]:
    """The base URL of a replica serving a tiny world, on a free port, admitting ``KEY``."""
    keys = tmp_path_factory.mktemp("keys") / "keys.yaml"
    keys.write_text(f"keys:\n  - {{name: admin, role: admin, hash: {hash_key(KEY)}}}\n")
    settings_ = Settings(
        kafka_bootstrap=broker.bootstrap,
        topic_prefix=f"t{time.monotonic_ns()}.",
        partitions=1,
        api_keys_file=keys,
    )
    topics = Topics(settings_.topic_prefix)
    ensure_topics(
        settings_.kafka_client_config(),
        [topics.identity_commands],
        1,
        compacted=topics.compacted(),
        ordered=topics.ordered(),
        kept=topics.kept(),
    )
    view = ServingView()
    view.apply(
        states=[("c1", CustomerState(customer_id="c1", version=1).model_dump_json().encode())],
        index=[("email:jane@example.com", "c1")],
        aliases=[("c0", "c1")],
    )
    store = Store(duckdb.connect(":memory:"))
    store.setup()
    for n in range(3):
        store.signals.add(signal_row(_resolved(n)))
    store.flush()
    app = create_app(view, store, settings_, decide=Decider(load_policy()))
    server = uvicorn.Server(server_config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def _can_be_negated(operation: Any) -> bool:
    """Whether the operation takes anything but the key (else no request violates its schema)."""
    params = [p for p in operation.iter_parameters() if p.name != "X-API-Key"]
    return bool(params) or (operation.body is not None and len(operation.body) > 0)


@pytest.fixture(scope="module")
def api_schema(served_url: str) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{served_url}/openapi.json")


# ``schemathesis.pytest.from_fixture`` reads ``request.node._nodeid``, which pytest 9
# no longer has: each operation's strategy is run by Hypothesis here instead.
@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=str)
def test_no_generated_request_gets_a_server_error(
    api_schema: schemathesis.BaseSchema, mode: schemathesis.GenerationMode
) -> None:
    failures: dict[str, str] = {}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 12, [op.label for op in operations]
    for operation in operations:
        if mode == schemathesis.GenerationMode.NEGATIVE and not _can_be_negated(operation):
            continue

        @given(case=operation.as_strategy(generation_mode=mode, headers={"X-API-Key": KEY}))
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(excluded_checks=EXCLUDED)

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # every operation is tried and reported
            failures[operation.label] = str(exc)[:2000]
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
