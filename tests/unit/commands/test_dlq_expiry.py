"""Which dead letters count as deleted by retention: a prefix of each partition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from signalfold.commands.dlq_retention import Expired, first_kept

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _ms(days_ago: float) -> int:
    return int((NOW - timedelta(days=days_ago)).timestamp() * 1000)


class _Message:
    """The three things ``Expired`` reads of a confluent-kafka ``Message``."""

    def __init__(self, partition: int, offset: int, days_ago: float) -> None:
        self._at = (partition, offset, _ms(days_ago))

    def partition(self) -> int:
        return self._at[0]

    def offset(self) -> int:
        return self._at[1]

    def timestamp(self) -> tuple[int, int]:
        return 1, self._at[2]

    def value(self) -> bytes:
        return f"{self._at[0]}@{self._at[1]}".encode()


def test_retention_keeps_from_the_first_record_within_it() -> None:
    cut = _ms(30)
    records = [(0, 0, _ms(40)), (0, 1, _ms(31)), (0, 2, _ms(29)), (0, 3, _ms(35)), (1, 4, _ms(1))]
    # Partition 0 keeps from offset 2 (a later, older record stays: a broker deletes a
    # prefix); partition 1 has nothing past retention, so it is absent.
    assert first_kept(records, cut) == {0: 2}
    assert first_kept([(2, 7, _ms(90)), (2, 9, _ms(31))], cut) == {2: 10}  # all of it went
    assert first_kept([], cut) == {}


def test_expired_splits_what_was_read_and_nothing_expires_without_a_cutoff() -> None:
    read = [_Message(0, 0, 40), _Message(0, 1, 10), _Message(1, 0, 45)]
    split = Expired(read, NOW - timedelta(days=30))  # type: ignore[arg-type]
    assert split.ends == {0: 1, 1: 1}
    assert [(m.partition(), m.offset()) for m in split.kept] == [(0, 1)]
    assert split.gone_values() == {b"0@0", b"1@0"}
    forever = Expired(read, None)  # type: ignore[arg-type]
    assert forever.ends == {} and len(forever.kept) == 3 and forever.gone == []
