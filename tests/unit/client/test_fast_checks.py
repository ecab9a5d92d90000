"""The fast check path answers over HTTP exactly as the FastAPI route does.

Two apps over the same view: one with the policy's ``decide`` (served by the
fast path, through its route or from ``FastFront`` as ``serve`` runs it), one
with a wrapper the fast path does not recognise (every request through
FastAPI's parameter models, key dependency and route). Every request —
plain checks, batches, and each kind of mistake — must get the same status,
content type and body from both, and leave the same rows in the decision log.
"""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
from asgi_client import call as _send
from fastapi import FastAPI

from signalfold.policy import decide, load_policy
from signalfold.policy._fast import FastDecider
from signalfold.schemas import CustomerState, SuppressionDecision
from signalfold.schemas.state import Flag
from signalfold.settings import Settings
from signalfold.sinks import _fast_check
from signalfold.sinks._fast_check import FastFront
from signalfold.sinks.api import create_app
from signalfold.sinks.auth import hash_key
from signalfold.sinks.decision_log import DecisionLog
from signalfold.sinks.decision_models import DecisionBatchResponse
from signalfold.sinks.pii import IdentifierHasher
from signalfold.sinks.store import Store
from signalfold.sinks.view import ServingView

NOW = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
BOT, READER = "sf_fast_bot", "sf_fast_reader"
POLICY = load_policy()


def _flag(rule: str, effect: str, days: int | None, **extra: Any) -> Flag:
    return Flag(
        rule=rule,
        department="support",
        effect=effect,  # type: ignore[arg-type]
        severity="critical" if effect == "deny" else "info",
        channels=("email", "sms"),
        purposes=("marketing", "sales"),
        reason=f"{rule} — «held»",
        source="zendesk",
        source_event_id=f"ev-{rule}",
        signal_id=f"sig-{rule}",
        since=NOW - timedelta(days=1),
        until=NOW + timedelta(days=days) if days is not None else None,
        **extra,
    )


def _view() -> ServingView:
    states = {
        "c1": CustomerState(customer_id="c1", version=7, flags=[_flag("ticket", "deny", None)]),
        "c2": CustomerState(
            customer_id="c2",
            version=3,
            flags=[_flag("fatigue", "defer", 2), _flag("returned", "deny", 5, products=("P-1",))],
        ),
        "c3": CustomerState(customer_id="c3", version=1),
    }
    view = ServingView()
    view.apply(
        states=[(cid, s.model_dump_json().encode()) for cid, s in states.items()],
        index=[
            ("email:jdoe@gmail.com", "c0"),
            ("phone:+442079460958", "c2"),
            ("crm_contact_id:crm-3", "c3"),
        ],
        aliases=[("c0", "c1")],
    )
    return view


def _app(tmp_path: Path, decider: Any, name: str) -> tuple[FastAPI, DecisionLog]:
    keys = tmp_path / f"keys-{name}.yaml"
    keys.write_text(
        "keys:\n"
        f"  - {{name: bot, role: marketing_bot, hash: {hash_key(BOT)}}}\n"
        f"  - {{name: reader, scopes: [customers:read], hash: {hash_key(READER)}}}\n"
    )
    store = Store(duckdb.connect(":memory:"))
    store.setup()
    # one key for both apps, so their rows (identifier hashes included) compare equal
    log = DecisionLog(duckdb.connect(":memory:"), hasher=IdentifierHasher(b"k" * 32))
    settings = Settings(default_region="GB", api_keys_file=keys)
    app = create_app(_view(), store, settings, clock=lambda: NOW, decide=decider, decision_log=log)
    return app, log


KEY = {"X-API-Key": BOT}
Q = "/v1/suppression/check?"
REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", Q + "email=%20J.Doe%2Bx@GoogleMail.com%20&channel=email&purpose=marketing", KEY),
    ("GET", Q + "phone=020%207946%200958&channel=sms&purpose=sales", KEY),
    ("GET", Q + "phone=020%207946%200958&channel=email&purpose=marketing&product_id=P-1", KEY),
    ("GET", Q + "phone=020%207946%200958&channel=email&purpose=marketing&category=hats", KEY),
    ("GET", Q + "customer_id=c0&channel=sms&purpose=marketing", KEY),
    ("GET", Q + "type=crm_contact_id&value=crm-3&channel=push&purpose=service", KEY),
    ("GET", Q + "email=nobody@example.com&channel=email&purpose=marketing", KEY),
    ("GET", Q + "customer_id=c1&channel=email&purpose=transactional", KEY),
    (
        "GET",
        Q + "customer_id=c1&channel=email&purpose=marketing",
        {"Authorization": f"Bearer {BOT}"},
    ),
    ("GET", Q + "customer_id=c1&channel=email&purpose=marketing&extra=1", KEY),
    # mistakes: each must get FastAPI's own answer
    ("GET", Q + "customer_id=c1&channel=email&purpose=marketing", {}),
    ("GET", Q + "customer_id=c1&channel=email&purpose=marketing", {"X-API-Key": "sf_wrong"}),
    ("GET", Q + "customer_id=c1&channel=email&purpose=marketing", {"X-API-Key": READER}),
    ("GET", Q + "customer_id=c1&channel=fax&purpose=marketing", KEY),
    ("GET", Q + "customer_id=c1&purpose=marketing", KEY),
    ("GET", Q + "customer_id=c1&customer_id=c2&channel=email&purpose=marketing", KEY),
    ("GET", Q + "customer_id=&channel=email&purpose=marketing", KEY),
    ("GET", Q + "email=not-an-email&channel=email&purpose=marketing", KEY),
    ("GET", Q + "email=a@b.com&phone=1&channel=email&purpose=marketing", KEY),
    ("GET", Q + "type=crm_contact_id&channel=email&purpose=marketing", KEY),
    # typos are 422s naming what is accepted, never the unknown-customer rule's allow
    ("GET", Q + "type=nonsense_id&value=crm-3&channel=email&purpose=marketing", KEY),
    ("GET", Q + "customer_id=jane&channel=email&purpose=marketing", KEY),
    ("GET", Q + "email=&channel=email&purpose=marketing", KEY),
    ("GET", Q + "channel=email&purpose=marketing", KEY),
    ("HEAD", Q + "customer_id=c1&channel=email&purpose=marketing", KEY),
    ("PUT", Q + "customer_id=c1&channel=email&purpose=marketing", KEY),
]

BATCH = [
    {"email": "jdoe@gmail.com", "channel": "email", "purpose": "marketing"},
    {"phone": "12", "channel": "sms", "purpose": "marketing"},
    {"phone": "020 7946 0958", "channel": "email", "purpose": "sales", "product_id": "P-1"},
    {"customer_id": "c3", "channel": "push", "purpose": "sales", "email": None},
    {"purpose": "sales", "type": "crm_contact_id", "value": "crm-3", "channel": "sms"},
    {"email": "stranger@example.com", "channel": "email", "purpose": "marketing", "x": 1},
    {"channel": "email", "purpose": "marketing"},
    {"type": "nonsense_id", "value": "crm-3", "channel": "email", "purpose": "marketing"},
    {"customer_id": "jane", "channel": "email", "purpose": "marketing"},
]
JSON = {"X-API-Key": BOT, "content-type": "application/json"}
BATCHES: list[tuple[bytes, dict[str, str]]] = [
    (json.dumps({"checks": BATCH}).encode(), JSON),
    (json.dumps({"checks": BATCH, "more": True}).encode(), JSON),
    (json.dumps({"checks": []}).encode(), JSON),
    (
        json.dumps({"checks": BATCH}).encode(),
        {**JSON, "content-type": "application/json; charset=utf-8"},
    ),
    (
        json.dumps({"checks": BATCH}).encode(),
        {"Authorization": f"Bearer {BOT}", "content-type": "application/json"},
    ),
    # mistakes
    (json.dumps({"checks": BATCH}).encode(), {"content-type": "application/json"}),
    (json.dumps({"checks": BATCH}).encode(), {**JSON, "X-API-Key": READER}),
    (json.dumps({"checks": BATCH}).encode(), {"X-API-Key": BOT}),
    (json.dumps({"checks": BATCH}).encode(), {**JSON, "content-type": "text/plain"}),
    (b'{"checks": [', JSON),
    (b'{"checks": [{"email": "a@b.com", "channel": "email", "purpose": "marketing"}], }', JSON),
    (
        json.dumps({"checks": [{"email": 5, "channel": "email", "purpose": "marketing"}]}).encode(),
        JSON,
    ),
    (
        json.dumps(
            {"checks": [{"email": "a@b.com", "channel": "fax", "purpose": "marketing"}]}
        ).encode(),
        JSON,
    ),
    (json.dumps({"checks": [{"email": "a@b.com", "channel": "email"}]}).encode(), JSON),
    (json.dumps({"check": BATCH}).encode(), JSON),
    (json.dumps([BATCH]).encode(), JSON),
    (json.dumps({"checks": [BATCH[0]] * 10_001}).encode(), JSON),
]


@pytest.fixture(params=["route", "front"])
def apps(request, tmp_path: Path) -> tuple[tuple[Any, DecisionLog], tuple[FastAPI, DecisionLog]]:
    """(fast, reference); ``front``: the fast app behind ``FastFront``, as ``serve`` runs it."""
    fast = _app(tmp_path, functools.partial(decide, policy=POLICY), "fast")
    if request.param == "front":
        fast = (FastFront(fast[0]), fast[1])
    # Not recognised as the policy's ``decide``: every request takes the FastAPI route.
    slow = _app(tmp_path, lambda state, **q: decide(state, policy=POLICY, **q), "slow")
    return fast, slow


def _same(a: httpx.Response, b: httpx.Response) -> None:
    assert (a.status_code, a.headers.get("content-type"), a.content) == (
        b.status_code,
        b.headers.get("content-type"),
        b.content,
    )
    assert sorted(a.headers.items()) == sorted(b.headers.items())


def _counting(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    """Counts the questions the fast path answers itself (``name`` in ``_fast_check``)."""
    calls: list[int] = []
    real = getattr(_fast_check, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(_fast_check, name, counted)
    return calls


def test_single_checks_answer_like_the_route(apps, monkeypatch) -> None:
    (fast, fast_log), (slow, slow_log) = apps
    answered_fast = _counting(monkeypatch, "fast_answer")
    for method, url, headers in REQUESTS:
        a, b = _send(fast, method, url, headers=headers), _send(slow, method, url, headers=headers)
        _same(a, b)
        if a.status_code == 200 and method == "GET":
            body = a.json()
            assert SuppressionDecision.model_validate(body).model_dump(mode="json") == body
    assert _logged(fast_log) == _logged(slow_log)
    assert len(_logged(fast_log)) == 11  # a repeated parameter: FastAPI takes the last
    assert len(answered_fast) == 9 + 6  # plain checks, and six with bad identifiers (to 422)
    if isinstance(fast, FastFront):
        assert fast.routes() == {("GET", "/v1/suppression/check")}


def test_batches_answer_like_the_route(apps, monkeypatch) -> None:
    (fast, fast_log), (slow, slow_log) = apps
    answered_fast = _counting(monkeypatch, "fast_answer_item")
    for body, headers in BATCHES:
        a = _send(fast, "POST", "/v1/suppression/check", content=body, headers=headers)
        b = _send(slow, "POST", "/v1/suppression/check", content=body, headers=headers)
        _same(a, b)
        if a.status_code == 200:  # the envelope the OpenAPI spec declares, byte for byte
            assert DecisionBatchResponse.model_validate_json(a.content).model_dump_json() == (
                a.text
            )
    assert _logged(fast_log) == _logged(slow_log)
    assert len(answered_fast) == 4 * len(BATCH)  # the four well-formed batches
    if isinstance(fast, FastFront):
        assert fast.routes() == {("POST", "/v1/suppression/check")}
    # the first batch: two errors (not logged), then its five answers in order
    assert [row[2] for row in _logged(fast_log)[:5]] == ["deny", "deny", "allow", "allow", "allow"]


def _logged(log: DecisionLog) -> list[tuple[Any, ...]]:
    """What the log says was asked and answered, in order of asking."""
    rows = log.query(limit=1000)
    return [
        (r.surface, r.customer_id, r.outcome, r.state_version, r.request, r.decision)
        for r in sorted(rows, key=lambda r: r.log_id)
    ]


def test_a_newer_state_replaces_the_cached_decisions() -> None:
    view = _view()
    fast = FastDecider(POLICY)
    ask = functools.partial(fast.answer, channel="email", purpose="marketing", now=NOW)
    assert ask(view.inputs("c3")).outcome == "allow"
    assert view.inputs("c3") is view.inputs("c3")  # parsed once per version
    held = CustomerState(customer_id="c3", version=2, flags=[_flag("ticket", "deny", None)])
    view.apply(states=[("c3", held.model_dump_json().encode())])
    answer = ask(view.inputs("c3"))
    assert (answer.outcome, answer.state_version) == ("deny", 2)
    view.apply(states=[("c3", None)])
    assert view.inputs("c3") is None


def test_a_replaced_key_checker_is_asked_again(tmp_path: Path) -> None:
    """The fast path remembers admitted keys only for the checker that admitted them."""
    from signalfold.sinks.auth import KeyFileChecker

    app, _log = _app(tmp_path, functools.partial(decide, policy=POLICY), "fast")
    front = FastFront(app)
    url = Q + "customer_id=c1&channel=email&purpose=marketing"
    assert _send(front, "GET", url, headers=KEY).status_code == 200
    assert _send(front, "GET", url, headers=KEY).status_code == 200  # from the fast front
    assert _send(front, "GET", url, headers={"X-API-Key": "sf_wrong"}).status_code == 401
    app.state.key_checker = KeyFileChecker([])  # every key revoked
    assert _send(front, "GET", url, headers=KEY).status_code == 401


@pytest.mark.parametrize(
    "query",
    ["", "a=1&b=2", "a=1&&b=", "a&b=c=d", "=x&a=", "a=%41+b&c=1", "a=\xe9&b=1", "&a=1&"],
)
def test_query_pairs_split_as_parse_qsl(query: str) -> None:
    from urllib.parse import parse_qsl

    assert _fast_check._query_pairs(query) == parse_qsl(query, keep_blank_values=True)
