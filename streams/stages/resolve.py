"""Resolve: canonical signals → customers, through the identity graph.

One process owns the graph. ``signalfold worker --stage resolve`` runs this
stage only while it holds the lease on ``identity.lease`` (``streams/lease.py``);
any other resolve worker is a hot standby whose graph follows
``identity.changes`` (``streams/stages/follower.py``), so two workers never
build conflicting graphs. On assignment the graph catches up with
``identity.changes`` — its own log — to a fence: from offset 0 for a fresh
worker (a rebuild), from where it stood for a standby taking over; either way
a new owner assigns exactly the ids the old one did. Re-processing the signals
after the last commit emits no new changes (the graph is idempotent) and the
same signals again, which the state stage de-duplicates.

It also consumes operator commands (``identity.commands``: split, pin). A split
— an operator's, or one new evidence causes (a value turns out to be shared by
two people, so the records it alone joined come apart) — changes which records
a customer holds, so for every customer it produced the stage sends a
``rebuild`` control on ``signals.resolved`` followed by the signals of that
customer's records, re-read from ``signals.canonical`` (Kafka is the source of
truth; the scan costs one read of the topic per batch that split someone). The
state stage starts those customers over from exactly their own signals, so an
open ticket follows the person it belongs to.
A command delivered twice changes nothing and re-sends the rebuild.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, Message, TopicPartition

from signalfold.identity.graph import IdentityGraph
from signalfold.identity.operations import CommandOutcome
from signalfold.identity.probabilistic import take_possible_matches
from signalfold.schemas import IdentityChange, IdentityCommand, IndexEntry, Resolved, Signal
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
        """Bring the graph up to date with ``identity.changes`` before the first batch."""
        self.graph = self._graph_factory()
        applied = self._rebuild(self.graph)
        # The rebuilt graph and the matcher's store live as long as the process: move
        # them out of the collector's generations so full collections do not walk them.
        gc.collect()
        gc.freeze()
        log.info("resolve: identity graph current (%d changes applied on assignment)", applied)

    def on_revoke(self, partitions: list[TopicPartition]) -> None:
        """The graph catches up on the next assignment; nothing to flush."""

    def process(self, messages: Sequence[Message]) -> list[Output]:
        out: list[Output] = []
        pending: list[Signal] = []
        firsts: dict[str, str] = {}
        split: set[str] = set()
        for message in messages:
            if message.topic() == self._topics.identity_commands:
                # Keep the order operators and sources produced: signals first, then the command.
                self._resolve(pending, out, firsts, split)
                out += self._rebuild_customers(self.graph.rebuild_of(split))
                pending, split = [], set()
                command = IdentityCommand.model_validate_json(message.value() or b"")
                out += self._command(self.graph.command(command))
                continue
            pending.append(Signal.from_internal_json(message.value() or b""))
        self._resolve(pending, out, firsts, split)
        out += self._rebuild_customers(self.graph.rebuild_of(split))
        out += self._possible_matches(firsts)
        return out

    def _resolve(
        self,
        signals: list[Signal],
        out: list[Output],
        firsts: dict[str, str],
        split: set[str],
    ) -> None:
        """Resolve a run of signals; ``split`` collects the customers a re-clustering split."""
        if not signals:
            return
        prepare = getattr(self.graph.matcher, "prepare", None)
        if prepare is not None:
            prepare(signals)  # one scoring call for the micro-batch, not one per record
        for signal in signals:
            result = self.graph.resolve(signal)
            split |= set(result.rebuild)
            firsts.setdefault(result.record_id, signal.signal_id)
            if result.changes:
                out += self._publish(result.changes, result.index, result.merges)
            else:
                # A replay after a crash: re-send what may not have been acknowledged.
                merges, index = self.graph.replayed_effects(signal.signal_id)
                out += self._publish((), index, merges)
            out.append(self._signal(result.customer_id, signal))

    def _publish(
        self,
        changes: Sequence[IdentityChange],
        index: Sequence[IndexEntry],
        merges: Sequence[tuple[str, str]],
    ) -> list[Output]:
        """Identity changes, index entries and merge controls, in that order."""
        t = self._topics
        out = [Output(t.identity_changes, c.customer_id.encode(), _json(c)) for c in changes]
        out += [Output(t.identity_index, e.key.encode(), _json(e)) for e in index]
        for absorbed, survivor in merges:
            merge = Resolved(kind="merge", customer_id=absorbed, into=survivor)
            out.append(Output(t.resolved, absorbed.encode(), _json(merge)))
        return out

    def _signal(self, customer_id: str, signal: Signal) -> Output:
        resolved = Resolved(
            kind="signal",
            customer_id=customer_id,
            signal=signal,
            identities=self.graph.identity_refs(signal),
        )
        return Output(self._topics.resolved, customer_id.encode(), _json(resolved))

    def _possible_matches(self, firsts: dict[str, str]) -> list[Output]:
        """Publish pairs between the review and match thresholds; they never merge."""
        changes = take_possible_matches(self.graph, firsts, at=self._clock())
        return self._publish(changes, (), ())

    def _command(self, outcome: CommandOutcome) -> list[Output]:
        """Publish a command's changes, merges and, per customer it produced, a rebuild."""
        out = self._publish(outcome.changes, outcome.index, outcome.merges)
        return out + self._rebuild_customers(outcome.rebuild)

    def _rebuild_customers(
        self, rebuild: dict[str, tuple[tuple[str, ...], tuple[str, ...]]]
    ) -> list[Output]:
        """A ``rebuild`` control per customer, then the signals of exactly its records.

        One read of ``signals.canonical`` serves every customer of the batch.
        """
        if not rebuild:
            return []
        t = self._topics
        wanted = {r for records, _ in rebuild.values() for r in records}
        signals = self._replay(wanted)
        log.info("resolve: rebuilding %d customers from %d signals", len(rebuild), len(signals))
        out = []
        for cid, (records, aliases) in rebuild.items():
            control = Resolved(kind="rebuild", customer_id=cid, records=records, aliases=aliases)
            out.append(Output(t.resolved, cid.encode(), _json(control)))
            mine = set(records)
            out += [self._signal(cid, s) for s in signals if s.record_id in mine]
        return out


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
