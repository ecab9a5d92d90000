"""The comparison-level shapes ``NativeScorer`` mirrors, and a batch's column of pairs.

``parse_level`` recognises a level's ``sql_condition`` among the shapes Splink's
comparison library writes for this model (null, exact, Jaro-Winkler,
Levenshtein, Damerau-Levenshtein, date difference, email username, equal substrings) and their
``And``/``Or`` combinations (``(A) AND ((B) OR (C))``), returned as a tree of
``Atom``s; ``Column`` holds one compared column over a batch of pairs, with the
measures the levels need computed once.

Combinations need no three-valued logic: they never negate, and for AND/OR
alone "NULL counts as false" gives the same answer as SQL's ``CASE WHEN``
(which takes a level only when its condition is TRUE).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from rapidfuzz.distance import DamerauLevenshtein, Levenshtein
from rapidfuzz.process import cpdist

from signalfold.identity.errors import IdentityError

__all__ = [
    "Atom",
    "Column",
    "Condition",
    "UnsupportedModel",
    "damerau_levenshtein",
    "levenshtein",
    "parse_level",
    "text",
]

_USER = r"NULLIF\(regexp_extract\(\"(?P<c{n}>\w+)_{s}\", '\^\[\^@\]\+', 0\), ''\)"
_DATE = r"try_strptime\(\"(?P<c{n}>\w+)_{s}\", '%Y-%m-%d'\)"
_PATTERNS = {
    "null": r'"(?P<c1>\w+)_l" IS NULL OR "(?P<c2>\w+)_r" IS NULL',
    "null_date": f"{_DATE.format(n=1, s='l')} IS NULL OR {_DATE.format(n=2, s='r')} IS NULL",
    "exact": r'"(?P<c1>\w+)_l" = "(?P<c2>\w+)_r"',
    "jw": r'jaro_winkler_similarity\("(?P<c1>\w+)_l", "(?P<c2>\w+)_r"\) >= (?P<t>[0-9.]+)',
    "lev": r'levenshtein\("(?P<c1>\w+)_l", "(?P<c2>\w+)_r"\) <= (?P<t>[0-9]+)',
    "dl": r'damerau_levenshtein\("(?P<c1>\w+)_l", "(?P<c2>\w+)_r"\) <= (?P<t>[0-9]+)',
    "date_diff": rf"ABS\(EPOCH\({_DATE.format(n=1, s='l')}\) - "
    rf"EPOCH\({_DATE.format(n=2, s='r')}\)\) <= (?P<t>[0-9.]+)",
    "user_exact": f"{_USER.format(n=1, s='l')} = {_USER.format(n=2, s='r')}",
    "user_jw": rf"jaro_winkler_similarity\({_USER.format(n=1, s='l')}, "
    rf"{_USER.format(n=2, s='r')}\) >= (?P<t>[0-9.]+)",
    "substr_eq": r'substr\("(?P<c1>\w+)_l", (?P<a>[0-9]+), (?P<b>[0-9]+)\) = '
    r'substr\("(?P<c2>\w+)_r", (?P<c>[0-9]+), (?P<d>[0-9]+)\)',
    "else": r"ELSE",
}
_USERNAME = re.compile(r"[^@]+")


class UnsupportedModel(IdentityError):
    """A comparison level has a SQL shape the native scorer does not mirror."""


def levenshtein(left: list[Any], right: list[Any]) -> np.ndarray:
    """Levenshtein distance of each pair (rapidfuzz, in C)."""
    return cpdist(left, right, scorer=Levenshtein.distance, dtype=np.int64, workers=1)


def damerau_levenshtein(left: list[Any], right: list[Any]) -> np.ndarray:
    """Damerau-Levenshtein distance of each pair (unrestricted, as DuckDB's; rapidfuzz, in C)."""
    return cpdist(left, right, scorer=DamerauLevenshtein.distance, dtype=np.int64, workers=1)


def text(value: str | bytes) -> str:
    """A value back as ``str`` (measures may have encoded it to UTF-8)."""
    return value.decode() if isinstance(value, bytes) else value


def _username(value: str) -> str | None:
    found = _USERNAME.match(value)
    return found.group(0) if found else None


@dataclass(frozen=True)
class Atom:
    """One SQL predicate shape on one column: ``kind``, ``column``, its literal arguments.

    ``cross_exact`` compares ``column`` on the left with ``args[0]`` on the right.
    """

    kind: str
    column: str | None
    args: tuple[str, ...] = ()


# An atom, or ("and" | "or", [conditions])
Condition = Atom | tuple[str, list[Any]]


def _atom(sql: str) -> Atom | None:
    for kind, pattern in _PATTERNS.items():
        found = re.fullmatch(pattern, sql)
        if found:
            groups = found.groupdict()
            if kind == "exact" and groups["c1"] != groups["c2"]:
                return Atom("cross_exact", groups["c1"], (groups["c2"],))
            if groups.get("c1") != groups.get("c2"):
                return None
            args = tuple(v for k, v in groups.items() if k not in ("c1", "c2") and v is not None)
            return Atom(kind, groups.get("c1"), args)
    return None


def _split(sql: str) -> tuple[str | None, list[str]]:
    """(operator, operands) of ``sql`` split at its top-level ANDs or ORs."""
    depth, quoted, cuts, ops = 0, False, [], set()
    i = 0
    while i < len(sql):
        ch = sql[i]
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        elif not quoted and depth == 0:
            for op in (" AND ", " OR "):
                if sql.startswith(op, i):
                    cuts.append((i, len(op)))
                    ops.add(op.strip().lower())
                    i += len(op) - 1
                    break
        i += 1
    if not cuts or len(ops) > 1:
        return (None if not cuts else "mixed"), [sql]
    parts, start = [], 0
    for at, width in cuts:
        parts.append(sql[start:at])
        start = at + width
    parts.append(sql[start:])
    return ops.pop(), parts


def _unwrap(sql: str) -> str:
    """``sql`` without parentheses that enclose all of it."""
    while sql.startswith("(") and sql.endswith(")"):
        depth = 0
        for i, ch in enumerate(sql):
            depth += (ch == "(") - (ch == ")")
            if depth == 0 and i < len(sql) - 1:
                return sql
        sql = sql[1:-1].strip()
    return sql


def _parse(sql: str) -> Condition | None:
    sql = _unwrap(sql.strip())
    atom = _atom(sql)
    if atom is not None:
        return atom
    op, parts = _split(sql)
    if op not in ("and", "or"):
        return None
    children = [_parse(part) for part in parts]
    return None if any(c is None for c in children) else (op, children)


def parse_level(sql: str) -> Condition:
    """One level's ``sql_condition`` as an ``Atom`` or an and/or tree of them."""
    found = _parse(sql)
    if found is None:
        raise UnsupportedModel(
            f"comparison level {sql!r}: expected one of the shapes {sorted(_PATTERNS)} "
            "or AND/OR combinations of them, found another; score this model with the SQL engine"
        )
    return found


_NULL = np.array(None)  # a 0-d object array: np.equal(values, _NULL) finds the NULLs


class Column:
    """One comparison column over a batch of pairs, with lazily computed measures."""

    def __init__(self, left: np.ndarray, right: np.ndarray, open_: np.ndarray) -> None:
        self.left, self.right = left, right
        self.both: np.ndarray = ~(np.equal(left, _NULL) | np.equal(right, _NULL))
        self.equal: np.ndarray = self.both & (left == right)
        self.open = open_  # pairs no level of the comparison has taken yet (shared, in place)
        self._measures: dict[str, np.ndarray] = {}
        self._epochs: tuple[np.ndarray, np.ndarray] | None = None
        self._users: Column | None = None

    def measure(
        self, name: str, scorer: Callable[[list[Any], list[Any]], np.ndarray]
    ) -> np.ndarray:
        """``scorer`` on the open non-null pairs (0 elsewhere), on UTF-8 bytes like DuckDB."""
        if name not in self._measures:
            out = np.zeros(len(self.left), np.float64)
            take = self.both & self.open
            if take.any():
                left, right = list(self.left[take]), list(self.right[take])
                if not ("".join(left).isascii() and "".join(right).isascii()):
                    left = [v if v.isascii() else v.encode() for v in left]
                    right = [v if v.isascii() else v.encode() for v in right]
                out[take] = scorer(left, right)
            self._measures[name] = out
        return self._measures[name]

    def epochs(self, parse: Callable[[Any], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Both sides' dates as epoch seconds (NaN when NULL or unparseable), once per batch."""
        if self._epochs is None:
            self._epochs = (parse(self.left), parse(self.right))
        return self._epochs

    def users(self) -> Column:
        """The column of email usernames (``NULLIF(regexp_extract(v, '^[^@]+', 0), '')``)."""
        if self._users is None:
            users = np.frompyfunc(lambda v: None if v is None else _username(v), 1, 1)
            self._users = Column(users(self.left), users(self.right), self.open)
        return self._users

    def substr_equal(self, a: int, b: int, c: int, d: int) -> np.ndarray:
        """``substr(l, a, b) = substr(r, c, d)`` (1-based, by character, as DuckDB)."""
        out = np.zeros(len(self.left), bool)
        for i in np.flatnonzero(self.both & self.open):
            out[i] = self.left[i][a - 1 : a - 1 + b] == self.right[i][c - 1 : c - 1 + d]
        return out
