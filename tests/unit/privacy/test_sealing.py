"""Sealed values: open while their keys live, nothing once any key they need is gone."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag
from hypothesis import given
from hypothesis import strategies as st

from signalfold.privacy.sealing import MAGIC, Keyring, SubjectIds, is_sealed, kids_of

IDS = SubjectIds(b"a deployment secret of 32 bytes!")


@given(st.binary(max_size=2048), st.text(min_size=1, max_size=40))
def test_a_sealed_value_opens_to_itself(plain: bytes, record: str) -> None:
    ring = Keyring()
    sealed = ring.seal([IDS.record(record)], plain)
    assert is_sealed(sealed) and sealed.startswith(MAGIC)
    assert len(plain) < 16 or plain not in sealed  # short ones may occur by chance
    assert ring.open(sealed) == plain
    assert kids_of(sealed) == [IDS.record(record)]


def test_a_value_about_two_records_goes_when_either_is_erased() -> None:
    ring = Keyring()
    jane, bob = IDS.record("crm:jane"), IDS.record("support:bob")
    both = ring.seal([jane, bob], b"related")
    only_bob = ring.seal([bob], b"bob's")
    for version in ring.versions(jane):
        ring.forget(version)
    assert ring.open(both) is None
    assert ring.open(only_bob) == b"bob's"


def test_versions_are_made_once_and_published_by_the_writer() -> None:
    ring = Keyring()
    kid = IDS.customer("cus_1")
    ring.seal([kid], b"a")
    ring.seal([kid], b"b")
    assert len(ring.made) == 1 and ring.versions(kid) == {ring.made[0][0]}
    reader = Keyring()
    sealed = ring.seal([kid], b"c")
    assert reader.open(sealed) is None and reader.missing(sealed) == [ring.made[0][0]]
    reader.learn(*ring.made[0])
    assert reader.open(sealed) == b"c"


def test_a_writer_seals_with_a_version_it_learned_instead_of_making_one() -> None:
    first, second = Keyring(), Keyring()
    kid = IDS.record("crm:1")
    first.seal([kid], b"x")
    second.learn(*first.made[0])
    second.seal([kid], b"y")
    assert second.made == []


def test_after_erasure_a_writer_makes_a_new_key_for_the_same_subject() -> None:
    ring = Keyring()
    kid = IDS.record("crm:1")
    old = ring.seal([kid], b"before")
    (version,) = ring.versions(kid)
    ring.forget(version)
    new = ring.seal([kid], b"after")
    assert ring.open(old) is None and ring.open(new) == b"after"
    assert ring.versions(kid) != {version}


def test_plain_values_pass_and_a_tampered_one_is_refused() -> None:
    ring = Keyring()
    assert ring.open(b'{"plain": 1}') == b'{"plain": 1}' and ring.open(None) is None
    sealed = bytearray(ring.seal([IDS.record("crm:1")], b"secret"))
    sealed[-1] ^= 1
    with pytest.raises(InvalidTag):
        ring.open(bytes(sealed))


def test_subject_ids_name_no_one_and_depend_on_the_secret() -> None:
    other = SubjectIds(b"another deployment's secret key!")
    assert IDS.record("crm:jane@example.com") != other.record("crm:jane@example.com")
    assert IDS.record("a") != IDS.customer("a") != IDS.index("a")
    assert b"jane" not in IDS.record("crm:jane@example.com")
    assert IDS.fingerprint() != other.fingerprint()


@given(st.binary(max_size=512), st.text(min_size=1, max_size=20))
def test_the_one_subject_fast_path_writes_and_reads_the_general_envelope(
    plain: bytes, record: str
) -> None:
    ring, kid = Keyring(), IDS.record(record)
    fast = ring.seal([kid], plain)  # a one-item list takes the fast path
    general = ring.seal(iter([kid]), plain)  # any other iterable, the general one
    assert fast[: 5 + len(kids_of(fast)[0]) + 4] == general[: 5 + len(kids_of(general)[0]) + 4]
    assert ring.open(fast) == ring.open(general) == plain
    assert ring.missing(fast) == [] and kids_of(fast) == [kid]
    for version in ring.versions(kid):
        ring.forget(version)
    assert ring.open(fast) is None and ring.open(general) is None


def test_a_dead_letter_key_is_a_keyed_digest_stable_per_raw_key() -> None:
    other = SubjectIds(b"another deployment's secret.....")
    key = IDS.letter_key(b"jane@example.com")
    assert key is not None and key.startswith(b"kid:") and b"jane" not in key
    assert key == IDS.letter_key(b"jane@example.com") != IDS.letter_key(b"john@example.com")
    assert other.letter_key(b"jane@example.com") != key  # only the secret's holder can match
    assert IDS.letter_key(b"\xff\xfe not utf-8") is not None
    assert IDS.letter_key(None) is None and IDS.letter_key(b"") is None
