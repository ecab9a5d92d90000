"""The demo generator: every event maps under the shipped contracts, deterministically."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from ingest_helpers import MAX, NOW, contracts

from signalfold.streams.demo import SOURCES, bad_demo_events, generate_demo
from signalfold.streams.ingest import MappingError, map_event, unknown_source_error

START = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def mapped() -> list:
    events = generate_demo(people=300, seed=7, start=START)
    return [
        (e, map_event(contracts()[e.source], e.value, received_at=NOW, max_bytes=MAX))
        for e in events
    ]


def test_sources_match_the_shipped_contracts() -> None:
    assert set(SOURCES) == set(contracts())


@pytest.mark.parametrize("source", SOURCES)
def test_every_demo_event_of_each_source_maps(mapped: list, source: str) -> None:
    signals = [s for e, s in mapped if e.source == source]
    assert len(signals) > 50
    assert {s.type for s in signals} == contracts()[source].signal_types()


def test_signal_ids_are_unique_and_keys_are_record_keys(mapped: list) -> None:
    assert len({s.signal_id for _, s in mapped}) == len(mapped)
    assert all(e.key == s.record_key for e, s in mapped)


def test_event_times_span_weeks_and_end_near_start(mapped: list) -> None:
    times = [s.occurred_at for _, s in mapped]
    assert max(times) <= START + timedelta(hours=1)  # London wall clock folds at most an hour
    assert START - max(times) < timedelta(days=1)
    assert START - min(times) > timedelta(days=20)


def test_people_vary_across_sources(mapped: list) -> None:
    emails = [i.value for _, s in mapped for i in s.identifiers if i.type == "email"]
    phones = [i.value for _, s in mapped for i in s.identifiers if i.type == "phone"]
    assert any(e != e.strip() for e in emails) and any(e != e.lower() for e in emails)
    assert any(p.startswith("07911") for p in phones) and any(p.startswith("+44") for p in phones)
    support_phone_only = {
        s.record_key
        for _, s in mapped
        if s.source == "support" and {i.type for i in s.identifiers} == {"support_user_id", "phone"}
    }
    assert support_phone_only
    returns = [s.payload["reason"] for _, s in mapped if s.type == "sales.order.returned"]
    assert "defective" in returns
    priorities = Counter(
        s.payload["priority"] for _, s in mapped if s.type == "support.ticket.opened"
    )
    assert priorities["high"] + priorities["urgent"] > 0
    assert any(s.type == "marketing.email.unsubscribed" for _, s in mapped)


def test_demo_is_deterministic_for_a_seed() -> None:
    assert generate_demo(40, seed=3, start=START) == generate_demo(40, seed=3, start=START)
    assert generate_demo(40, seed=3, start=START) != generate_demo(40, seed=4, start=START)


def test_each_bad_demo_event_is_a_mapping_error_and_every_kind_is_there() -> None:
    kinds = Counter()
    for event in bad_demo_events(seed=7):
        contract = contracts().get(event.source)
        with pytest.raises(MappingError) as caught:
            if contract is None:
                raise unknown_source_error(event.source, list(contracts()))
            map_event(contract, event.value, received_at=NOW, max_bytes=MAX)
        assert caught.value.source == event.source
        kinds[caught.value.kind] += 1
    assert set(kinds) == {
        "invalid_json",
        "missing_field",
        "wrong_type",
        "unknown_type",
        "oversized",
        "invalid_value",
        "unknown_source",
    }
