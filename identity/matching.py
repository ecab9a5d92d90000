"""The seam for probabilistic matching: what the graph asks of every new record.

``IdentityGraph`` consults its ``Matcher`` for every record seen for the first
time, whatever its strong identifiers say, so the links found do not depend on
arrival order. A matcher (``SplinkMatcher``: the Splink model over folded
traits and contact ids) proposes customers, each with the evidence behind it
(match weight and per-comparison contributions, ``identifier_value`` naming the
linked record); the graph records each as a ``matched`` change and uses it as a
clustering edge, under the same barriers and limits as identifiers. The
default matches nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from signalfold.schemas.identity import LinkEvidence
from signalfold.schemas.signal import Signal

__all__ = ["BatchMatcher", "GraphView", "Match", "Matcher", "NoMatcher", "Review"]


@dataclass(frozen=True)
class Match:
    """A proposed customer for a record, and why (``evidence.match_weight``, ``detail``)."""

    customer_id: str
    evidence: LinkEvidence


class GraphView(Protocol):
    """The read-only part of the graph a matcher may use to find its candidates."""

    def lookup(self, key: str) -> str | None: ...

    def canonical_id(self, customer_id: str) -> str: ...

    def records_of(self, customer_id: str) -> list[str]: ...


class Matcher(Protocol):
    """Proposes customers (through their records) a new record may be one with.

    Must be deterministic for the same signal and graph, or replays diverge.
    """

    def match(self, signal: Signal, graph: GraphView) -> Sequence[Match]: ...

    def forget(self, records: Iterable[str]) -> None:
        """Drop what the matcher holds of ``records`` (an erasure)."""


class Review(Protocol):
    """A pair scored between the review and match thresholds: kept, never merged."""

    @property
    def record_id(self) -> str: ...

    @property
    def other_record_id(self) -> str: ...

    def evidence(self, prior_weight: float) -> LinkEvidence: ...


class BatchMatcher(Matcher, Protocol):
    """A matcher that scores a whole micro-batch at once (``SplinkMatcher``)."""

    def prepare(self, signals: Sequence[Signal]) -> object: ...

    def take_reviews(self) -> Sequence[Review]: ...

    @property
    def prior_weight(self) -> float: ...


class NoMatcher:
    """The default: deterministic matching only."""

    def match(self, signal: Signal, graph: GraphView) -> Sequence[Match]:
        """Propose nothing."""
        return ()

    def forget(self, records: Iterable[str]) -> None:
        """Holds nothing."""
