"""Scoring explicit record pairs with a trained Splink model, on one long-lived DuckDB connection.

Splink's real-time calls (``predict_between``, ``predict_within``) rebuild
their SQL, register tables and deep-copy the settings on every call: about
150-250 ms whatever the batch size. The stream cannot pay that per record, so
``PairScorer`` asks Splink once, at start-up, for the SQL its own ``predict``
runs after blocking (comparison vectors, then match weights and probability)
and keeps it. Each call then registers two Arrow tables (left and right rows,
aligned by pair number) under fixed names and runs that SQL: the same
arithmetic as Splink's ``predict``, without the per-call overhead. The SQL
comes from Splink internals pinned by ``splink>=5,<6``; the equivalence test in
``tests/integration/test_probabilistic_equivalence.py`` breaks if it drifts.

``stock_predict`` is the same batch through the public ``predict_between`` +
``predict_within``, kept as the reference and for the benchmark.

``native`` is a ``NativeScorer`` compiled from the same settings and SQL (None
when the model has a level shape it does not mirror): the linker's default,
because it pays neither the per-call re-bind of the prepared statement (10-50
ms) nor DuckDB's per-pair cost. ``score_sql`` also returns each pair's
comparison vector, so tests can check the native levels against the SQL's.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from math import log2
from typing import Any

import duckdb
import pyarrow as pa

from signalfold.identity._native_scoring import NativeScorer, UnsupportedModel
from signalfold.identity.splink_model import COLUMNS

__all__ = ["FIELDS", "PairScore", "PairScorer"]

FIELDS: tuple[str, ...] = ("unique_id", *COLUMNS)

# (left id, right id, match weight, match probability, {comparison: match weight})
PairScore = tuple[str, str, float, float, dict[str, float]]

_names = itertools.count()


def _table(rows: Sequence[Sequence[str | None]], pair: bool) -> pa.Table:
    columns: dict[str, Any] = {}
    if pair:
        columns["__pair"] = pa.array(range(len(rows)), pa.int64())
    for i, name in enumerate(FIELDS):
        columns[name] = pa.array([r[i] for r in rows], pa.string())
    return pa.table(columns)


class PairScorer:
    """Scores (left, right) row pairs with the model's own SQL; one instance per connection.

    Rows are tuples in ``FIELDS`` order. Not thread-safe: one resolve thread owns it.
    """

    def __init__(self, model: dict[str, Any], con: duckdb.DuckDBPyConnection | None = None):
        from splink import DuckDBAPI, Linker
        from splink.internals.predict import predict_from_comparison_vectors_sqls_using_settings

        self.con = con or duckdb.connect()
        self.con.execute("SET enable_progress_bar = false")  # it writes to stdout
        self.db_api = DuckDBAPI(self.con)
        empty = self.db_api.register(_table([], pair=False), table_name="sf_model_input")
        self.linker = Linker(empty, model, log_level=None)
        settings = self.linker._settings_obj
        self.comparisons = [c.output_column_name for c in settings.comparisons]
        prior = settings._probability_two_random_records_match
        self.prior_weight = log2(prior / (1 - prior))
        blocked = ", ".join(settings._columns_to_select_for_blocking)
        vectors = ", ".join(settings._columns_to_select_for_comparison_vector_values)
        ctes = [
            (
                "__splink__compare_two_records_blocked",
                f"select {blocked}, 0 as match_key from sf_left as l "
                "join sf_right as r on l.__pair = r.__pair",
            ),
            (
                "__splink__df_comparison_vectors",
                f"select {vectors} from __splink__compare_two_records_blocked",
            ),
        ]
        predict = predict_from_comparison_vectors_sqls_using_settings(settings)
        ctes += [(d["output_table_name"], d["sql"]) for d in predict]
        weights = ", ".join(f"mw_{c}" for c in self.comparisons)
        gammas = ", ".join(f"gamma_{c}" for c in self.comparisons)
        sql = (
            "with "
            + ",\n".join(f"{name} as ({sql})" for name, sql in ctes)
            + "\nselect unique_id_l, unique_id_r, match_weight, match_probability, "
            + weights
            + ", "
            + gammas
            + " from __splink__df_predict"
        )
        try:
            self.native: NativeScorer | None = NativeScorer(
                settings, [d["sql"] for d in predict], FIELDS, self.con
            )
        except UnsupportedModel:
            self.native = None  # the SQL path scores this model
        # Pairs go through two persistent temp tables and one prepared statement
        # (no parameters: a parameter forces a full re-plan on every EXECUTE). DuckDB
        # still re-binds it per call, ≈10-20 ms: the fixed cost of a micro-batch.
        columns = ", ".join(["__pair bigint", *(f'"{f}" varchar' for f in FIELDS)])
        for side in ("sf_left", "sf_right"):
            self.con.execute(f"create or replace temp table {side} ({columns})")
        self.con.execute(f"prepare sf_score as {sql}")

    def score(
        self,
        left: Sequence[Sequence[str | None]],
        right: Sequence[Sequence[str | None]],
        *,
        min_probability: float = 0.0,
    ) -> list[PairScore]:
        """Scores pair i = (left[i], right[i]); keeps those at or above ``min_probability``."""
        return [s[:5] for s in self.score_sql(left, right, min_probability=min_probability)]

    def score_sql(
        self,
        left: Sequence[Sequence[str | None]],
        right: Sequence[Sequence[str | None]],
        *,
        min_probability: float = 0.0,
    ) -> list[tuple[Any, ...]]:
        """``score`` through the SQL, each pair also carrying its comparison vector (gammas)."""
        if not left:
            return []
        con = self.con
        try:
            # Relations, not registered views, so the catalog stays put between calls.
            con.from_arrow(_table(left, pair=True)).insert_into("sf_left")
            con.from_arrow(_table(right, pair=True)).insert_into("sf_right")
            out = con.execute("execute sf_score").fetchall()
        finally:
            con.execute("delete from sf_left; delete from sf_right")
        names, n = self.comparisons, len(self.comparisons)
        return [
            (
                r[0],
                r[1],
                float(r[2]),
                float(r[3]),
                dict(zip(names, map(float, r[4 : 4 + n]), strict=True)),
                r[4 + n :],
            )
            for r in out
            if r[3] >= min_probability
        ]

    def stock_predict(
        self,
        new: Sequence[Sequence[str | None]],
        existing: Sequence[Sequence[str | None]],
        *,
        min_probability: float = 0.0,
    ) -> list[PairScore]:
        """Splink's public ``predict_between`` (new x existing) plus ``predict_within`` (new).

        Registered table names cannot be reused, so each call registers fresh ones
        and drops them afterwards.
        """
        if not new:
            return []
        n = next(_names)
        threshold = min_probability or None
        inference = self.linker.inference
        new_df = self.db_api.register(_table(new, pair=False), table_name=f"sf_new_{n}")
        results = [
            inference.predict_within(
                new_df, threshold_match_probability=threshold, warning_mode="never"
            )
        ]
        if existing:
            old_df = self.db_api.register(_table(existing, pair=False), table_name=f"sf_old_{n}")
            results.append(
                inference.predict_between(
                    new_df, old_df, threshold_match_probability=threshold, warning_mode="never"
                )
            )
        names = self.comparisons
        cols = ["unique_id_l", "unique_id_r", "match_weight", "match_probability"]
        scored: list[PairScore] = []
        for result in results:
            table = (
                result.as_duckdbpyrelation()
                .select(", ".join(cols + [f"mw_{c}" for c in names]))
                .fetchall()
            )
            scored.extend(
                (
                    r[0],
                    r[1],
                    float(r[2]),
                    float(r[3]),
                    dict(zip(names, map(float, r[4:]), strict=True)),
                )
                for r in table
            )
            result.drop_table_from_database_and_remove_from_cache()
        for name in (f"sf_new_{n}", f"sf_old_{n}"):
            self.con.unregister(name)
        return scored
