"""Erasure end to end: a person known to four sources is erased, and nothing of them stays.

On the embedded broker, with every stage running and a serving replica: Jane
is known to marketing, support (an open ticket), sales and billing, was asked
about by a marketing bot and has a dead letter; Bob is a bystander. After
``signalfold erase --email`` (the CLI, over HTTP, with an admin key):

- the raw bytes of every topic signalfold owns, the replica's DuckDB file and
  rows, and the state stage's RocksDB files hold none of her identifiers or
  traits (the raw source topics are the sources' own, and are left alone);
- every identifier of hers looks up as unknown, and marketing to her email is
  held by the do-not-contact list; Bob is untouched;
- ``signalfold erase-report`` names exactly the raw offsets that still hold her;
- a new replica and a state stage rebuilt from the topics keep her erased;
- a new event with her email makes a customer again, with nothing of before,
  still held for marketing.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import httpx
import pytest
from confluent_kafka import TopicPartition
from raw_events import RawFeed, marketing, sales, support
from sources_cli import run_cli
from test_serve import wait_for

from signalfold.bootstrap import create_topics, serve_handle
from signalfold.local import LocalPipeline
from signalfold.settings import Settings
from signalfold.sinks.auth import hash_key
from signalfold.streams.broker import free_port
from signalfold.streams.kafka import consumer, is_fence
from signalfold.streams.topics import Topics

pytestmark = pytest.mark.integration

ADMIN, BOT = "sf_erasure_admin_key", "sf_erasure_bot_key"
T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
EMAIL, PHONE = "jane.quartermaine@example.com", "+447911123999"
#: Every value of Jane's that must be gone: identifiers (as sent and normalised), traits,
#: a ticket subject, and her record keys in each source.
NEEDLES = (
    "jane.quartermaine@example.com",
    "Jane.Quartermaine@Example.com",
    "+447911123999",
    "07911 123999",
    "Quartermaine",
    "kettle sparks",
    "003QZ",
    "cus_billQZ",
    "support-501QZ",
)
BOB = "bob.unrelated@example.com"


def _billing(event_id: str, at: datetime) -> dict:
    return {
        "id": event_id,
        "type": "invoice.paid",
        "created": int(at.timestamp()),
        "data": {
            "object": {
                "id": "in_QZ1",
                "customer": "cus_billQZ",
                "customer_email": EMAIL,
                "customer_name": "Jane Quartermaine",
                "amount": 4900,
                "currency": "gbp",
            }
        },
    }


def _send_jane(feed: RawFeed, at: datetime) -> None:
    feed.send(
        "marketing",
        EMAIL,
        marketing("m-qz1", "email_open", "Jane.Quartermaine@Example.com", at),
    )
    requester = {"id": "support-501QZ", "email": EMAIL, "phone": "07911 123999"}
    requester["name"] = "Jane Quartermaine"
    ticket = {"id": 7001, "priority": "Urgent", "status": "open", "subject": "kettle sparks"}
    feed.send(
        "support",
        "support-501QZ",
        support("s-qz1", "ticket_created", requester, ticket, at + timedelta(hours=1)),
    )
    contact = {"id": "003QZ", "email": EMAIL, "phone": PHONE, "last_name": "Quartermaine"}
    lead = {"id": "L-QZ"}
    feed.send("sales", "003QZ", sales("c-qz1", "lead", "created", contact, at, lead=lead))
    feed.send("billing", "cus_billQZ", _billing("evt_qz1", at + timedelta(hours=2)))
    # A dead letter: the support event again, cut off (not JSON), under her record's key.
    feed.send(
        "support", "support-501QZ", b'{"id": "s-qz2", "requester": {"email": "' + EMAIL.encode()
    )
    feed.flush()


@pytest.fixture
def deployment(settings: Settings, tmp_path: Path) -> Iterator[tuple[Settings, Path]]:
    keys = tmp_path / "keys.yaml"
    keys.write_text(
        "keys:\n"
        f"  - {{name: dpo, role: admin, hash: {hash_key(ADMIN)}}}\n"
        f"  - {{name: bot, role: marketing_bot, hash: {hash_key(BOT)}}}\n"
    )
    (tmp_path / "admin.key").write_text(ADMIN + "\n")
    settings = settings.model_copy(update={"api_keys_file": keys})
    create_topics(settings)
    yield settings, tmp_path


def _topic_bytes(settings: Settings, names: list[str] | None = None) -> dict[str, bytes]:
    """Every key and value of every topic signalfold owns (or of ``names``), as raw bytes."""
    topics = Topics(settings.topic_prefix)
    reader = consumer(settings.kafka_client_config(), None)
    found: dict[str, list[bytes]] = {}
    try:
        assignment = []
        for name in names or topics.pipeline():
            meta = reader.list_topics(name, timeout=10).topics[name]
            assignment += [TopicPartition(name, p, 0) for p in meta.partitions]
        reader.assign(assignment)
        quiet = time.monotonic()
        while time.monotonic() - quiet < 2.0:
            for m in reader.consume(2000, 0.2):
                if m.error() is None and not is_fence(m):
                    found.setdefault(m.topic(), []).append((m.key() or b"") + (m.value() or b""))
                    quiet = time.monotonic()
    finally:
        reader.close()
    return {topic: b"\n".join(values) for topic, values in found.items()}


def _raw_offsets_holding_her(settings: Settings) -> set[tuple[str, int, int]]:
    """The raw offsets whose key or value holds one of her values (the report's oracle)."""
    topics = Topics(settings.topic_prefix)
    names = [topics.raw(s) for s in ("marketing", "support", "sales", "billing")]
    reader = consumer(settings.kafka_client_config(), None)
    found: set[tuple[str, int, int]] = set()
    try:
        reader.assign([TopicPartition(n, p, 0) for n in names for p in range(_parts(reader, n))])
        quiet = time.monotonic()
        while time.monotonic() - quiet < 2.0:
            for m in reader.consume(2000, 0.2):
                if m.error() is None and not is_fence(m):
                    quiet = time.monotonic()
                    if _hits({"": (m.key() or b"") + (m.value() or b"")}):
                        found.add((m.topic(), m.partition(), m.offset()))
    finally:
        reader.close()
    assert len(found) == 5, found  # her four sources' events and the cut-off one
    return found


def _parts(reader, name: str) -> int:
    return len(reader.list_topics(name, timeout=10).topics[name].partitions)


def _hits(blobs: dict[str, bytes]) -> list[tuple[str, str]]:
    return [
        (where, needle)
        for where, blob in blobs.items()
        for needle in NEEDLES
        if needle.encode() in blob or needle.lower().encode() in blob
    ]


def _checkpoint(connection: duckdb.DuckDBPyConnection) -> None:
    """CHECKPOINT the replica's file; its materializer may be mid-write, so try again."""
    for _ in range(100):
        try:
            connection.execute("CHECKPOINT")
            return
        except duckdb.TransactionException:
            time.sleep(0.05)  # "there are other write transactions active"
    raise AssertionError("the replica's DuckDB file could not be checkpointed in 5 s")


def _files(root: Path, pattern: str) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in root.glob(pattern) if p.is_file()}


def _check(http: httpx.Client, **who: str) -> dict:
    params = {**who, "channel": "email", "purpose": "marketing"}
    answer = http.get("/v1/suppression/check", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_an_erased_person_is_gone_from_every_topic_and_store(
    deployment, monkeypatch, capsys
) -> None:
    settings, tmp = deployment
    feed = RawFeed(settings)
    feed.send("marketing", BOB, marketing("m-bob", "email_open", BOB, T0))
    _send_jane(feed, T0)
    admin = {"X-API-Key": ADMIN}
    with LocalPipeline(settings) as pipeline, serve_handle(settings) as serve:
        with httpx.Client(base_url=serve.url, headers=admin, timeout=10) as http:

            def jane() -> dict | None:
                found = http.get("/v1/customers/lookup", params={"email": EMAIL})
                state = found.json() if found.status_code == 200 else None
                sources = {i["source"] for i in (state or {}).get("identities", [])}
                return state if sources >= {"marketing", "support", "sales", "billing"} else None

            state = wait_for(jane, timeout=90, what="Jane, known to four sources")
            cid = state["customer_id"]
            assert any(f["rule"] == "open_high_priority_ticket" for f in state["flags"]), state[
                "flags"
            ]
            with httpx.Client(base_url=serve.url, headers={"X-API-Key": BOT}) as bot:
                assert _check(bot, email=EMAIL)["known"]
            wait_for(
                lambda: http.get("/v1/decisions/log", params={"email": EMAIL}).json()["items"],
                what="the bot's question in the decision log",
            )
            # Sealed from the start: no topic signalfold owns ever held her values in
            # plain, while the sources' own topics (the operator's) do, so the scan works.
            assert _hits(_topic_bytes(settings)) == []
            raw = [Topics(settings.topic_prefix).raw(s) for s in ("support", "sales")]
            assert {n for _, n in _hits(_topic_bytes(settings, raw))} >= {"kettle sparks", "003QZ"}

            args = ("--url", serve.url, "--key-file", str(tmp / "admin.key"))
            code, out = run_cli(
                monkeypatch,
                capsys,
                settings,
                "erase",
                "--email",
                "Jane.Quartermaine@Example.com",
                "--reason",
                "art. 17 request 4411",
                "--wait",
                "60",
                "--json",
                *args,
            )
            assert code == 0, out
            assert f'"customer_id": "{cid}"' in out and '"status": "applied"' in out

            def forgotten() -> bool:
                asked = [
                    ("/v1/customers/lookup", {"email": EMAIL}),
                    ("/v1/customers/lookup", {"phone": "07911 123999"}),
                    ("/v1/customers/lookup", {"type": "crm_contact_id", "value": "003QZ"}),
                    (
                        "/v1/customers/lookup",
                        {"type": "billing_customer_id", "value": "cus_billQZ"},
                    ),
                    ("/v1/customers/lookup", {"type": "support_user_id", "value": "support-501QZ"}),
                    (f"/v1/customers/{cid}", {}),
                ]
                codes = [http.get(path, params=p).status_code for path, p in asked]
                return codes == [404] * len(asked)

            wait_for(forgotten, timeout=60, what="every identifier unknown")
            # The raw source topics are the sources' data and still hold her: the report
            # names exactly the offsets whose bytes do, and prints none of her values.
            request_id = json.loads(out)["request_id"]
            code, report = run_cli(
                monkeypatch, capsys, settings, "erase-report", request_id, "--json"
            )
            assert code == 0, report
            assert [n for n in NEEDLES if n.lower() in report.lower()] == []
            found = {
                (h["topic"], h["partition"], offset)
                for h in json.loads(report)["held"]
                for first, last in h["offsets"]
                for offset in range(first, last + 1)
            }
            assert found == _raw_offsets_holding_her(settings)
            code, text = run_cli(monkeypatch, capsys, settings, "erase-report", request_id)
            assert code == 0 and f"{len(found)} raw event(s) still hold the person" in text
            held = _check(http, email=EMAIL)
            assert (held["outcome"], held["known"]) == ("deny", False)
            assert [r["rule"] for r in held["reasons"]] == ["do_not_contact"]
            assert _check(http, email=BOB)["known"], "the bystander is untouched"

            def clean() -> bool:
                hits = _hits(_topic_bytes(settings))
                return hits == []

            wait_for(clean, timeout=30, what="no topic holding her values")
            time.sleep(1.5)  # the state stage writes its store about once a second
            store = serve.serving.store
            rows = store.connection.execute(
                "SELECT count(*) FROM signals WHERE customer_id = ? OR payload::VARCHAR ILIKE "
                "'%kettle%' OR identifiers::VARCHAR ILIKE '%quartermaine%'",
                [cid],
            ).fetchone()
            assert rows == (0,)
            # The state stage's RocksDB files seal each customer with its key: gone with it.
            assert _hits(_files(tmp / "state", "**/*")) == []
        assert not pipeline.errors
    # A replica's DuckDB file is a cache of the topics: its freed pages may still hold the
    # deleted rows until reused, so it is deleted when the replica stops, and rebuilt from
    # the sealed topics at every start (below: none of her values in the new one).
    assert _files(tmp, "serve-*.duckdb*") == {}

    # Everything rebuilt from the topics: a new replica, a state stage without its store.
    shutil.rmtree(tmp / "state")
    fresh = settings.model_copy(update={"api_port": free_port()})
    with LocalPipeline(settings) as pipeline, serve_handle(fresh) as replica:
        with httpx.Client(base_url=replica.url, headers=admin, timeout=10) as http:
            wait_for(
                lambda: http.get("/v1/customers/lookup", params={"email": BOB}).status_code == 200,
                timeout=60,
                what="the new replica caught up",
            )
            assert http.get("/v1/customers/lookup", params={"email": EMAIL}).status_code == 404
            assert _check(http, email=EMAIL)["reasons"][0]["rule"] == "do_not_contact"
            _checkpoint(replica.serving.store.connection)
            assert _hits(_files(tmp, "serve-*.duckdb*")) == []
            wait_for(lambda: sorted((tmp / "state").glob("*")), what="the state stores rebuilt")
            time.sleep(1.5)  # the rebuilt stores are written about once a second
            assert _hits(_files(tmp / "state", "**/*")) == []
            feed.send("marketing", EMAIL, marketing("m-qz9", "email_open", EMAIL, T0))
            feed.flush()

            def back() -> dict | None:
                found = http.get("/v1/customers/lookup", params={"email": EMAIL})
                return found.json() if found.status_code == 200 else None

            again = wait_for(back, timeout=60, what="a new customer for the same email")
            # Nothing of before comes back: only the new event's record, no ticket.
            assert {i["source"] for i in again["identities"]} == {"marketing"}
            assert again["tickets"] == {} and sum(again["counters"].values()) == 1
            decision = _check(http, email=EMAIL)
            assert decision["known"] and decision["outcome"] == "deny"
            assert "do_not_contact" in [r["rule"] for r in decision["reasons"]]
            by_id = _check(http, customer_id=again["customer_id"])
            assert "do_not_contact" in [r["rule"] for r in by_id["reasons"]]
        assert not pipeline.errors
