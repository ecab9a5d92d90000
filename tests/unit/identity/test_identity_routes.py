"""The identity routes over a real store: explanations after a split, commands published."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import duckdb
from asgi_client import call as _call
from fastapi import FastAPI

from signalfold.identity import IdentityGraph
from signalfold.identity.explain import from_changes, from_graph
from signalfold.schemas import CustomerState, IdentityChange, IdentityCommand, Signal
from signalfold.settings import Settings
from signalfold.sinks.auth import key_checker_for
from signalfold.sinks.routes_identity import identity_router
from signalfold.sinks.store import Store, change_row
from signalfold.sinks.view import ServingView

SignalFactory = Callable[..., Signal]
AT = datetime(2024, 6, 2, tzinfo=UTC)


def _world(make_signal: SignalFactory) -> tuple[IdentityGraph, list[IdentityChange], str, str]:
    graph = IdentityGraph(clock=lambda: datetime(2024, 6, 1, tzinfo=UTC))
    log: list[IdentityChange] = []
    for n, (source, key, ids) in enumerate(
        [
            ("marketing", "m", [("email", "ann@x.com")]),
            ("sales", "s", [("email", "ann@x.com"), ("phone", "07911 123456")]),
            ("support", "u", [("phone", "07911 123456"), ("support_user_id", "9")]),
        ]
    ):
        log += graph.resolve(make_signal(source, key, ids, day=n)).changes
    old = graph.customer_of_record("marketing:m") or ""
    split = IdentityCommand(
        command_id="cmd_t", kind="split", customer_id=old, records=("support:u",),
        requested_at=AT,
    )  # fmt: skip
    graph._clock = lambda: AT  # the operator acts later than the signals
    log += graph.command(split).changes
    return graph, log, old, graph.customer_of_record("support:u") or ""


def test_explanations_from_stored_changes_match_the_graph(make_signal: SignalFactory) -> None:
    graph, log, old, new = _world(make_signal)
    for cid in (old, new):
        stored = from_changes(cid, [cid], log)
        live = from_graph(graph, cid)
        assert stored.records == live.records == graph.records_of(cid)
        pairs = {
            (link.record_id, link.other_record_id, link.evidence.rule) for link in stored.links
        }
        assert pairs == {(k.record_id, k.other_record_id, k.evidence.rule) for k in live.links}
    assert {(k.record_id, k.other_record_id) for k in from_changes(old, [old], log).links} == {
        ("sales:s", "marketing:m")
    }
    assert [c.kind for c in from_changes(new, [new], log).operator] == ["split"]


def test_identity_route_and_operator_commands(make_signal: SignalFactory) -> None:
    _, log, old, new = _world(make_signal)
    store = Store(duckdb.connect(":memory:"))
    store.setup()
    for change in log:
        store.identity_changes.add(change_row(change.model_dump(mode="json")))
    store.flush()
    view = ServingView()
    view.apply(
        states=[(c, CustomerState(customer_id=c, version=1).model_dump_json().encode())
                for c in (old, new)]
    )  # fmt: skip
    sent: list[IdentityCommand] = []
    app = FastAPI()
    app.state.key_checker = key_checker_for(Settings())  # no key file: open access
    app.include_router(identity_router(view, store, Settings(), publish=sent.append))
    body = _call(app, "GET", f"/v1/customers/{new}/identity").json()
    assert body["records"] == ["support:u"]
    assert body["links"] == []  # the phone link to sales:s was cut by the split
    assert [c["kind"] for c in body["operator"]] == ["split"]
    body = _call(app, "GET", f"/v1/customers/{old}/identity").json()
    assert body["records"] == ["marketing:m", "sales:s"]
    assert [link["evidence"]["rule"] for link in body["links"]] == ["exact:email"]
    assert _call(app, "GET", "/v1/customers/cus_nobody/identity").status_code == 404
    accepted = _call(
        app, "POST", "/v1/identity/split", json={"customer_id": old, "records": ["sales:s"]}
    )
    assert accepted.status_code == 202
    assert sent[0].kind == "split" and sent[0].records == ("sales:s",)
    assert accepted.json()["command_id"] == sent[0].command_id
    pin = _call(
        app,
        "POST",
        "/v1/identity/pins",
        json={"records": ["sales:s", "support:u"], "pin": "always"},
    )
    assert pin.status_code == 202 and sent[1].pin == "always"
    bad = _call(app, "POST", "/v1/identity/pins", json={"records": ["a"], "pin": "never"})
    assert bad.status_code == 422
