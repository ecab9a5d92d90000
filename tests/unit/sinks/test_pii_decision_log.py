"""The decision log keeps a keyed hash of each identifier asked about, never the value.

Rows are checked as stored (the JSON text in DuckDB, what ``decisions.log``
carries), and the audit query by identifier hashes the value the same way.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import duckdb
import pytest
from privacy_helpers import Client, fake_decide
from sink_factory import T0, state

from signalfold.errors import ConfigError
from signalfold.settings import Settings
from signalfold.sinks.api import create_app
from signalfold.sinks.decision_log import DecisionLog
from signalfold.sinks.pii import KEY_FILE, IdentifierHasher, hasher_for, pii_hash_key
from signalfold.sinks.store import Store
from signalfold.sinks.view import ServingView

KEY = b"a-test-key-of-32-bytes-----------"
PERSON = {"email": "Jane.Doe@Example.com", "phone": "020 7946 0958", "crm": "CRM-77"}


def test_the_hash_is_of_the_normalised_identifier_and_depends_on_the_key() -> None:
    hasher = IdentifierHasher(KEY, region="GB")
    email = hasher.identifier("email", "jane.doe@example.com")
    assert email == hasher.identifier("email", "  JANE.DOE@example.COM ")
    assert email.startswith("hmac-sha256:") and len(email) == len("hmac-sha256:") + 64
    assert hasher.identifier("phone", "020 7946 0958") == hasher.identifier(
        "phone", "+442079460958"
    )
    assert (
        IdentifierHasher(b"another-key-of-enough-bytes").identifier("email", "jane.doe@example.com")
        != email
    )
    assert hasher.logged("email", "not an email").startswith("hmac-sha256:")


def test_a_short_key_is_refused_with_what_to_do() -> None:
    with pytest.raises(
        ConfigError, match="expected at least 16 bytes, found 5; set SIGNALFOLD_PII_HASH_KEY"
    ):
        IdentifierHasher(b"short")


def test_without_the_setting_a_key_file_is_made_once_with_mode_0600(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    first = pii_hash_key(settings)
    path = tmp_path / "data" / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(first) == 64
    assert pii_hash_key(settings) == first, "the same key at every start"
    assert [p.name for p in path.parent.iterdir()] == [KEY_FILE], "no scratch file left"
    set_key = Settings(data_dir=tmp_path / "data", pii_hash_key="x" * 32)
    assert pii_hash_key(set_key) == b"x" * 32, "the setting wins over the file"
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match=r"expected mode 0600, found 0644; run `chmod 600"):
        pii_hash_key(settings)


def _stored(log: DecisionLog) -> str:
    log.flush()
    with log.table._conn.cursor() as cur:
        rows = cur.execute("SELECT request, decision FROM decision_log").fetchall()
    return "\n".join(f"{r[0]}\n{r[1]}" for r in rows)


@pytest.fixture
def logged() -> tuple[Client, DecisionLog]:
    view = ServingView()
    view.apply(states=[("c1", state("c1"))], index=[("phone:+442079460958", "c1")])
    store = Store(duckdb.connect(":memory:"))
    store.setup()
    log = DecisionLog(duckdb.connect(":memory:"), hasher=IdentifierHasher(KEY))
    settings = Settings(default_region="GB")
    app = create_app(
        view, store, settings, clock=lambda: T0, decide=fake_decide, decision_log=log,
        identifier_types={"crm_contact_id"},
    )  # fmt: skip
    client = Client(app)
    ask = {"channel": "email", "purpose": "marketing"}
    for question in (
        {"email": PERSON["email"]},  # not a customer
        {"phone": PERSON["phone"]},  # customer c1
        {"type": "crm_contact_id", "value": PERSON["crm"]},
        {"customer_id": "c1"},
    ):
        assert client.get("/v1/suppression/check", params=question | ask).status_code == 200
    batch = {"checks": [{"email": PERSON["email"], **ask}, {"phone": PERSON["phone"], **ask}]}
    assert client.post("/v1/suppression/check", json=batch).status_code == 200
    return client, log


def test_rows_carry_the_hash_and_type_but_no_identifier_value(logged) -> None:
    _client, log = logged
    stored = _stored(log)
    for needle in ("example.com", "Example.com", "7946", "CRM-77"):
        assert needle not in stored
    requests = [r.request for r in log.query(limit=100)]
    assert len(requests) == 6
    assert {r.get("identifier_type") for r in requests} == {
        "email",
        "phone",
        "crm_contact_id",
        None,
    }
    assert {"customer_id": "c1", "channel": "email", "purpose": "marketing"} in requests


def test_the_log_is_queried_by_identifier_hashed_the_same_way(logged) -> None:
    client, _log = logged
    by_email = client.get("/v1/decisions/log", params={"email": " jane.doe@EXAMPLE.com"}).json()
    assert [i["customer_id"] for i in by_email["items"]] == [None, None]  # asked twice, unknown
    by_phone = client.get("/v1/decisions/log", params={"phone": "+44 20 7946 0958"}).json()
    assert len(by_phone["items"]) == 2
    by_type = {"type": "crm_contact_id", "value": "CRM-77"}
    assert len(client.get("/v1/decisions/log", params=by_type).json()["items"]) == 1
    # with a customer id too: rows about either (c1's check by id, and the email's two)
    both = {"customer_id": "c1", "email": PERSON["email"]}
    assert len(client.get("/v1/decisions/log", params=both).json()["items"]) == 5
    bad = client.get("/v1/decisions/log", params={"email": "nobody-at-all"})
    assert bad.status_code == 422 and "nobody-at-all" not in bad.text
    assert bad.json()["detail"][0]["loc"] == ["query", "email"]


def test_serve_hashes_with_the_deployments_key(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, pii_hash_key="k" * 32)
    hashed = hasher_for(settings).identifier("email", "jane@example.com")
    assert hashed == IdentifierHasher(b"k" * 32).identifier("email", "jane@example.com")
