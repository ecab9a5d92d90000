"""The seam for probabilistic matching: what the graph asks when strong ids say nothing.

``IdentityGraph`` consults its ``Matcher`` only for a record seen for the first
time whose strong identifiers match no customer. A matcher (later: the Splink
model over folded traits and weak identifiers) proposes customers, each with
the evidence behind it (match weight and per-comparison contributions); the
graph links or merges them exactly as it does exact matches, under the same
merge protection, and publishes the evidence. The default matches nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    """Proposes customers for a record that no strong identifier settles.

    Must be deterministic for the same signal and graph, or replays diverge.
    """

    def match(self, signal: Signal, graph: GraphView) -> Sequence[Match]: ...


class Review(Protocol):
    """A pair scored between the review and match thresholds: kept, never merged."""

    record_id: str
    other_record_id: str

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
