"""Incremental Splink matching: candidates from in-memory blocking indexes, scored in micro-batches.

``IncrementalLinker`` keeps every record it has seen as a row, and for each
blocking rule a dict from blocking key to row numbers. Scoring a micro-batch:
each new row in turn takes as candidates the rows sharing any blocking key
(``predict_between`` new x existing, and — because earlier rows of the batch are
indexed before later ones are looked up — ``predict_within`` the batch), then
all candidate pairs are scored in one call. ``engine="native"`` (the default)
evaluates the model's comparison levels in Python/NumPy (``NativeScorer``: no
SQL bind per call, same levels and bit-identical weights as the SQL);
``"compiled"`` runs Splink's own post-blocking SQL on one long-lived DuckDB
connection; ``"stock"`` calls ``predict_between``/``predict_within`` (reference).
A pair at or above ``match_probability`` is a link; between
``review_probability`` and the match threshold it is a possible match, kept for
review and never merged. Thresholds are inclusive, as in Splink's clustering.

Linking every such pair and taking connected components gives exactly the
clusters Splink's batch ``predict`` + ``cluster_pairwise_predictions_at_threshold``
give at the same threshold: the index finds exactly the pairs the (equality)
blocking rules find, and the scores equal the SQL's. The one deliberate
exception is ``max_block`` (off by default): a blocking key already held by more
than ``max_block`` stored records stops proposing candidates (a "generic" key,
like a very common name + postcode); pairs that shared only such keys are not
scored; ``BatchScore.skipped`` bounds how many (counting it exactly would cost
as much as scoring them).

``SplinkMatcher`` is the graph's ``Matcher``: ``prepare(signals)`` scores a
micro-batch once; ``match(signal, graph)`` then answers from it (or scores the
signal alone when it was not prepared), naming the customer that now holds each
linked record. The rows live in memory only; after a restart the resolve stage
must feed the stored records back (``IncrementalLinker.add``) before matching.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Protocol

import duckdb

from signalfold.errors import ConfigError
from signalfold.identity._splink_scoring import FIELDS, PairScorer
from signalfold.identity.matching import GraphView, Match
from signalfold.identity.splink_model import (
    BLOCKING_COLUMNS,
    SWAPPED_NAMES_RULE,
    Row,
    load_model,
    row_from_signal,
)
from signalfold.schemas.identity import LinkEvidence
from signalfold.schemas.signal import Signal

__all__ = [
    "ENGINES",
    "FIELDS",
    "BatchScore",
    "IncrementalLinker",
    "PairScorer",
    "RecordGraph",
    "ScoredPair",
    "SplinkMatcher",
]

RowTuple = tuple[str | None, ...]
# A key's row numbers: a bare int while only one row holds it (most keys), else a
# list. Ints are not tracked by the garbage collector, so a full collection over
# a 100,000-record store walks ≈0.1M lists instead of ≈1M (pauses of ≈250 ms).
Bucket = int | list[int]
ENGINES = ("native", "compiled", "stock")


@dataclass(frozen=True)
class ScoredPair:
    """A scored pair: ``record_id`` (the newer record) against ``other_record_id``."""

    record_id: str
    other_record_id: str
    match_weight: float
    match_probability: float
    contributions: dict[str, float]

    def evidence(self, prior_weight: float) -> LinkEvidence:
        """``rule="splink"``; ``detail`` holds each comparison's weight, the prior and p."""
        detail = {**self.contributions, "prior": prior_weight}
        detail["match_probability"] = self.match_probability
        return LinkEvidence(
            rule="splink",
            identifier_type="record",
            identifier_value=self.other_record_id,
            match_weight=self.match_weight,
            detail=detail,
        )


@dataclass(frozen=True)
class BatchScore:
    """One micro-batch: its links, its possible matches, how many pairs were scored or skipped."""

    links: tuple[ScoredPair, ...]
    reviews: tuple[ScoredPair, ...]
    candidates: int
    new_records: int
    # Pairs not proposed through keys over ``max_block``: an upper bound on the pairs
    # dropped (a pair counts once per such key, even if another key proposed it).
    skipped: int = 0


class IncrementalLinker:
    """The record store, blocking indexes and scorer behind incremental matching."""

    def __init__(
        self,
        model: dict[str, Any] | None = None,
        *,
        con: duckdb.DuckDBPyConnection | None = None,
        match_probability: float = 0.99,
        review_probability: float = 0.5,
        engine: str = "native",
        max_block: int | None = None,
    ) -> None:
        if not 0.0 < review_probability <= match_probability <= 1.0:
            raise ConfigError(
                f"Splink thresholds: expected 0 < review ({review_probability}) <= match "
                f"({match_probability}) <= 1; set SIGNALFOLD thresholds accordingly"
            )
        if engine not in ENGINES:
            raise ConfigError(f"Splink engine: expected one of {ENGINES}, found {engine!r}")
        self.scorer = PairScorer(model or load_model(), con)
        self.match_probability = match_probability
        self.review_probability = review_probability
        # "native" needs a model whose levels NativeScorer mirrors; else the SQL path.
        self.engine = "compiled" if engine == "native" and not self.scorer.native else engine
        self.max_block = max_block
        self._rows: list[RowTuple] = []
        self._ids: dict[str | None, int] = {}  # keyed by a row's first field, its record id
        rules = [[FIELDS.index(c) for c in rule] for rule in BLOCKING_COLUMNS]
        self._getters = [itemgetter(*positions) for positions in rules]
        self._index: list[dict[Any, Bucket]] = [{} for _ in rules]
        # The names rule's index, probed with the row's names the other way round.
        names = BLOCKING_COLUMNS.index(SWAPPED_NAMES_RULE)
        swap = itemgetter(*(FIELDS.index(c) for c in reversed(SWAPPED_NAMES_RULE)))
        self._swapped = (self._index[names], swap)

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, record_id: object) -> bool:
        return record_id in self._ids

    def _keys(self, row: RowTuple) -> list[tuple[dict[Any, Bucket], Any]]:
        """(index, key) for each blocking rule whose columns are all non-null in ``row``."""
        found = []
        for index, getter in zip(self._index, self._getters, strict=True):
            key = getter(row)
            if key is not None and (type(key) is not tuple or None not in key):
                found.append((index, key))
        return found

    def _insert(self, row: RowTuple, keys: list[tuple[dict[Any, Bucket], Any]]) -> None:
        number = len(self._rows)
        self._rows.append(row)
        self._ids[row[0]] = number
        for index, key in keys:
            bucket = index.get(key)
            if bucket is None:
                index[key] = number
            elif isinstance(bucket, int):
                index[key] = [bucket, number]
            else:
                bucket.append(number)

    def add(self, rows: Iterable[Row]) -> int:
        """Store rows without scoring them (a rebuild); returns how many were new."""
        before = len(self._rows)
        for row in rows:
            if row["unique_id"] not in self._ids:
                values = tuple(map(row.get, FIELDS))
                self._insert(values, self._keys(values))
        return len(self._rows) - before

    def forget(self, record_ids: Iterable[str]) -> None:
        """Remove records' rows (an erasure): no longer candidates, their values gone."""
        blank = (None,) * len(FIELDS)
        for record_id in record_ids:
            number = self._ids.pop(record_id, None)
            if number is None:
                continue
            for index, key in self._keys(self._rows[number]):
                bucket = index.get(key)
                if bucket == number:
                    del index[key]
                elif isinstance(bucket, list):
                    bucket.remove(number)
                    if len(bucket) == 1:
                        index[key] = bucket[0]
            self._rows[number] = blank

    def score(self, rows: Sequence[Row]) -> BatchScore:
        """Score a micro-batch of new rows against everything stored, then store them.

        Rows whose ``unique_id`` is already stored (or repeated in the batch) are skipped.
        """
        left: list[RowTuple] = []
        right: list[RowTuple] = []
        new: list[RowTuple] = []
        cap, skipped = self.max_block, 0
        ids, stored = self._ids, self._rows
        rules = list(zip(self._index, self._getters, strict=True))
        for raw in rows:
            if raw["unique_id"] in ids:
                continue
            row = tuple(map(raw.get, FIELDS))
            new.append(row)
            number = len(stored)
            candidates: set[int] = set()
            # One pass per rule: look the key up (earlier rows only), then index this row.
            for index, getter in rules:
                key = getter(row)
                if key is None or (type(key) is tuple and None in key):
                    continue
                bucket = index.get(key)
                if bucket is None:
                    index[key] = number
                    continue
                if isinstance(bucket, int):
                    if cap is not None and cap < 1:
                        skipped += 1
                    else:
                        candidates.add(bucket)
                    index[key] = [bucket, number]
                    continue
                if cap is not None and len(bucket) > cap:
                    skipped += len(bucket)  # an upper bound: see BatchScore.skipped
                else:
                    candidates.update(bucket)
                bucket.append(number)
            index, swap = self._swapped
            key = swap(row)
            if None not in key and (bucket := index.get(key)) is not None:
                found = [bucket] if isinstance(bucket, int) else bucket
                if cap is not None and len(found) > cap:
                    skipped += len(found)
                else:
                    candidates.update(n for n in found if n != number)
            stored.append(row)
            ids[row[0]] = number
            left.extend([row] * len(candidates))
            right.extend([stored[c] for c in sorted(candidates)])
        if self.engine == "stock":
            # Reference path: Splink's own blocking over the batch and its candidates.
            existing = {r[0]: r for r in right if r[0] not in {n[0] for n in new}}
            scored = self.scorer.stock_predict(
                new, list(existing.values()), min_probability=self.review_probability
            )
            scored = [s if s[0] in {n[0] for n in new} else (s[1], s[0], *s[2:]) for s in scored]
        elif self.engine == "native":
            assert self.scorer.native is not None
            scored = self.scorer.native.score(left, right, min_probability=self.review_probability)
        else:
            scored = self.scorer.score(left, right, min_probability=self.review_probability)
        links: list[ScoredPair] = []
        reviews: list[ScoredPair] = []
        for rid, other, weight, probability, parts in scored:
            pair = ScoredPair(rid, other, weight, probability, parts)
            (links if probability >= self.match_probability else reviews).append(pair)
        return BatchScore(tuple(links), tuple(reviews), len(left), len(new), skipped)


class RecordGraph(GraphView, Protocol):
    """What the matcher needs of the graph: ``IdentityGraph`` provides it."""

    def customer_of_record(self, record_id: str) -> str | None: ...


@dataclass
class SplinkMatcher:
    """The graph's probabilistic ``Matcher``, batch-shaped through ``prepare``."""

    linker: IncrementalLinker
    region: str = "GB"
    #: Keys (``type:value``) that are no evidence of one person: placeholders, role mailboxes.
    ignored: Callable[[str], bool] | None = None
    _links: dict[str, list[ScoredPair]] = field(default_factory=lambda: defaultdict(list))
    reviews: list[ScoredPair] = field(default_factory=list)

    def prepare(self, signals: Sequence[Signal]) -> BatchScore:
        """Score the records of a micro-batch in one go, before the graph resolves them."""
        self._links.clear()
        batch = self.linker.score([self.row(s) for s in signals])
        for pair in batch.links:
            self._links[pair.record_id].append(pair)
        self.reviews.extend(batch.reviews)
        return batch

    def forget(self, records: Iterable[str]) -> None:
        self.linker.forget(records)
        for record in records:
            self._links.pop(record, None)

    def row(self, signal: Signal, region: str | None = None) -> Row:
        """``signal``'s model row, without the keys no one person owns."""
        return row_from_signal(signal, region=region or self.region, ignored=self.ignored)

    @property
    def prior_weight(self) -> float:
        """The model's prior match weight, part of every pair's evidence."""
        return float(self.linker.scorer.prior_weight)

    def take_reviews(self) -> list[ScoredPair]:
        """Possible matches found since the last call (to publish for review)."""
        found, self.reviews = self.reviews, []
        return found

    def match(self, signal: Signal, graph: GraphView) -> Sequence[Match]:
        """Customers now holding the records ``signal``'s record links to, with evidence."""
        rid = signal.record_id
        if rid not in self.linker:
            self.prepare([signal])
        pairs = self._links.pop(rid, [])
        owner = getattr(graph, "customer_of_record", None)
        matches = []
        for pair in sorted(pairs, key=lambda p: (-p.match_weight, p.other_record_id)):
            customer = owner(pair.other_record_id) if owner else None
            if customer is not None:
                prior = self.linker.scorer.prior_weight
                matches.append(Match(customer, pair.evidence(prior)))
        return matches
