"""Through the pipeline: a family sharing a landline stays two customers, each with its own
tickets and suppression, related as a household the identity API shows."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from raw_events import RawFeed, support
from topic_view import TopicView

from signalfold.bootstrap import serve_handle
from signalfold.local import LocalPipeline
from signalfold.settings import Settings
from signalfold.streams.topics import Topics

pytestmark = pytest.mark.integration

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
LANDLINE = "020 7946 0321"


@pytest.fixture
def pipeline(settings: Settings) -> Iterator[LocalPipeline]:
    with LocalPipeline(settings) as running:
        yield running
    assert not running.errors


def _owner(view: TopicView, settings: Settings, key: str) -> str | None:
    raw = view.latest[Topics(settings.topic_prefix).identity_index].get(key.encode())
    return json.loads(raw)["customer_id"] if raw else None


def test_a_family_on_one_landline_stays_two_customers(
    settings: Settings, pipeline: LocalPipeline
) -> None:
    t = Topics(settings.topic_prefix)
    view = TopicView(settings, t.identity_index, t.identity_changes)
    feed = RawFeed(settings)
    john = {"id": 701, "phone": LANDLINE, "email": "john.smith@example.net", "name": "John Smith"}
    mary = {"id": 702, "phone": LANDLINE, "email": "mary.smith@example.org", "name": "Mary Smith"}
    urgent = {"id": 9101, "priority": "Urgent", "status": "open", "subject": "Boiler"}
    feed.send("support", "701", support("h1", "ticket_created", john, urgent, T0))
    csat = support("h2", "csat_submitted", mary, {"id": 1}, T0, satisfaction={"score": 5})
    feed.send("support", "702", csat)
    feed.flush()
    try:
        view.wait_for(
            lambda v: (
                _owner(v, settings, "support_user_id:701")
                and _owner(v, settings, "support_user_id:702")
            ),
            what="both support users resolved",
        )
        ids = {_owner(view, settings, f"support_user_id:{n}") for n in (701, 702)}
        assert len(ids) == 2, "a shared landline must not merge two people"
    finally:
        view.close()

    serve_settings = settings.model_copy(update={"api_port": 0})
    with serve_handle(serve_settings) as serve, httpx.Client(base_url=serve.url, timeout=5) as http:

        def check(email: str) -> dict:
            query = {"email": email, "channel": "email", "purpose": "marketing"}
            return http.get("/v1/suppression/check", params=query).json()

        john_id = _wait(lambda: check(john["email"]).get("customer_id"))
        assert _wait(lambda: check(john["email"])["allowed"] is False)
        mary_answer = check(mary["email"])
        assert mary_answer["allowed"] is True, "John's urgent ticket must not silence Mary"
        assert mary_answer["customer_id"] != john_id

        def identity() -> dict | None:
            body = http.get(f"/v1/customers/{john_id}/identity").json()
            return body if body.get("relationships") else None

        body = _wait(identity)
        assert [(r["kind"], r["other_record_id"]) for r in body["relationships"]] == [
            ("shared_identifier", "support:702")
        ]
        assert body["records"] == ["support:701"]


def _wait(probe: Callable[[], Any], seconds: float = 20.0) -> Any:
    """Poll ``probe`` until it answers something truthy (bounded)."""
    deadline = time.monotonic() + seconds
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds} s; last answer {found!r}")
        time.sleep(0.2)
