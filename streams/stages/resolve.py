"""Resolve: canonical signals → customers, through the identity graph.

One process owns the graph: the stage's consumer group is expected to have one
active member (others wait as standbys and take over on failure). On
assignment the graph is rebuilt from ``identity.changes`` — its own log — so a
new owner assigns exactly the ids the old one did. Re-processing the signals
after the last commit emits no new changes (the graph is idempotent) and the
same signals again, which the state stage de-duplicates.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from confluent_kafka import Consumer, Message, TopicPartition

from signalfold.identity.errors import InvalidIdentifier
from signalfold.identity.graph import IdentityGraph
from signalfold.identity.normalize import normalize_identifier
from signalfold.schemas import IdentityChange, Resolved, Signal
from signalfold.schemas.state import IdentityRef
from signalfold.streams.runner import Output
from signalfold.streams.topics import Topics

__all__ = ["ResolveStage"]

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
    ) -> None:
        self._graph_factory = graph_factory
        self._topics = topics
        self._region = default_region
        self._rebuild = rebuild
        self.graph = graph_factory()

    def topics(self) -> list[str]:
        return [self._topics.canonical]

    def on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.graph = self._graph_factory()
        applied = self._rebuild(self.graph)
        log.info("resolve: identity graph rebuilt from %d changes", applied)

    def on_revoke(self, partitions: list[TopicPartition]) -> None:
        """The graph is rebuilt on the next assignment; nothing to flush."""

    def process(self, messages: Sequence[Message]) -> list[Output]:
        out: list[Output] = []
        t = self._topics
        for message in messages:
            signal = Signal.model_validate_json(message.value() or b"")
            result = self.graph.resolve(signal)
            for change in result.changes:
                out.append(
                    Output(
                        t.identity_changes,
                        change.customer_id.encode(),
                        change.model_dump_json().encode(),
                    )
                )
            for entry in result.index:
                out.append(
                    Output(t.identity_index, entry.key.encode(), entry.model_dump_json().encode())
                )
            for absorbed, survivor in result.merges:
                merge = Resolved(kind="merge", customer_id=absorbed, into=survivor)
                out.append(Output(t.resolved, absorbed.encode(), merge.model_dump_json().encode()))
            resolved = Resolved(
                kind="signal",
                customer_id=result.customer_id,
                signal=signal,
                identities=self._identities(signal),
            )
            out.append(
                Output(t.resolved, result.customer_id.encode(), resolved.model_dump_json().encode())
            )
        return out

    def _identities(self, signal: Signal) -> tuple[IdentityRef, ...]:
        refs = []
        for identifier in signal.identifiers:
            try:
                norm = normalize_identifier(identifier, region=self._region)
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


def apply_change_message(graph: IdentityGraph, message: Message) -> None:
    """Fold one ``identity.changes`` record into a graph being rebuilt."""
    graph.apply(IdentityChange.model_validate_json(message.value() or b""))
