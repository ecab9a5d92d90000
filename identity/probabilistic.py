"""Wiring of the Splink matcher into the graph and the resolve stage.

- ``build_matcher``: one long-lived ``SplinkMatcher`` over the shipped (or a
  configured) model, built once per owner of the identity graph;
- ``possible_match_changes``: pairs scored between the review and match
  thresholds become ``possible_match`` identity changes — the best three per
  new record that are not settled, published for review and explanations,
  never merged and never part of the graph's replayed log;
- ``restore_rows``: after a restart the matcher's record store is refilled
  from the records' first signals (re-read from ``signals.canonical``), since
  identity changes carry no traits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from signalfold.identity.matching import BatchMatcher, Matcher, Review
from signalfold.schemas.identity import IdentityChange
from signalfold.schemas.signal import Signal

if TYPE_CHECKING:
    from signalfold.identity.graph import IdentityGraph
    from signalfold.identity.rules import MatchRules

__all__ = [
    "MAX_REVIEWS_PER_RECORD",
    "best_reviews",
    "build_matcher",
    "possible_match_changes",
    "restore_rows",
    "take_possible_matches",
]


def build_matcher(
    *,
    model_path: Path | None,
    match_probability: float,
    review_probability: float,
    region: str,
    max_block: int | None = None,
    rules: MatchRules | None = None,
) -> BatchMatcher:
    """A ``SplinkMatcher`` with its in-memory indexes and one DuckDB connection.

    ``max_block`` caps how many stored records one blocking key may propose
    (``IncrementalLinker``): a key every record shares (a coarse phonetic code
    of a common name) would otherwise make each new record cost the whole store.
    ``rules``: their placeholders and role mailboxes are left out of model rows
    (two strangers typing ``07000 000000`` do not agree on a phone).
    """
    from signalfold.identity.matcher import IncrementalLinker, SplinkMatcher
    from signalfold.identity.splink_model import load_model

    model = load_model(model_path) if model_path else load_model()
    linker = IncrementalLinker(
        model,
        match_probability=match_probability,
        review_probability=review_probability,
        max_block=max_block,
    )
    ignored = None
    if rules is not None:
        found = rules

        def ignored(key: str) -> bool:
            return found.is_blocked(key) is not None or found.role_mailbox(key) is not None

    return SplinkMatcher(linker, region=region, ignored=ignored)


def possible_match_changes(
    reviews: Sequence[Review],
    *,
    customer_of_record: dict[str, str],
    signal_of_record: dict[str, str],
    prior_weight: float,
    at: datetime,
) -> list[IdentityChange]:
    """One ``possible_match`` change per reviewed pair, with its match evidence."""
    changes = []
    for pair in reviews:
        customer = customer_of_record.get(pair.record_id)
        if customer is None:
            continue
        digest = hashlib.sha256(
            f"possible\x1f{pair.record_id}\x1f{pair.other_record_id}".encode()
        ).hexdigest()
        changes.append(
            IdentityChange(
                change_id=f"chg_{digest[:24]}",
                kind="possible_match",
                customer_id=customer,
                record_id=pair.record_id,
                other_record_id=pair.other_record_id,
                evidence=(pair.evidence(prior_weight),),
                signal_id=signal_of_record.get(pair.record_id, ""),
                at=at,
            )
        )
    return changes


#: Possible matches published per new record: the best few, never all of them.
MAX_REVIEWS_PER_RECORD = 3


def best_reviews(
    reviews: Sequence[Review], same_customer: Callable[[str, str], bool]
) -> list[Review]:
    """At most ``MAX_REVIEWS_PER_RECORD`` pairs per record, highest weight first, leaving
    out pairs already settled (both records one customer now)."""
    by_record: dict[str, list[Review]] = {}
    for pair in reviews:
        if not same_customer(pair.record_id, pair.other_record_id):
            by_record.setdefault(pair.record_id, []).append(pair)
    kept: list[Review] = []
    for record in sorted(by_record):
        ranked = sorted(by_record[record], key=lambda p: (-_weight(p), p.other_record_id))
        kept += ranked[:MAX_REVIEWS_PER_RECORD]
    return kept


def _weight(pair: Review) -> float:
    return float(getattr(pair, "match_weight", 0.0))


def take_possible_matches(
    graph: IdentityGraph, signal_of_record: dict[str, str], *, at: datetime
) -> list[IdentityChange]:
    """The matcher's pending reviews as ``possible_match`` changes, applied to ``graph``.

    Customers are looked up now, at the end of the micro-batch, so a review names
    the customer that holds the record after every merge of the batch; only the
    best few per record that are not settled are kept (``best_reviews``).
    """
    matcher = graph.matcher
    take = getattr(matcher, "take_reviews", None)
    if take is None:
        return []

    def same(a: str, b: str) -> bool:
        return graph.customer_of_record(a) == graph.customer_of_record(b) is not None

    reviews = best_reviews(take(), same)
    held = {p.record_id: c for p in reviews if (c := graph.customer_of_record(p.record_id))}
    changes = possible_match_changes(
        reviews,
        customer_of_record=held,
        signal_of_record=signal_of_record,
        # A matcher with take_reviews is a BatchMatcher (probed above), which has it.
        prior_weight=matcher.prior_weight,  # type: ignore[attr-defined]
        at=at,
    )
    for change in changes:
        graph.apply(change)
    return changes


def restore_rows(matcher: Matcher, signals: Iterable[Signal], *, region: str) -> int:
    """Refill the matcher's record store with each record's first signal."""
    from signalfold.identity.matcher import SplinkMatcher

    if not isinstance(matcher, SplinkMatcher):
        return 0
    first: dict[str, Signal] = {}
    for signal in signals:
        first.setdefault(signal.record_id, signal)
    return matcher.linker.add(matcher.row(s, region) for s in first.values())
