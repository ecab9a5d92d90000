"""The ingest stage picks up registered contracts live and accounts for every event."""

from __future__ import annotations

import json
import time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from ingest_helpers import NOW, contract_file, contracts

from signalfold.schemas.contract import SourceContract, load_contract
from signalfold.schemas.dlq import DeadLetter, FieldWarning
from signalfold.schemas.signal import Signal
from signalfold.streams.ingest.replay import group_by_cause, replay_letter
from signalfold.streams.stages.ingest import IngestStage
from signalfold.streams.topics import Topics

TOPICS = Topics("p.")


class _Msg:
    """The part of a confluent-kafka ``Message`` the stage reads."""

    def __init__(self, topic: str, value: bytes, offset: int = 0) -> None:
        self._topic, self._value, self._offset = topic, value, offset

    def topic(self) -> str:
        return self._topic

    def value(self) -> bytes:
        return self._value

    def key(self) -> bytes:
        return b"k"

    def partition(self) -> int:
        return 0

    def timestamp(self) -> tuple[int, int]:
        return self._timestamp if hasattr(self, "_timestamp") else (0, -1)  # not available

    def offset(self) -> int:
        return self._offset


class _Updates:
    def __init__(self) -> None:
        self.pending: list = []
        self.registered: list = []
        self.catch_ups = 0

    def poll(self) -> list:
        out, self.pending = self.pending, []
        return out

    def catch_up(self) -> list:
        self.catch_ups += 1
        return list(self.registered)

    def close(self) -> None:
        pass


def _event() -> bytes:
    body = {"id": "e1", "kind": "opened", "at": "2026-11-20T10:00:00Z"}
    return json.dumps({**body, "user": {"id": "u1"}, "ticket": {"id": "t1"}}).encode()


def _stage(updates: _Updates) -> IngestStage:
    return IngestStage(
        dict(contracts()), TOPICS, max_event_bytes=4096, clock=lambda: NOW, updates=updates,
        catch_up_every=0,
    )  # fmt: skip


def test_unknown_topic_catches_up_with_the_registry_before_dead_lettering(tmp_path: Path) -> None:
    updates = _Updates()
    stage = _stage(updates)
    [out] = stage.process([_Msg("p.signals.raw.helpdesk2", _event())])
    assert out.topic == TOPICS.dlq and json.loads(out.value)["error_kind"] == "unknown_source"
    updates.registered = [load_contract(contract_file(tmp_path, name="helpdesk2"))]
    [out] = stage.process([_Msg("p.signals.raw.helpdesk2", _event())])
    assert out.topic == TOPICS.canonical
    assert updates.catch_ups == 2 and stage.contracts["helpdesk2"].version == 1


def test_an_event_produced_after_the_last_catch_up_makes_another_at_once(tmp_path: Path) -> None:
    """A contract registered just before an event maps it, however soon after the last
    catch-up (``catch_up_every`` bounds only events older than that read)."""
    updates = _Updates()
    stage = IngestStage(
        dict(contracts()), TOPICS, max_event_bytes=4096, clock=lambda: NOW, updates=updates,
        catch_up_every=3600,
    )  # fmt: skip
    old = _Msg("p.signals.raw.helpdesk4", _event())
    old._timestamp = (1, 1)  # produced long before any catch-up
    [out] = stage.process([old])
    assert json.loads(out.value)["error_kind"] == "unknown_source" and updates.catch_ups == 1
    [out] = stage.process([old])  # older than the last read, and not due: no second read
    assert out.topic == TOPICS.dlq and updates.catch_ups == 1
    updates.registered = [load_contract(contract_file(tmp_path, name="helpdesk4"))]
    new = _Msg("p.signals.raw.helpdesk4", _event())
    new._timestamp = (1, int(time.time() * 1000) + 1000)  # produced after the last read
    [out] = stage.process([new])
    assert out.topic == TOPICS.canonical and updates.catch_ups == 2


def test_polled_contract_replaces_an_older_version_only(tmp_path: Path) -> None:
    updates, path = _Updates(), contract_file(tmp_path, name="helpdesk3")
    stage = _stage(updates)
    v2 = load_contract(
        path.write_text(path.read_text().replace("version: 1", "version: 2")) and path
    )
    v1 = load_contract(contract_file(tmp_path, name="helpdesk3"))
    updates.pending = [v2]
    stage.process([])
    updates.pending = [v1]
    stage.process([])
    assert stage.contracts["helpdesk3"].version == 2


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["support", "sales", "billing", "nope"]), st.binary(max_size=80)),
        max_size=20,
    )
)
def test_every_message_gives_exactly_one_output_and_counts_add_up(batch: list) -> None:
    stage = _stage(_Updates())
    out = stage.process([_Msg(f"p.signals.raw.{s}", v, i) for i, (s, v) in enumerate(batch)])
    out = [record for record in out if record.topic != TOPICS.warnings]
    assert len(out) == len(batch) == stage.mapped + stage.dead
    for record in out:
        if record.topic == TOPICS.dlq:
            assert DeadLetter.model_validate_json(record.value).reason


def test_replay_maps_a_letter_with_the_fixed_contract_and_groups_causes(tmp_path: Path) -> None:
    stage = _stage(_Updates())
    [out] = stage.process([_Msg("p.signals.raw.helpdesk4", _event(), offset=9)])
    letter = DeadLetter.model_validate_json(out.value)
    assert (letter.offset, letter.error_kind) == (9, "unknown_source")
    again = replay_letter(letter, dict(contracts()), now=NOW, max_bytes=4096)
    assert isinstance(again, DeadLetter) and again.offset == 9
    fixed = {"helpdesk4": load_contract(contract_file(tmp_path, name="helpdesk4"))}
    signal = replay_letter(letter, fixed, now=NOW, max_bytes=4096)
    assert signal.source_event_id == "e1"  # type: ignore[union-attr]
    [(cause, members)] = group_by_cause([letter, again])
    assert cause[:2] == ("helpdesk4", "unknown_source") and len(members) == 2


def _warned_event() -> bytes:
    body = json.loads(_event())
    body["user"] |= {"dob": "19361218"}
    return json.dumps(body).encode()


def _with_birth_date(tmp_path: Path, name: str) -> SourceContract:
    path = contract_file(tmp_path, name=name)
    text = path.read_text().replace("type:\n", "traits: {birth_date: user.dob}\ntype:\n", 1)
    return load_contract(contract_file(tmp_path, name=name, text=text))


def test_a_dropped_trait_is_a_warning_beside_the_signal_not_a_dead_letter(tmp_path: Path) -> None:
    stage = _stage(_Updates())
    stage.use(_with_birth_date(tmp_path, "helpdesk5"))
    signal_out, warning_out = stage.process([_Msg("p.signals.raw.helpdesk5", _warned_event(), 4)])
    assert (signal_out.topic, warning_out.topic) == (TOPICS.canonical, TOPICS.warnings)
    signal = Signal.model_validate_json(signal_out.value)
    warning = FieldWarning.model_validate_json(warning_out.value)
    assert signal.traits.birth_date is None and signal.identifiers == ()
    assert warning_out.key == signal.signal_id.encode()
    assert (warning.source, warning.trait, warning.field) == ("helpdesk5", "birth_date", "user.dob")
    assert (warning.topic, warning.partition, warning.offset) == ("p.signals.raw.helpdesk5", 0, 4)
    assert warning.reason.startswith("source `helpdesk5`: field `user.dob`: expected an ISO date")
    assert (stage.mapped, stage.dead, stage.warned) == (1, 0, 1)
    assert stage.by_source[("helpdesk5", "warned")] == 1


def test_replay_collects_the_warnings_of_a_letter_that_maps(tmp_path: Path) -> None:
    stage = _stage(_Updates())
    [out] = stage.process([_Msg("p.signals.raw.helpdesk6", _warned_event(), offset=3)])
    letter = DeadLetter.model_validate_json(out.value)
    warnings: list[FieldWarning] = []
    fixed = {"helpdesk6": _with_birth_date(tmp_path, "helpdesk6")}
    signal = replay_letter(letter, fixed, now=NOW, max_bytes=4096, warnings=warnings)
    assert isinstance(signal, Signal)
    [warning] = warnings
    assert (warning.signal_id, warning.offset, warning.trait) == (signal.signal_id, 3, "birth_date")
    [(cause, _)] = group_by_cause(warnings)
    assert cause[:3] == ("helpdesk6", "invalid_value", "user.dob")
