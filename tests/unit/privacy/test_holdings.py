"""Raw events that still hold an erased person: found by record kid or identifier hash."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from signalfold.privacy.holdings import ErasedPerson, RawHoldings, ranges
from signalfold.privacy.sealing import SubjectIds
from signalfold.schemas import Identifier, Signal
from signalfold.schemas.signal import make_signal_id

IDS = SubjectIds(b"a deployment secret of 32 bytes!")
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _signal(source: str, key: str, *identifiers: tuple[str, str]) -> Signal:
    return Signal(
        signal_id=make_signal_id(source, key),
        source=source,
        source_event_id=key,
        record_key=key,
        type="marketing.email.opened",
        occurred_at=T0,
        received_at=T0,
        identifiers=tuple(Identifier(type=t, value=v) for t, v in identifiers),
        payload={"campaign_id": "c1"},
    )


def _holdings(person: ErasedPerson) -> RawHoldings:
    return RawHoldings(person, IDS, region_for=lambda _source: "GB")


def test_an_event_of_an_erased_record_is_held_whatever_it_carries() -> None:
    person = ErasedPerson("era_1", record_kids=frozenset({IDS.record("crm:003QZ")}))
    holdings = _holdings(person)
    assert holdings.check(_signal("crm", "003QZ"), "raw.crm", 0, 7)
    assert not holdings.check(_signal("crm", "003QY"), "raw.crm", 0, 8)
    assert not holdings.check(_signal("support", "003QZ"), "raw.support", 0, 9)
    assert holdings.offsets == {("raw.crm", 0): [7]}
    assert holdings.read == 3


def test_an_identifier_is_matched_as_resolution_normalises_it() -> None:
    hashes = {
        IDS.identifier_hash("email:jane@example.com"),
        IDS.identifier_hash("phone:+447911123999"),
    }
    holdings = _holdings(ErasedPerson("era_1", identifier_hashes=frozenset(hashes)))
    assert holdings.check(_signal("m", "a", ("email", " Jane@Example.COM ")), "raw.m", 0, 1)
    assert holdings.check(_signal("s", "b", ("phone", "07911 123999")), "raw.s", 2, 5)
    assert not holdings.check(_signal("m", "c", ("email", "john@example.com")), "raw.m", 0, 2)
    assert not holdings.check(_signal("m", "d", ("phone", "not a phone")), "raw.m", 0, 3)
    assert holdings.offsets == {("raw.m", 0): [1], ("raw.s", 2): [5]}


def test_an_unmapped_event_is_judged_by_its_raw_key() -> None:
    person = ErasedPerson("era_1", record_kids=frozenset({IDS.record("support:501")}))
    holdings = _holdings(person)
    assert holdings.check_unmapped("support", b"501", "raw.support", 0, 4)
    assert not holdings.check_unmapped("support", None, "raw.support", 0, 5)
    assert not holdings.check_unmapped("support", b"\xff\xfe", "raw.support", 0, 6)
    assert not holdings.check_unmapped("billing", b"501", "raw.billing", 0, 1)
    assert holdings.offsets == {("raw.support", 0): [4]}


def test_a_person_with_nothing_left_matches_nothing() -> None:
    person = ErasedPerson("era_1")
    assert person.empty
    holdings = _holdings(person)
    assert not holdings.check(_signal("m", "a", ("email", "a@b.co")), "raw.m", 0, 0)
    assert not holdings.check_unmapped("m", b"a", "raw.m", 0, 1)


@given(st.sets(st.integers(min_value=0, max_value=500)))
def test_ranges_cover_exactly_the_offsets(offsets: set[int]) -> None:
    runs = ranges(offsets)
    covered = [o for first, last in runs for o in range(first, last + 1)]
    assert covered == sorted(offsets)
    assert all(b[0] > a[1] + 1 for a, b in pairwise(runs))
