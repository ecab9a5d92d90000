"""The comparison-level shapes ``NativeScorer`` mirrors, and a batch's column of pairs.

``parse_level`` recognises a level's ``sql_condition`` among the shapes Splink's
comparison library writes for this model (null, exact, Jaro-Winkler,
Levenshtein, date difference, email username); ``Column`` holds one compared
column over a batch of pairs, with the measures the levels need computed once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
from rapidfuzz.distance import Levenshtein
from rapidfuzz.process import cpdist

from signalfold.identity.errors import IdentityError

__all__ = ["Column", "UnsupportedModel", "levenshtein", "parse_level", "text"]

_USER = r"NULLIF\(regexp_extract\(\"(?P<c{n}>\w+)_{s}\", '\^\[\^@\]\+', 0\), ''\)"
_DATE = r"try_strptime\(\"(?P<c{n}>\w+)_{s}\", '%Y-%m-%d'\)"
_PATTERNS = {
    "null": r'"(?P<c1>\w+)_l" IS NULL OR "(?P<c2>\w+)_r" IS NULL',
    "null_date": f"{_DATE.format(n=1, s='l')} IS NULL OR {_DATE.format(n=2, s='r')} IS NULL",
    "exact": r'"(?P<c1>\w+)_l" = "(?P<c2>\w+)_r"',
    "jw": r'jaro_winkler_similarity\("(?P<c1>\w+)_l", "(?P<c2>\w+)_r"\) >= (?P<t>[0-9.]+)',
    "lev": r'levenshtein\("(?P<c1>\w+)_l", "(?P<c2>\w+)_r"\) <= (?P<t>[0-9]+)',
    "date_diff": rf"ABS\(EPOCH\({_DATE.format(n=1, s='l')}\) - "
    rf"EPOCH\({_DATE.format(n=2, s='r')}\)\) <= (?P<t>[0-9.]+)",
    "user_exact": f"{_USER.format(n=1, s='l')} = {_USER.format(n=2, s='r')}",
    "user_jw": rf"jaro_winkler_similarity\({_USER.format(n=1, s='l')}, "
    rf"{_USER.format(n=2, s='r')}\) >= (?P<t>[0-9.]+)",
    "else": r"ELSE",
}
_USERNAME = re.compile(r"[^@]+")


class UnsupportedModel(IdentityError):
    """A comparison level has a SQL shape the native scorer does not mirror."""


def levenshtein(left: list[Any], right: list[Any]) -> np.ndarray:
    """Levenshtein distance of each pair (rapidfuzz, in C)."""
    return cpdist(left, right, scorer=Levenshtein.distance, dtype=np.int64, workers=1)


def text(value: str | bytes) -> str:
    """A value back as ``str`` (measures may have encoded it to UTF-8)."""
    return value.decode() if isinstance(value, bytes) else value


def _username(value: str) -> str | None:
    found = _USERNAME.match(value)
    return found.group(0) if found else None


def parse_level(sql: str) -> tuple[str, str | None, str | None]:
    """(kind, column, threshold literal) of one level's ``sql_condition``."""
    for kind, pattern in _PATTERNS.items():
        found = re.fullmatch(pattern, sql.strip())
        if found:
            groups = found.groupdict()
            if groups.get("c1") != groups.get("c2"):
                break
            return kind, groups.get("c1"), groups.get("t")
    raise UnsupportedModel(
        f"comparison level {sql!r}: expected one of the shapes {sorted(_PATTERNS)}, "
        "found another; score this model with the SQL engine"
    )


class Column:
    """One comparison column over a batch of pairs, with lazily computed measures."""

    def __init__(self, left: np.ndarray, right: np.ndarray) -> None:
        self.left, self.right = left, right
        self.both = ~(np.equal(left, None) | np.equal(right, None))
        self.equal = self.both & (left == right)
        self.open = np.ones(len(left), bool)  # pairs no level has taken yet
        self._memo: dict[str, Any] = {}

    def measure(
        self, name: str, scorer: Callable[[list[Any], list[Any]], np.ndarray]
    ) -> np.ndarray:
        """``scorer`` on the open non-null pairs (0 elsewhere), on UTF-8 bytes like DuckDB."""
        if name not in self._memo:
            out = np.zeros(len(self.left), np.float64)
            take = self.both & self.open
            if take.any():
                left, right = list(self.left[take]), list(self.right[take])
                if not ("".join(left).isascii() and "".join(right).isascii()):
                    left = [v if v.isascii() else v.encode() for v in left]
                    right = [v if v.isascii() else v.encode() for v in right]
                out[take] = scorer(left, right)
            self._memo[name] = out
        return self._memo[name]

    def epochs(self, parse: Callable[[Any], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Both sides' dates as epoch seconds (NaN when NULL or unparseable), once per batch."""
        if "epochs" not in self._memo:
            self._memo["epochs"] = (parse(self.left), parse(self.right))
        return self._memo["epochs"]

    def users(self) -> Column:
        """The column of email usernames (``NULLIF(regexp_extract(v, '^[^@]+', 0), '')``)."""
        if "users" not in self._memo:
            users = np.frompyfunc(lambda v: None if v is None else _username(v), 1, 1)
            column = Column(users(self.left), users(self.right))
            column.open = self.open
            self._memo["users"] = column
        return self._memo["users"]
