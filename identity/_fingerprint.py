"""The other evidence a merge is checked against: folded names and birth dates.

An identifier shared by two people (a family mailbox, a company switchboard)
would join them. Before an identifier joins two customers the graph compares
what else their records showed: when both sides have a name and a birth date,
and neither any name nor any birth date agrees, they are clearly two people
and the identifier is *shared* — it stops identifying (``IdentityGraph``).

Names compare as ``"<first given> <family>"``, folded (accents, case,
nicknames: ``Bob Smith`` and ``Robert SMITH`` agree), so a middle name or a
missing one does not make the same person look like two.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from signalfold.identity._folding import fold_name, fold_text
from signalfold.schemas.signal import Traits

__all__ = ["birth_keys", "disagreement", "name_keys"]


def name_keys(traits: Traits) -> tuple[str, ...]:
    """The folded ``first family`` name a record shows, if it shows one with both parts.

    >>> name_keys(Traits(given_name="Bob", family_name="O'Neil"))
    ('robert o neil',)
    """
    given = fold_name(traits.given_name or "").split()
    family = fold_text(traits.family_name or "").split()
    if not (given and family) and traits.full_name:
        tokens = fold_name(traits.full_name).split()
        given, family = tokens[:1], tokens[1:]
    if not given or not family:
        return ()
    return (f"{given[0]} {family[-1]}",)


def birth_keys(traits: Traits) -> tuple[date, ...]:
    """The birth date a record shows, if any."""
    return (traits.birth_date,) if traits.birth_date else ()


def disagreement(
    names: tuple[Iterable[str], Iterable[str]], births: tuple[Iterable[date], Iterable[date]]
) -> str | None:
    """Why two sides are clearly different people, or ``None`` when they may be one.

    Both sides must show a name and a birth date, and share none of either:
    missing evidence never refuses a merge.

    >>> disagreement(({"ann lee"}, {"bo chan"}), ({date(1990, 1, 1)}, {date(1971, 5, 2)}))
    'different names and birth dates'
    """
    (names_a, names_b), (births_a, births_b) = (set(n) for n in names), (set(b) for b in births)
    if not (names_a and names_b and births_a and births_b):
        return None
    if names_a & names_b or births_a & births_b:
        return None
    return "different names and birth dates"
