"""API keys: compared in constant time, and no plain key kept in any cache."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
from asgi_client import call
from fastapi import FastAPI

from signalfold.policy import Decider, load_policy
from signalfold.schemas import CustomerState
from signalfold.settings import Settings
from signalfold.sinks import auth
from signalfold.sinks.api import create_app
from signalfold.sinks.auth import KeyEntry, KeyFileChecker, hash_key
from signalfold.sinks.serve import FastFront
from signalfold.sinks.store import Store
from signalfold.sinks.view import ServingView

NOW = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
KEYS = {"bot": "sf_bot_key_for_tests", "support": "sf_support_key_for_tests"}
Q = "/v1/suppression/check"
PARAMS = {"customer_id": "c1", "channel": "email", "purpose": "marketing"}


def _entries() -> list[KeyEntry]:
    return [
        KeyEntry(name="bot", role="marketing_bot", hash=hash_key(KEYS["bot"])),
        KeyEntry(name="support", role="support_tool", hash=hash_key(KEYS["support"])),
        KeyEntry(name="admin", role="admin", hash=hash_key("sf_admin_key_for_tests")),
    ]


def test_a_key_is_compared_with_every_entry_by_compare_digest(monkeypatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    compare = hmac.compare_digest

    def counted(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return compare(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", counted)
    checker = KeyFileChecker(_entries())
    for key, verdict in ((KEYS["bot"], "ok"), ("sf_wrong", "unauthenticated")):
        calls.clear()
        assert checker.check(key, "decisions:read") == verdict
        assert len(calls) == 3  # no early exit on the first entry, nor on a miss
        assert all(b == hash_key(key).encode() for _, b in calls)  # hashes, never the key
    assert checker.check(KEYS["bot"], "history:read") == "forbidden"
    assert checker.name_of(KEYS["support"]) == "support"
    assert checker.name_of(None) == checker.name_of("") == "unknown"


@pytest.fixture
def app(tmp_path: Path) -> FastFront:
    """The app behind its fast path, as ``signalfold serve`` runs it."""
    keys = tmp_path / "keys.yaml"
    lines = [f"  - {{name: {e.name}, role: {e.role}, hash: {e.hash}}}" for e in _entries()]
    keys.write_text("keys:\n" + "\n".join(lines) + "\n")
    view = ServingView()
    view.apply(
        states=[("c1", CustomerState(customer_id="c1", version=1).model_dump_json().encode())]
    )
    store = Store(duckdb.connect(":memory:"))
    store.setup()
    api = create_app(
        view,
        store,
        Settings(api_keys_file=keys),
        clock=lambda: NOW,
        decide=Decider(load_policy()),
    )
    return FastFront(api)


def _get(app: FastAPI, headers: dict[str, str]) -> httpx.Response:
    return call(app, "GET", Q, params=PARAMS, headers=headers)


def _fast_checks(app: FastFront) -> Any:
    """The ``FastChecks`` in front of the check routes."""
    return app.checks


def test_the_fast_path_remembers_admitted_keys_by_hash_only(app) -> None:
    presented = [
        {"X-API-Key": KEYS["bot"]},
        {"Authorization": f"Bearer {KEYS['support']}"},
    ]
    for headers in presented * 2:  # the second round is answered from what was remembered
        assert _get(app, headers).status_code == 200
    admitted = _fast_checks(app)._admitted
    assert len(admitted) == 2 and set(admitted.values()) == {"bot", "support"}
    for cached in admitted:
        assert isinstance(cached, bytes) and len(cached) == 32  # a SHA-256 digest
        for key in KEYS.values():
            assert key.encode() not in cached
    kept = repr(vars(_fast_checks(app)))
    assert all(key not in kept for key in KEYS.values())


def test_a_remembered_key_admits_no_other_key(app) -> None:
    assert _get(app, {"X-API-Key": KEYS["bot"]}).status_code == 200
    for headers in (
        {"X-API-Key": KEYS["bot"] + "x"},
        {"X-API-Key": KEYS["bot"][:-1]},
        {"Authorization": f"Bearer {KEYS['bot']}x"},
        {},
    ):
        for _ in range(2):
            assert _get(app, headers).status_code == 401, headers
    assert _get(app, {"X-API-Key": KEYS["bot"]}).status_code == 200
