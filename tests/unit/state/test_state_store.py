"""The state stage's store: RocksDB round trip, the bounded cache, the expiry index, the
checkpoint written with the changes it covers and never without them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from state_factory import T0, signal

from signalfold.schemas.state import Flag
from signalfold.streams.state import CustomerAggregate
from signalfold.streams.state.store import (
    MemoryKV,
    PartitionStore,
    RocksKV,
    StoreBusy,
    UnreadableStore,
    Writes,
)


def _customer(cid: str, n: int = 3) -> CustomerAggregate:
    agg = CustomerAggregate(cid, timeline_size=5)
    for i in range(n):
        sent = signal("marketing.email.sent", {"campaign_id": f"c{i}"}, at=i, event_id=f"{cid}-{i}")
        agg.apply(sent)
    return agg


def _flag(signal_id: str) -> Flag:
    return Flag(
        rule="open_high_priority_ticket",
        department="support",
        channels=("email",),
        purposes=("marketing",),
        reason="an urgent ticket is open",
        source="zendesk",
        source_event_id="z1",
        signal_id=signal_id,
        since=T0,
        until=T0 + timedelta(days=2),
        details={"ticket_id": "T-1"},
    )


class CountingKV(MemoryKV):
    """The memory store, counting the reads that reach it."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[bytes] = []

    def get(self, key: bytes) -> bytes | None:
        self.reads.append(key)
        return super().get(key)

    def write(self, writes: Writes) -> None:
        super().write(writes)


def test_everything_round_trips_through_rocksdb(tmp_path: Path) -> None:
    path = tmp_path / "signals.resolved-0"
    store = PartitionStore.open(path, cache_customers=10)
    a, b = _customer("cus_a"), _customer("cus_b", 5)
    store.put("cus_a", a)
    store.put("cus_b", b)
    store.set_forward("cus_old", "cus_a")
    store.set_flags("cus_a", {"open_high_priority_ticket:s1": _flag("s1")})
    store.set_expiry("cus_a", T0 + timedelta(days=2))
    store.commit(checkpoint=42)
    store.close()

    back = PartitionStore.open(path, cache_customers=10)
    assert back.checkpoint == 42
    assert back.get("cus_a") == a and back.get("cus_b") == b
    assert back.get("cus_nobody") is None
    assert back.forwards == {"cus_old": "cus_a"}
    assert back.flags("cus_a") == {"open_high_priority_ticket:s1": _flag("s1")}
    assert back.flags("cus_b") is None
    assert back.due(T0 + timedelta(days=2)) == ["cus_a"]
    assert back.customer_ids() == ["cus_a", "cus_b"]
    back.close()


def test_nothing_reaches_the_disk_before_commit(tmp_path: Path) -> None:
    path = tmp_path / "p"
    store = PartitionStore.open(path)
    store.put("cus_a", _customer("cus_a"))
    store.commit(checkpoint=3)
    store.put("cus_b", _customer("cus_b"))
    store.set_forward("cus_x", "cus_a")
    store.close()  # killed before the next batch began: its changes are not checkpointed

    back = PartitionStore.open(path)
    assert back.checkpoint == 3
    assert back.customer_ids() == ["cus_a"] and back.forwards == {}
    back.commit(checkpoint=None)  # flags-only writes keep the checkpoint
    assert PartitionStore(back._kv).checkpoint == 3
    back.close()


def test_cold_customers_are_read_back_from_disk() -> None:
    kv = CountingKV()
    store = PartitionStore(kv, cache_customers=2)
    made = {f"cus_{i}": _customer(f"cus_{i}") for i in range(5)}
    for cid, agg in made.items():
        store.put(cid, agg)
    assert all(store.get(cid) is agg for cid, agg in made.items()), "dirty ones stay pinned"
    store.commit(checkpoint=5)
    assert list(store._cache) == ["cus_3", "cus_4"], "the cache keeps the latest two"

    kv.reads.clear()
    assert store.get("cus_4") is made["cus_4"] and kv.reads == []  # hot: no read
    cold = store.get("cus_0")
    assert kv.reads == [b"a:cus_0"] and cold == made["cus_0"] and cold is not made["cus_0"]
    assert list(store._cache) == ["cus_4", "cus_0"], "least recently used went first"


def test_a_deleted_customer_stays_deleted() -> None:
    store = PartitionStore(MemoryKV(), cache_customers=1)
    store.put("cus_a", _customer("cus_a"))
    store.put("cus_b", _customer("cus_b"))
    store.commit(checkpoint=1)
    assert store.delete("cus_a") == _customer("cus_a")
    assert store.get("cus_a") is None and "cus_a" not in store
    assert store.customer_ids() == ["cus_b"]
    store.commit(checkpoint=2)
    assert store.get("cus_a") is None and store.customer_ids() == ["cus_b"]


def test_due_expiries_are_a_range_scan_in_time_order() -> None:
    store = PartitionStore(MemoryKV())
    at = {f"cus_{i}": T0 + timedelta(hours=i) for i in range(4)}
    for cid in sorted(at, reverse=True):
        store.set_expiry(cid, at[cid])
    assert store.due(T0 + timedelta(hours=1)) == ["cus_0", "cus_1"]  # pending, not yet written
    store.commit(checkpoint=1)
    assert store.due(T0 - timedelta(seconds=1)) == []
    assert store.due(T0 + timedelta(hours=1)) == ["cus_0", "cus_1"]
    assert store.due(T0 + timedelta(hours=1, microseconds=-1)) == ["cus_0"]

    store.set_expiry("cus_0", T0 + timedelta(hours=9))  # moved later, then one cleared
    store.set_expiry("cus_1", None)
    assert store.due(T0 + timedelta(hours=2)) == ["cus_2"]
    store.commit(checkpoint=2)
    assert store.due(T0 + timedelta(hours=2)) == ["cus_2"]
    assert store.due(T0 + timedelta(hours=9)) == ["cus_2", "cus_3", "cus_0"]
    assert not [k for k, _ in store._kv.scan(b"e:cus_1") if k == b"e:cus_1"]


def test_a_store_of_another_format_is_refused(tmp_path: Path) -> None:
    kv = MemoryKV()
    kv.write({b"c:format": b"99"})
    with pytest.raises(UnreadableStore, match=r"state store format 99; this version reads 1\.1"):
        PartitionStore(kv)


def test_a_store_held_elsewhere_is_refused_with_what_to_do(tmp_path: Path) -> None:
    held = RocksKV(tmp_path / "p")
    try:
        with pytest.raises(StoreBusy, match="give each worker its own SIGNALFOLD_DATA_DIR"):
            RocksKV(tmp_path / "p", wait=0.3)
    finally:
        held.close()
