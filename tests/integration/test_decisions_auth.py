"""Every endpoint of the published OpenAPI spec against every role's key, no key, a wrong key.

Runs the real app (every route any module registers) with a real key file; the
view and store are in memory, so no broker is needed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
from asgi_client import call

from signalfold.settings import Settings
from signalfold.sinks.api import create_app
from signalfold.sinks.auth import ROLES, hash_key, load_key_file
from signalfold.sinks.decision_log import DecisionLog
from signalfold.sinks.store import Store
from signalfold.sinks.view import ServingView

PUBLIC = {("get", "/v1/health"), ("get", "/v1/ready")}
KEYS = {role: f"sf_{role}_key" for role in ROLES}
SAMPLE_QUERY = {"channel": "email", "purpose": "marketing", "email": "a@example.com"}


def _app(tmp_path: Path) -> Any:
    keys = tmp_path / "keys.yaml"
    keys.write_text(
        "keys:\n"
        + "".join(
            f"  - {{name: {role}, role: {role}, hash: {hash_key(key)}}}\n"
            for role, key in KEYS.items()
        )
    )
    store = Store(duckdb.connect(":memory:"))
    store.setup()
    log = DecisionLog(duckdb.connect(":memory:"))
    return create_app(ServingView(), store, Settings(api_keys_file=keys), decision_log=log)


def _call(app: Any, method: str, path: str, key: str | None) -> httpx.Response:
    url = re.sub(r"\{[^}]+\}", "c1", path)
    headers = {"X-API-Key": key} if key else {}
    kwargs: dict[str, Any] = {"headers": headers, "params": SAMPLE_QUERY}
    if method in ("post", "put", "patch"):
        kwargs["json"] = {"checks": []} if path == "/v1/suppression/check" else {}

    return call(app, method.upper(), url, **kwargs)


def test_every_endpoint_against_every_scope(tmp_path: Path) -> None:
    app = _app(tmp_path)
    spec = _call(app, "get", "/openapi.json", None).json()
    assert "APIKeyHeader" in spec["components"]["securitySchemes"]
    operations = [(m, p, op) for p, ops in spec["paths"].items() for m, op in ops.items()]
    assert len(operations) >= 8
    for method, path, op in operations:
        if (method, path) in PUBLIC:
            assert _call(app, method, path, None).status_code == 200, path
            continue
        scope = op.get("x-required-scope")
        assert scope, f"{method.upper()} {path} requires no scope: add Depends(require(...))"
        for key in (None, "sf_not_a_key"):
            r = _call(app, method, path, key)
            assert r.status_code == 401, (method, path, key, r.text)
            assert r.json()["detail"][0]["type"] == "unauthenticated"
        for role, key in KEYS.items():
            r = _call(app, method, path, key)
            if scope in ROLES[role]:
                assert r.status_code not in (401, 403), (method, path, role, r.text)
            else:
                assert r.status_code == 403, (method, path, role, r.text)
                (body,) = r.json()["detail"]
                assert body["type"] == "forbidden" and repr(scope) in body["expected"]


def test_marketing_bot_may_only_decide(tmp_path: Path) -> None:
    app = _app(tmp_path)
    bot = KEYS["marketing_bot"]
    assert _call(app, "get", "/v1/suppression/check", bot).status_code == 200
    for path in ("/v1/customers/c1/timeline", "/v1/customers/c1", "/v1/decisions/log"):
        assert _call(app, "get", path, bot).status_code == 403


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("keys: nope", "expected a mapping with a `keys:` list"),
        ("keys:\n  - {name: a, role: admin, hash: md5:00}", "key #1 `a`: hash"),
        (
            "keys:\n  - {name: a, role: admin, scopes: [decisions:read], hash: sha256:"
            + "0" * 64
            + "}",
            "exactly one of `role` or `scopes`",
        ),
    ],
)
def test_key_file_errors_name_the_entry(tmp_path: Path, text: str, message: str) -> None:
    from signalfold.errors import ConfigError

    path = tmp_path / "keys.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_key_file(path)
