"""The state stage checkpoints its store only for batches whose outputs are out.

The runner calls ``process`` again only after the previous batch's outputs
were acknowledged and its offsets committed, so a checkpoint is written at the
start of a later call (an idle tick included), never for the batch in hand.
"""

from __future__ import annotations

from pathlib import Path

from state_factory import signal

from signalfold.policy import load_policy
from signalfold.schemas import Resolved
from signalfold.streams.stages.state import StateStage
from signalfold.streams.state.store import PartitionStore, RocksKV
from signalfold.streams.topics import Topics

TOPICS = Topics()


class Record:
    """What the stage reads of a consumed message."""

    def __init__(self, offset: int, cid: str) -> None:
        sent = signal(
            "marketing.email.sent", {"campaign_id": "c"}, at=offset, event_id=f"e{offset}"
        )
        self._value = (
            Resolved(kind="signal", customer_id=cid, signal=sent).model_dump_json().encode()
        )
        self._offset = offset

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes:
        return self._value


def _stage(data_dir: Path) -> StateStage:
    return StateStage(TOPICS, load_policy(None), {}, data_dir=data_dir, policy_reload_seconds=1e9)


def _stored(data_dir: Path) -> tuple[int | None, list[str]]:
    store = PartitionStore.open(data_dir / "state" / f"{TOPICS.resolved}-0")
    try:
        return store.checkpoint, store.customer_ids()
    finally:
        store.close()


def test_a_batch_is_checkpointed_by_the_next_call_not_its_own(tmp_path: Path) -> None:
    stage = _stage(tmp_path)
    stage.process([Record(0, "cus_a"), Record(1, "cus_b")])
    stage.process([])  # the idle tick: batch 1's outputs are out
    stage.process([Record(2, "cus_c")])  # its outputs might never be acknowledged
    stage.on_revoke([])  # nothing to revoke; then the process dies
    for part in stage._parts.values():
        part.store.close()
    assert _stored(tmp_path) == (2, ["cus_a", "cus_b"])


def test_a_busy_stage_writes_at_most_about_once_a_second(tmp_path: Path) -> None:
    stage = _stage(tmp_path)
    stage.process([Record(0, "cus_a")])
    stage.process([Record(1, "cus_b")])  # within the second: batch 1 stays in memory
    assert stage._parts[0].store.checkpoint is None
    stage._parts[0].written -= 1.0
    stage.process([Record(2, "cus_c")])
    assert stage._parts[0].store.checkpoint == 2
    stage._parts[0].store.close()
    assert _stored(tmp_path) == (2, ["cus_a", "cus_b"])


def test_a_store_of_another_version_is_rebuilt_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "state" / f"{TOPICS.resolved}-0"
    kv = RocksKV(path)
    kv.write({b"c:format": b"0.0", b"c:checkpoint": b"7"})
    kv.close()
    stage = _stage(tmp_path)
    stage.process([Record(0, "cus_a")])
    assert stage._parts[0].store.checkpoint is None, "the old store was dropped"
    stage._parts[0].store.close()
