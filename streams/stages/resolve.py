"""Resolve: canonical signals → customers, through the identity graph.

One process owns the graph: run exactly one resolve worker (a second member of
the group would be handed some partitions and build a conflicting graph;
failover is a restart, which rebuilds from the log). On
assignment the graph is rebuilt from ``identity.changes`` — its own log — so a
new owner assigns exactly the ids the old one did. Re-processing the signals
after the last commit emits no new changes (the graph is idempotent) and the
same signals again, which the state stage de-duplicates.

It also consumes operator commands (``identity.commands``: split, pin). A split
changes which records a customer holds, so for every customer it produced the
stage sends a ``rebuild`` control on ``signals.resolved`` followed by the
signals of that customer's records, re-read from ``signals.canonical`` (Kafka
is the source of truth; the scan costs one read of the topic per split, which
operators trigger rarely). The state stage starts those customers over from
exactly their own signals, so an open ticket follows the person it belongs to.
A command delivered twice changes nothing and re-sends the rebuild.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, Message, TopicPartition

from signalfold.identity.errors import InvalidIdentifier
from signalfold.identity.graph import IdentityGraph
from signalfold.identity.normalize import normalize_identifier
from signalfold.identity.operations import CommandOutcome
from signalfold.identity.probabilistic import possible_match_changes
from signalfold.schemas import IdentityChange, IdentityCommand, IndexEntry, Resolved, Signal
from signalfold.schemas.state import IdentityRef
from signalfold.streams.runner import Output
from signalfold.streams.topics import Topics

__all__ = ["ResolveStage", "apply_change_message", "command_output", "signals_of_records"]

log = logging.getLogger(__name__)


class ResolveStage:
    name = "resolve"

    def __init__(
        self,
        graph_factory: Callable[[], IdentityGraph],
        topics: Topics,
        *,
        default_region: str,
        rebuild: Callable[[IdentityGraph], int],
        replay: Callable[[set[str]], list[Signal]] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._clock = clock
        self._graph_factory = graph_factory
        self._topics = topics
        self._region = default_region
        self._rebuild = rebuild
        self._replay = replay or (lambda records: [])
        self.graph = graph_factory()

    def topics(self) -> list[str]:
        return [self._topics.canonical, self._topics.identity_commands]

    def on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.graph = self._graph_factory()
        applied = self._rebuild(self.graph)
        log.info("resolve: identity graph rebuilt from %d changes", applied)

    def on_revoke(self, partitions: list[TopicPartition]) -> None:
        """The graph is rebuilt on the next assignment; nothing to flush."""

    def process(self, messages: Sequence[Message]) -> list[Output]:
        out: list[Output] = []
        pending: list[Signal] = []
        firsts: dict[str, str] = {}
        for message in messages:
            if message.topic() == self._topics.identity_commands:
                # Keep the order operators and sources produced: signals first, then the command.
                self._resolve(pending, out, firsts)
                pending = []
                command = IdentityCommand.model_validate_json(message.value() or b"")
                out += self._command(self.graph.command(command))
                continue
            pending.append(Signal.from_internal_json(message.value() or b""))
        self._resolve(pending, out, firsts)
        out += self._possible_matches(firsts)
        return out

    def _resolve(
        self,
        signals: list[Signal],
        out: list[Output],
        firsts: dict[str, str],
    ) -> None:
        if not signals:
            return
        t = self._topics
        prepare = getattr(self.graph.matcher, "prepare", None)
        if prepare is not None:
            prepare(signals)  # one scoring call for the micro-batch, not one per record
        for signal in signals:
            result = self.graph.resolve(signal)
            if not result.changes:
                out += self._resend_effects(signal)
            firsts.setdefault(result.record_id, signal.signal_id)
            for change in result.changes:
                out.append(Output(t.identity_changes, change.customer_id.encode(), _json(change)))
            for entry in result.index:
                out.append(Output(t.identity_index, entry.key.encode(), _json(entry)))
            for absorbed, survivor in result.merges:
                merge = Resolved(kind="merge", customer_id=absorbed, into=survivor)
                out.append(Output(t.resolved, absorbed.encode(), _json(merge)))
            resolved = Resolved(
                kind="signal",
                customer_id=result.customer_id,
                signal=signal,
                identities=self._identities(signal),
            )
            out.append(Output(t.resolved, result.customer_id.encode(), _json(resolved)))

    def _resend_effects(self, signal: Signal) -> list[Output]:
        """Re-send the index entries and merge controls a signal caused earlier.

        A batch replayed after a crash finds its changes already in the graph (they
        were in ``identity.changes``), but the other records of that batch may never
        have been acknowledged. Both are idempotent downstream, so sending them again
        is safe; not sending them could leave a merge unmoved.
        """
        t, out = self._topics, []
        for change in self.graph.changes_of_signal(signal.signal_id):
            survivor = self.graph.canonical_id(change.customer_id)
            keys = list(change.identifiers)
            if change.kind == "merged":
                keys += self.graph.keys_of(survivor)  # the absorbed keys moved to it
                for absorbed in change.absorbed_ids:
                    merge = Resolved(kind="merge", customer_id=absorbed, into=survivor)
                    out.append(Output(t.resolved, absorbed.encode(), _json(merge)))
                    keys.append(f"customer:{absorbed}")
            for key in dict.fromkeys(keys):
                current = self.graph.lookup(key)
                if current is None:
                    continue
                id_type, _, value = key.partition(":")
                entry = IndexEntry(
                    key=key, customer_id=current, identifier_type=id_type, value=value
                )
                out.append(Output(t.identity_index, key.encode(), _json(entry)))
        return out

    def _possible_matches(self, firsts: dict[str, str]) -> list[Output]:
        """Publish pairs between the review and match thresholds; they never merge."""
        matcher = self.graph.matcher
        take = getattr(matcher, "take_reviews", None)
        if take is None:
            return []
        reviews = take()
        now_held = {
            p.record_id: c for p in reviews if (c := self.graph.customer_of_record(p.record_id))
        }
        changes = possible_match_changes(
            reviews,
            customer_of_record=now_held,
            signal_of_record=firsts,
            prior_weight=matcher.prior_weight,  # type: ignore[attr-defined]
            at=self._clock(),
        )
        for change in changes:
            self.graph.apply(change)
        topic = self._topics.identity_changes
        return [Output(topic, c.customer_id.encode(), _json(c)) for c in changes]

    def _command(self, outcome: CommandOutcome) -> list[Output]:
        """Publish a command's changes, merges and, per customer it produced, a rebuild."""
        t, out = self._topics, []
        for change in outcome.changes:
            out.append(Output(t.identity_changes, change.customer_id.encode(), _json(change)))
        for entry in outcome.index:
            out.append(Output(t.identity_index, entry.key.encode(), _json(entry)))
        for absorbed, survivor in outcome.merges:
            merge = Resolved(kind="merge", customer_id=absorbed, into=survivor)
            out.append(Output(t.resolved, absorbed.encode(), _json(merge)))
        if outcome.rebuild:
            wanted = {r for records, _ in outcome.rebuild.values() for r in records}
            signals = self._replay(wanted)
            log.info(
                "resolve: rebuilding %d customers from %d signals",
                len(outcome.rebuild),
                len(signals),
            )
            for cid, (records, aliases) in outcome.rebuild.items():
                control = Resolved(
                    kind="rebuild", customer_id=cid, records=records, aliases=aliases
                )
                out.append(Output(t.resolved, cid.encode(), _json(control)))
                mine = set(records)
                for signal in signals:
                    if signal.record_id in mine:
                        resolved = Resolved(
                            kind="signal",
                            customer_id=cid,
                            signal=signal,
                            identities=self._identities(signal),
                        )
                        out.append(Output(t.resolved, cid.encode(), _json(resolved)))
        return out

    def _identities(self, signal: Signal) -> tuple[IdentityRef, ...]:
        refs = []
        region = self.graph.region_for(signal.source)
        for identifier in signal.identifiers:
            try:
                norm = normalize_identifier(identifier, region=region)
            except InvalidIdentifier:
                continue
            refs.append(
                IdentityRef(
                    type=norm.type,
                    value=norm.value,
                    source=signal.source,
                    record_id=signal.record_id,
                )
            )
        return tuple(refs)


def _json(model: Any) -> bytes:
    return model.model_dump_json().encode()


def apply_change_message(graph: IdentityGraph, message: Message) -> None:
    """Fold one ``identity.changes`` record into a graph being rebuilt."""
    graph.apply(IdentityChange.model_validate_json(message.value() or b""))


def signals_of_records(
    read_all: Callable[[Callable[[Message], None]], int], records: set[str]
) -> list[Signal]:
    """The signals of ``records`` found by ``read_all`` (a read of ``signals.canonical``).

    Canonical messages are keyed by record id, so only matching keys are parsed.
    """
    keys = {r.encode() for r in records}
    found: dict[str, Signal] = {}

    def keep(message: Message) -> None:
        if message.key() in keys:
            signal = Signal.from_internal_json(message.value() or b"")
            found.setdefault(signal.signal_id, signal)

    read_all(keep)
    return list(found.values())


COMMAND_KEY = b"identity"


def command_output(topics: Topics, command: IdentityCommand) -> Output:
    """The record that asks the resolve stage to run ``command``.

    Every command has the same key, so all land on one partition and run in the
    order operators sent them (a split before the pin that refers to it).
    """
    return Output(topics.identity_commands, COMMAND_KEY, _json(command))
