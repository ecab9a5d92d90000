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

from signalfold.identity.erasure import Erasure
from signalfold.identity.graph import IdentityGraph
from signalfold.identity.operations import CommandOutcome
from signalfold.identity.probabilistic import take_possible_matches
from signalfold.schemas import IdentityChange, IdentityCommand, IndexEntry, Resolved, Signal
from signalfold.schemas.erasure import DoNotContact, ErasureRequest
from signalfold.streams.keylog import KeyLog
from signalfold.streams.runner import Output, StageBase
from signalfold.streams.topics import Topics

__all__ = ["ResolveStage", "apply_change_message", "signals_of_records"]

log = logging.getLogger(__name__)


class ResolveStage(StageBase):
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
        keys: KeyLog | None = None,
    ) -> None:
        self._clock = clock
        self._keys = keys
        self._graph_factory = graph_factory
        self._topics = topics
        self._region = default_region
        self._rebuild = rebuild
        self._replay = replay or (lambda records: [])
        self.graph = graph_factory()
        self._shred: list[bytes] = []  # erased subjects whose keys go once outputs are out

    # process([]) about once a second when idle, and right after a batch that erased
    # someone (``work_after_commit``): their keys go as soon as its outputs are out.
    wants_idle_ticks = True

    @property
    def work_after_commit(self) -> bool:
        """Keys of erased people wait for this batch's outputs: call again once they are out."""
        return bool(self._shred)

    def topics(self) -> list[str]:
        return [self._topics.canonical, self._topics.identity_commands, self._topics.erasures]

    def on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Bring the graph up to date with ``identity.changes`` before the first batch."""
        self.graph = self._graph_factory()
        applied = self._rebuild(self.graph)
        self._forget_subjects()  # erasures the log holds whose keys may not be gone yet
        # The rebuilt graph and the matcher's store live as long as the process: move
        # them out of the collector's generations so full collections do not walk them.
        gc.collect()
        gc.freeze()
        log.info("resolve: identity graph current (%d changes applied on assignment)", applied)

    def on_revoke(self, partitions: list[TopicPartition]) -> None:
        """The graph catches up on the next assignment; nothing to flush."""

    def process(self, messages: Sequence[Message]) -> list[Output]:
        self._shred_erased()
        if self._keys is not None:
            self._keys.prepare(m.value() for m in messages)  # one key-log read a batch
        out: list[Output] = []
        pending: list[Signal] = []
        firsts: dict[str, str] = {}
        split: set[str] = set()
        for message in messages:
            value = self._open(message.value())
            if value is None:
                continue  # sealed for someone erased since: gone
            if message.topic() == self._topics.erasures:
                self._resolve(pending, out, firsts, split)
                out += self._rebuild_customers(self.graph.rebuild_of(split))
                pending, split = [], set()
                out += self._erase(ErasureRequest.model_validate_json(value))
                continue
            if message.topic() == self._topics.identity_commands:
                # Keep the order operators and sources produced: signals first, then the command.
                self._resolve(pending, out, firsts, split)
                out += self._rebuild_customers(self.graph.rebuild_of(split))
                pending, split = [], set()
                command = IdentityCommand.model_validate_json(value)
                out += self._command(self.graph.command(command))
                continue
            pending.append(Signal.from_internal_json(value))
        self._resolve(pending, out, firsts, split)
        out += self._rebuild_customers(self.graph.rebuild_of(split))
        out += self._possible_matches(firsts)
        if self._keys is not None:
            self._keys.publish()  # keys this batch made, before the values they seal
        return out

    def _erase(self, request: ErasureRequest) -> list[Output]:
        """Forget the person in the graph and tell every stage and replica to.

        In order: the do-not-contact entries, the ``erased`` change, the index entries
        that moved or went, and an ``erase`` control per id on ``signals.resolved``
        (each id's state lives on its own partition). The person's keys are deleted
        on the next ``process`` call, once all of that is acknowledged: a crash before
        then replays the request, and the graph forgets nothing twice.
        """
        t, keys = self._topics, self._keys
        found = (
            self.graph.erase(request.customer_id, request.request_id)
            if request.customer_id
            else Erasure(request.request_id, "", found=False)
        )
        log.info(
            "resolve: erasure %s: %s (%d records, %d identifiers, %d merged ids)",
            request.request_id,
            "applied" if found.found else "no such customer in the graph",
            len(found.records),
            len(found.keys),
            len(found.aliases),
        )
        held = DoNotContact(
            identifier_type="", request_id=request.request_id, since=request.requested_at
        )
        out = []
        hashes = {h: "" for h in request.identifier_hashes}
        if keys is not None:
            hashes |= {keys.ids.identifier_hash(k): k.partition(":")[0] for k in found.keys}
        for hashed, identifier_type in sorted(hashes.items()):
            entry = held.model_copy(update={"identifier_type": identifier_type})
            out.append(Output(t.do_not_contact, hashed.encode(), _json(entry)))
        if not found.found or found.change is None:
            return out
        cid, change = found.customer_id, found.change
        if keys is not None:  # the records' kids, never their names: for ``erase-report``
            kids = tuple(sorted(keys.ids.record(r).hex() for r in found.records))
            change = change.model_copy(update={"records": kids})
        out.append(Output(t.identity_changes, cid.encode(), _json(change)))
        out += [_index_output(t, keys, e) for e in found.index]
        for key in found.unowned:
            out.append(
                Output(t.identity_index, keys.index_key(key) if keys else key.encode(), None)
            )
        for gone in (cid, *found.aliases):
            out.append(Output(t.identity_index, f"customer:{gone}".encode(), None))
            control = Resolved(kind="erase", customer_id=gone, aliases=found.aliases)
            out.append(Output(t.resolved, gone.encode(), _json(control)))
        self._forget_subjects()
        return out

    def _forget_subjects(self) -> None:
        """Queue the keys of every customer the graph forgot, for ``_shred_erased``."""
        for ids, records in self.graph.take_forgotten():
            if self._keys is not None:
                self._shred += [self._keys.ids.record(r) for r in records]
                self._shred += [self._keys.ids.customer(c) for c in ids]

    def _shred_erased(self) -> None:
        """Delete the keys of people erased in the previous batch (its outputs are out)."""
        if self._shred and self._keys is not None:
            deleted = self._keys.delete(self._shred)
            log.info("resolve: deleted %d keys of %d erased subjects", deleted, len(self._shred))
        self._shred = []

    def _open(self, value: bytes | None) -> bytes | None:
        if self._keys is None:
            return value or b""
        return self._keys.open(value or b"")

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
        t, keys = self._topics, self._keys
        out = [
            Output(t.identity_changes, c.customer_id.encode(), _sealed_change(keys, c))
            for c in changes
        ]
        out += [_index_output(t, keys, e) for e in index]
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
        body = _json(resolved)
        if self._keys is not None:
            body = self._keys.seal_records([signal.record_id], body)
        return Output(self._topics.resolved, customer_id.encode(), body)

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
            control = _json(
                Resolved(kind="rebuild", customer_id=cid, records=records, aliases=aliases)
            )
            if self._keys is not None:  # record ids are often emails
                control = self._keys.seal_customer(cid, control)
            out.append(Output(t.resolved, cid.encode(), control))
            mine = set(records)
            out += [self._signal(cid, s) for s in signals if s.record_id in mine]
        return out


def _json(model: Any) -> bytes:
    return model.model_dump_json().encode()


def _sealed_change(keys: KeyLog | None, change: IdentityChange) -> bytes:
    """A change sealed with the keys of the records it names: erasing either hides it.

    ``erased`` changes name no one (customer ids and a request id) and stay plain.
    """
    body = _json(change)
    if keys is None or change.kind == "erased":
        return body
    return keys.seal_records([change.record_id, change.other_record_id], body)


def _index_output(topics: Topics, keys: KeyLog | None, entry: IndexEntry) -> Output:
    """An identifier's entry, keyed by a keyed hash of it and sealed with its customer's key.

    Aliases (``customer:<absorbed id>``) name no one and stay plain.
    """
    body = _json(entry)
    if keys is None or entry.identifier_type == "customer":
        return Output(topics.identity_index, entry.key.encode(), body)
    key = keys.index_key(entry.key)
    return Output(topics.identity_index, key, keys.seal_customer(entry.customer_id, body))


def apply_change_message(
    graph: IdentityGraph, message: Message, keys: KeyLog | None = None
) -> None:
    """Fold one ``identity.changes`` record into a graph being rebuilt (sealed: opened)."""
    value = keys.open(message.value()) if keys is not None else message.value()
    if value is not None:  # None: sealed for someone erased since
        graph.apply(IdentityChange.model_validate_json(value or b""))


def signals_of_records(
    read_all: Callable[[Callable[[Message], None]], int],
    records: set[str],
    keys: KeyLog | None = None,
) -> list[Signal]:
    """The signals of ``records`` found by ``read_all`` (a read of ``signals.canonical``).

    Canonical messages are keyed by record (its subject id), so only matching keys
    are opened and parsed.
    """
    wanted = {keys.record_key(r) if keys else r.encode() for r in records}
    found: dict[str, Signal] = {}

    def keep(message: Message) -> None:
        if message.key() in wanted:
            value = keys.open(message.value()) if keys else message.value()
            if value is None:
                return  # erased
            signal = Signal.from_internal_json(value)
            found.setdefault(signal.signal_id, signal)

    read_all(keep)
    return list(found.values())
