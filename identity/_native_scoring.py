"""Scoring record pairs in Python: the model's comparison levels evaluated without SQL.

``PairScorer``'s SQL path costs DuckDB a re-bind of Splink's large statement on
every call (10-50 ms) plus ≈25-30 µs per pair. ``NativeScorer`` evaluates the
same comparison levels directly: it reads each level's ``sql_condition`` from
the Splink settings, recognises it among the few shapes the model uses (null,
exact, Jaro-Winkler, Levenshtein, date difference, email username), and refuses
any other shape (``UnsupportedModel``), so a model it cannot mirror keeps the
SQL path. Exactness, rule by rule:

- Jaro-Winkler and Levenshtein come from ``rapidfuzz``, on UTF-8 bytes when a
  value is not ASCII, because DuckDB's functions work on bytes. A similarity
  within 1e-9 of a threshold is decided by DuckDB itself (cached), so a
  last-bit difference between the two libraries can never change a level.
- Dates: ``try_strptime``'s parse is DuckDB's own (it accepts ``1980-5-17`` and
  year 0, Python does not), asked once per distinct string and cached.
- Weights and the prior are the literals of Splink's SQL, converted by DuckDB,
  summed in the SQL's order; the probability repeats the SQL's ``CASE``.

The equivalence is tested pair by pair against the SQL path
(``tests/unit/identity/test_splink_native.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from math import nan
from typing import Any

import duckdb
import numpy as np
from rapidfuzz.distance import JaroWinkler
from rapidfuzz.process import cpdist

from signalfold.identity._native_levels import (
    Column,
    UnsupportedModel,
    levenshtein,
    parse_level,
    text,
)

__all__ = ["NativeScorer", "UnsupportedModel"]

PairScore = tuple[str, str, float, float, dict[str, float]]
Level = Callable[[Column, Any], np.ndarray]

_NEAR = 1e-9  # Jaro-Winkler values this close to a threshold are decided by DuckDB


class NativeScorer:
    """The compiled model's levels and weights, evaluated per pair in Python."""

    def __init__(self, settings: Any, predict_sqls: Sequence[str], fields: Sequence[str],
                 con: duckdb.DuckDBPyConnection) -> None:  # fmt: skip
        self.con = con
        self._dates: dict[str, float | None] = {}
        self._jw_thresholds: list[float] = []
        self._duck_jw: dict[tuple[Any, Any], float] = {}
        self.names = [c.output_column_name for c in settings.comparisons]
        self._comparisons: list[tuple[int, list[tuple[Level, int]]]] = []
        for comparison in settings.comparisons:
            levels: list[tuple[Level, int]] = []
            column = None
            for level in comparison.comparison_levels:
                kind, col, threshold = parse_level(level.sql_condition)
                if col is not None and column not in (None, col):
                    raise UnsupportedModel(
                        f"comparison {comparison.output_column_name}: expected one input "
                        f"column, found {column} and {col}; score it with the SQL engine"
                    )
                column = col or column
                levels.append((self._level(kind, threshold), level.comparison_vector_value))
            if column not in fields:
                raise UnsupportedModel(
                    f"comparison {comparison.output_column_name}: column {column!r} is not "
                    f"one of {list(fields)}; score it with the SQL engine"
                )
            position = list(fields).index(column)
            self._comparisons.append((position, levels))
        self.prior, weights = self._literal_weights(predict_sqls)
        for (_, levels), w, name in zip(self._comparisons, weights, self.names, strict=True):
            if missing := {g for _, g in levels} - set(w):
                raise UnsupportedModel(
                    f"comparison {name}: expected a weight for every level, found none for "
                    f"{sorted(missing)}; score this model with the SQL engine"
                )
        # gamma g's weight at index g + 1 (gamma -1 is the null level)
        self._tables = [np.array([w.get(g, nan) for g in range(-1, max(w) + 1)]) for w in weights]

    def _literal_weights(self, sqls: Sequence[str]) -> tuple[float, list[dict[int, float]]]:
        """Prior and per-level weights exactly as DuckDB reads Splink's SQL literals."""
        parts, predict = sqls
        literals: list[str] = []
        per: list[dict[int, int]] = []
        for name in self.names:
            found = re.findall(
                rf"WHEN gamma_{name} = (-?\d+) THEN\s+cast\(([^ ]+) as float8\)", parts
            )
            per.append({int(g): len(literals) + i for i, (g, _) in enumerate(found)})
            literals += [lit for _, lit in found]
        chain = r"cast\(([^ ]+) as float8\)" + "".join(rf" \+ mw_{n}" for n in self.names)
        prior = re.search(chain + " as match_weight", predict)
        if prior is None or "tf_" in predict:
            raise UnsupportedModel(
                "Splink predict SQL: expected `prior + mw_...` without term frequencies, "
                "found another form; score this model with the SQL engine"
            )
        literals.append(prior.group(1))
        (values,) = self.con.execute(
            "select " + ", ".join(f"cast({lit} as float8)" for lit in literals)
        ).fetchall()
        return values[-1], [{g: values[i] for g, i in m.items()} for m in per]

    def _level(self, kind: str, threshold: str | None) -> Level:
        """A vectorised predicate (column, memo) -> bool array, NULL counting as false."""
        if kind == "null":
            return lambda col, m: ~col.both
        if kind == "null_date":

            def date_null(col: Column, m: Any) -> np.ndarray:
                x, y = col.epochs(self._epochs)
                return np.isnan(x) | np.isnan(y)

            return date_null
        if kind == "exact":
            return lambda col, m: col.equal
        if kind == "else":
            return lambda col, m: np.ones(len(col.both), bool)
        if kind == "user_exact":
            return lambda col, m: col.users().equal
        assert threshold is not None
        if kind == "date_diff":
            limit = float(threshold)

            def date_diff(col: Column, m: Any) -> np.ndarray:
                x, y = col.epochs(self._epochs)
                with np.errstate(invalid="ignore"):
                    return np.abs(x - y) <= limit

            return date_diff
        if kind == "lev":
            k = int(threshold)
            return lambda col, m: col.measure("lev", levenshtein) <= k
        t = float(threshold)
        self._jw_thresholds.append(t)
        user = kind == "user_jw"

        def jw(col: Column, m: Any) -> np.ndarray:
            target = col.users() if user else col
            return target.both & (target.measure("jw", self._jaro_winkler) >= t)

        return jw

    def _jaro_winkler(self, left: list[Any], right: list[Any]) -> np.ndarray:
        """rapidfuzz's Jaro-Winkler, with DuckDB's own value wherever it could matter.

        rapidfuzz and DuckDB differ in the last bit for ≈1 pair in 2,000 (FEBRL
        names); a similarity within 1e-9 of any of the model's thresholds is
        therefore replaced by DuckDB's, asked in one query per column and cached.
        """
        sims = cpdist(left, right, scorer=JaroWinkler.similarity, dtype=np.float64, workers=1)
        thresholds = np.array(self._jw_thresholds)
        near = np.flatnonzero((np.abs(sims[:, None] - thresholds[None, :]) <= _NEAR).any(axis=1))
        if not len(near):
            return sims
        cache = self._duck_jw
        ask = list({(left[i], right[i]) for i in near} - cache.keys())
        if ask:
            if len(cache) > 100_000:
                cache.clear()
            found = self.con.execute(
                "select l, r, jaro_winkler_similarity(l, r) from (select "
                "unnest($1::varchar[]) l, unnest($2::varchar[]) r)",
                [[text(a) for a, _ in ask], [text(b) for _, b in ask]],
            ).fetchall()
            for (a, b), (_, _, value) in zip(ask, found, strict=True):
                cache[a, b] = value
        for i in near:
            sims[i] = cache[left[i], right[i]]
        return sims

    def _parse_dates(self, values: Any) -> None:
        """Ask DuckDB once for every date string not seen yet."""
        dates = self._dates
        missing = [v for v in set(values) if v is not None and v not in dates]
        if not missing:
            return
        if len(dates) > 1_000_000:
            dates.clear()
        found = self.con.execute(
            "select s, epoch(try_strptime(s, '%Y-%m-%d')) from unnest(?::varchar[]) t(s)",
            [missing],
        ).fetchall()
        dates.update(found)

    def _epochs(self, values: list[Any]) -> np.ndarray:
        """DuckDB's ``EPOCH(try_strptime(v, '%Y-%m-%d'))`` per value, NaN when NULL."""
        self._parse_dates(values)
        dates = self._dates
        return np.array([nan if v is None or dates[v] is None else dates[v] for v in values])

    def levels(self, left: Sequence[Sequence[Any]], right: Sequence[Sequence[Any]]) -> np.ndarray:
        """Comparison vectors: one row per pair, one gamma per comparison (Splink's order).

        Levels are tried in order, each only on the pairs no earlier level took, as
        the SQL ``CASE`` does; a measure (Jaro-Winkler, ...) is computed once per
        column, on the pairs still open when a level first needs it.
        """
        n = len(left)
        if not n:
            return np.empty((0, len(self._comparisons)), np.int64)
        lhs, rhs = np.empty((n, len(left[0])), object), np.empty((n, len(right[0])), object)
        lhs[:], rhs[:] = left, right
        out = np.empty((n, len(self._comparisons)), np.int64)
        for j, (position, levels) in enumerate(self._comparisons):
            col = Column(lhs[:, position], rhs[:, position])
            gamma = out[:, j]
            for test, value in levels:
                hit = test(col, col.open) & col.open
                gamma[hit] = value
                col.open &= ~hit
                if not col.open.any():
                    break
        return out

    def score(self, left: Sequence[Sequence[Any]], right: Sequence[Sequence[Any]], *,
              min_probability: float = 0.0) -> list[PairScore]:  # fmt: skip
        """Same contract as ``PairScorer.score``: pair i = (left[i], right[i])."""
        if not left:
            return []
        gammas = self.levels(left, right)
        parts = [table[g + 1] for table, g in zip(self._tables, gammas.T, strict=True)]
        total = np.full(len(left), self.prior)
        for part in parts:
            total = total + part  # the SQL's left-to-right sum, IEEE double like DuckDB
        # numpy's pow may differ from libm's in the last bit: filter with a margin,
        # then decide each surviving pair with the scalar formula the SQL uses.
        with np.errstate(over="ignore"):
            rough = 1.0 / (1.0 + np.exp2(-total))
        out: list[PairScore] = []
        names, stacked = self.names, None
        for i in np.flatnonzero(rough >= min_probability - 1e-9):
            w = float(total[i])
            if w >= 0:
                probability = 1.0 / (1.0 + 2.0 ** (-w))
            else:
                power = 2.0**w
                probability = power / (1.0 + power)
            if probability >= min_probability:
                if stacked is None:
                    stacked = np.column_stack(parts)
                contributions = dict(zip(names, stacked[i].tolist(), strict=True))
                out.append((left[i][0], right[i][0], w, probability, contributions))
        return out
