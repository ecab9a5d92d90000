"""A standby's graph follows the owner's log: the same customers, and the Splink rows
of exactly the records the owner resolved, each from its first signal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from signalfold.identity.graph import IdentityGraph
from signalfold.identity.matcher import IncrementalLinker, SplinkMatcher
from signalfold.schemas import Identifier, Signal
from signalfold.schemas.signal import Traits, make_signal_id
from signalfold.streams.stages.follower import GraphFollower
from signalfold.streams.topics import Topics

T0 = datetime(2026, 11, 1, tzinfo=UTC)
TOPICS = Topics()


class Record:
    """The part of a confluent-kafka ``Message`` the follower reads."""

    def __init__(self, topic: str, key: str, value: bytes) -> None:
        self._topic, self._key, self._value = topic, key.encode(), value

    def topic(self) -> str:
        return self._topic

    def key(self) -> bytes:
        return self._key

    def value(self) -> bytes:
        return self._value


def _signal(source: str, key: str, event: str, email: str, given: str, day: int) -> Signal:
    return Signal(
        signal_id=make_signal_id(source, event),
        source=source,
        source_event_id=event,
        record_key=key,
        type="marketing.email.opened",
        occurred_at=T0 + timedelta(days=day),
        received_at=T0 + timedelta(days=day),
        identifiers=(Identifier(type="email", value=email),),
        traits=Traits(given_name=given, family_name="Okafor"),
        payload={"campaign_id": "c1"},
    )


def _graph() -> IdentityGraph:
    return IdentityGraph(matcher=SplinkMatcher(IncrementalLinker()))


def _canonical(signal: Signal) -> Record:
    return Record(TOPICS.canonical, signal.record_id, signal.model_dump_json().encode())


def test_the_follower_holds_the_owners_customers_and_first_rows() -> None:
    owner = _graph()
    first = _signal("crm", "c1", "e1", "ada@example.com", "Ada", 0)
    renamed = _signal("crm", "c1", "e2", "ada@example.com", "Adaeze", 1)  # same record, later
    other = _signal("shop", "s1", "e3", "ada@example.com", "Ada", 2)
    backlog = _signal("shop", "s2", "e4", "bo@example.com", "Bo", 3)  # not resolved yet
    changes = []
    for signal in (first, renamed, other):
        owner.matcher.prepare([signal])  # type: ignore[attr-defined]
        changes += owner.resolve(signal).changes
    log = [
        Record(TOPICS.identity_changes, c.customer_id, c.model_dump_json().encode())
        for c in changes
    ]

    follower = GraphFollower({}, TOPICS, _graph, region="GB", rows=True)
    # Canonical and the log are read side by side: a record's signal may come before
    # or after the change that resolved it.
    follower.handle(_canonical(first))
    for record in log:
        follower.handle(record)
    for signal in (renamed, other, backlog):
        follower.handle(_canonical(signal))
    follower.store_rows()

    graph = follower.graph
    for record in ("crm:c1", "shop:s1"):
        assert graph.customer_of_record(record) == owner.customer_of_record(record)
    assert graph.lookup("email:ada@example.com") == owner.lookup("email:ada@example.com")
    assert follower.applied == len(changes)
    linker = graph.matcher.linker  # type: ignore[attr-defined]
    assert "crm:c1" in linker and "shop:s1" in linker
    assert "shop:s2" not in linker  # scored when the owner resolves it, not stored before
    rows = {row[0]: row for row in linker._rows}
    assert "adaeze" not in str(rows["crm:c1"]).lower()  # the row is the first signal's

    # Read again (an owner reading its own changes back): nothing changes.
    for record in log:
        follower.handle(record)
    assert graph.customer_of_record("crm:c1") == owner.customer_of_record("crm:c1")
    assert len(linker) == 2
