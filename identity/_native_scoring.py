"""Scoring record pairs in Python: the model's comparison levels evaluated without SQL.

``PairScorer``'s SQL path costs DuckDB a re-bind of Splink's large statement on
every call (10-50 ms) plus ≈25-30 µs per pair. ``NativeScorer`` evaluates the
same comparison levels directly: it reads each level's ``sql_condition`` from
the Splink settings, recognises it among the few shapes the model uses (null,
exact, Jaro-Winkler, (Damerau-)Levenshtein, date difference, email username, equal
substrings, and AND/OR combinations of these, see ``_native_levels``), and
refuses any other shape (``UnsupportedModel``), so a model it cannot mirror
keeps the SQL path. Exactness, rule by rule:

- Jaro-Winkler and (Damerau-)Levenshtein come from ``rapidfuzz``, on UTF-8 bytes when a
  value is not ASCII, because DuckDB's functions work on bytes; two empty
  strings have Jaro-Winkler 0, as in DuckDB. A similarity
  within 1e-9 of a threshold is decided by DuckDB itself (cached), so a
  last-bit difference between the two libraries can never change a level.
- Substrings are taken by character, as DuckDB's ``substr`` does.
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
    Atom,
    Column,
    Condition,
    UnsupportedModel,
    damerau_levenshtein,
    levenshtein,
    parse_level,
    text,
)

__all__ = ["NativeScorer", "UnsupportedModel"]

PairScore = tuple[str, str, float, float, dict[str, float]]


class _Pairs:
    """One comparison's view of a batch: its columns (made on first use) and the open pairs."""

    def __init__(self, lhs: np.ndarray, rhs: np.ndarray) -> None:
        self.lhs, self.rhs = lhs, rhs
        self.open = np.ones(len(lhs), bool)  # pairs no level has taken yet
        self._columns: dict[tuple[int, int], Column] = {}

    def column(self, left: int, right: int) -> Column:
        """The pairs' values: ``left`` column of the left rows, ``right`` of the right ones."""
        found = self._columns.get((left, right))
        if found is None:
            found = Column(self.lhs[:, left], self.rhs[:, right], self.open)
            self._columns[left, right] = found
        return found


Level = Callable[[_Pairs], np.ndarray]

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
        self._fields = list(fields)
        self._comparisons: list[list[tuple[Level, int]]] = []
        for comparison in settings.comparisons:
            levels = []
            for level in comparison.comparison_levels:
                try:
                    test = self._compile(parse_level(level.sql_condition))
                except UnsupportedModel as exc:
                    name = comparison.output_column_name
                    raise UnsupportedModel(f"comparison {name}: {exc}") from exc
                levels.append((test, level.comparison_vector_value))
            self._comparisons.append(levels)
        self.prior, weights = self._literal_weights(predict_sqls)
        for levels, w, name in zip(self._comparisons, weights, self.names, strict=True):
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

    def _compile(self, condition: Condition) -> Level:
        """A vectorised predicate over a ``_Pairs`` view, NULL counting as false."""
        if isinstance(condition, Atom):
            if condition.kind == "else":
                return lambda pairs: np.ones(len(pairs.open), bool)
            cross = condition.kind == "cross_exact"
            names = [condition.column, condition.args[0] if cross else condition.column]
            if unknown := [n for n in names if n not in self._fields]:
                raise UnsupportedModel(
                    f"column {unknown[0]!r} is not one of {self._fields}; "
                    "score it with the SQL engine"
                )
            left, right = (self._fields.index(n) for n in names if n is not None)
            atom = self._atom("exact" if cross else condition.kind, condition.args)
            return lambda pairs: atom(pairs.column(left, right))
        op, children = condition
        tests = [self._compile(c) for c in children]
        combine = np.logical_and if op == "and" else np.logical_or
        return lambda pairs: combine.reduce([t(pairs) for t in tests])

    def _atom(self, kind: str, args: tuple[str, ...]) -> Callable[[Column], np.ndarray]:
        """One atom's predicate on its column."""
        if kind == "null":
            return lambda col: ~col.both
        if kind == "null_date":

            def date_null(col: Column) -> np.ndarray:
                x, y = col.epochs(self._epochs)
                null: np.ndarray = np.isnan(x) | np.isnan(y)
                return null

            return date_null
        if kind == "exact":
            return lambda col: col.equal
        if kind == "user_exact":
            return lambda col: col.users().equal
        if kind == "substr_eq":
            a, b, c, d = map(int, args)
            return lambda col: col.substr_equal(a, b, c, d)
        (threshold,) = args
        if kind == "date_diff":
            limit = float(threshold)

            def date_diff(col: Column) -> np.ndarray:
                x, y = col.epochs(self._epochs)
                with np.errstate(invalid="ignore"):
                    within: np.ndarray = np.abs(x - y) <= limit
                return within

            return date_diff
        if kind in ("lev", "dl"):
            k, scorer = int(threshold), levenshtein if kind == "lev" else damerau_levenshtein
            return lambda col: col.both & (col.measure(kind, scorer) <= k)
        t = float(threshold)
        self._jw_thresholds.append(t)
        user = kind == "user_jw"

        def jw(col: Column) -> np.ndarray:
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
        if "" in left:
            for i, value in enumerate(left):
                if value == "" and right[i] == "":
                    sims[i] = 0.0  # DuckDB: two empty strings are not similar (rapidfuzz: 1.0)
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
        for j in near:
            sims[j] = cache[left[j], right[j]]
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
        for j, levels in enumerate(self._comparisons):
            pairs = _Pairs(lhs, rhs)
            gamma = out[:, j]
            for test, value in levels:
                hit = test(pairs) & pairs.open
                gamma[hit] = value
                pairs.open &= ~hit
                if not pairs.open.any():
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
        for i in np.flatnonzero(rough >= min_probability - 1e-9).tolist():
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
