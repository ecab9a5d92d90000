"""Whether two records could be one person: folded names and birth dates compared.

A strong identifier joins two records only when what else they show does not
make them clearly two people. Names are kept as folded ``"given family"``
(``"given"`` alone when a source knows only a first name), nicknames expanded
by ``fold_name``. Two given names are *compatible* when one could be the other
written differently:

- equal after folding (``Bob`` = ``Robert``), or one is the other's initial
  (``J`` ~ ``John``) or a prefix of at least three letters (``Chris`` ~
  ``Christopher``);
- a typo: one insertion, deletion or transposition (``Jon`` ~ ``John``); a
  substitution too once both have five letters or more (``Sarah`` ~ ``Sarsh``),
  two edits from eight letters; or the same Metaphone code from five letters
  (``Catherine`` ~ ``Katherine``, ``Steven`` ~ ``Stephen``);
- swapped with the family name (``Smith John`` ~ ``John Smith``).

Short names are held to edits that keep their letters (``Mark`` and ``Mary``
are two people, as are ``John`` and ``Joan``), because households are where
shared identifiers meet short, similar given names.

Birth dates are compatible when equal, day and month swapped, or one digit
apart (``1980-05-17`` ~ ``1980-05-71`` cannot exist, ``1980-05-12`` can).
Missing evidence never makes two records different; it also never makes them
positively the same (see ``agree``).

A mailbox *shows* a name when its local part carries a part of it: the family
name (``j.smith``, ``smithj``), a given name of three letters or more
(``john@``, ``bob@`` for Robert), or one of them with a typo from five letters.
``studio@`` or ``ops-north@`` shows nobody's (``mailbox_shows_name``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from functools import lru_cache

import jellyfish

from signalfold.identity._folding import fold_name, fold_text
from signalfold.schemas.signal import Traits

__all__ = [
    "agree",
    "birth_keys",
    "births_compatible",
    "conflict",
    "given_compatible",
    "mailbox_shows_name",
    "name_keys",
    "names_compatible",
]


def name_keys(traits: Traits) -> tuple[str, ...]:
    """The folded ``given family`` (or ``given``) a record shows, if it shows a given name.

    >>> name_keys(Traits(given_name="Bob", family_name="O'Neil"))
    ('robert neil',)
    >>> name_keys(Traits(full_name="Mary"))
    ('mary',)
    """
    given = fold_name(traits.given_name or "").split()
    family = fold_text(traits.family_name or "").split()
    if not given and traits.full_name:
        tokens = fold_name(traits.full_name).split()
        given, family = tokens[:1], tokens[1:] or family
    if not given:
        return ()
    return (f"{given[0]} {family[-1]}" if family else given[0],)


def birth_keys(traits: Traits) -> tuple[date, ...]:
    """The birth date a record shows, if any."""
    return (traits.birth_date,) if traits.birth_date else ()


def _osa(a: str, b: str) -> int:
    return int(jellyfish.damerau_levenshtein_distance(a, b))


@lru_cache(maxsize=1 << 16)
def given_compatible(a: str, b: str) -> bool:
    """Whether two folded given names could be one person's (see the module docstring)."""
    if a == b:
        return True
    short, long = sorted((a, b), key=len)
    if not short:
        return True
    if long.startswith(short) and (len(short) == 1 or len(short) >= 3):
        return True
    edits = _osa(a, b)
    if len(short) >= 8:
        return edits <= 2
    if len(short) >= 5:
        return edits <= 1 or jellyfish.metaphone(a) == jellyfish.metaphone(b)
    # Short names: one insertion, deletion or adjacent transposition only.
    if len(long) == len(short) + 1:
        return edits == 1
    if len(long) == len(short) and edits == 1:
        diff = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        return len(diff) == 2 and diff[1] == diff[0] + 1
    return False


def names_compatible(a: str, b: str) -> bool:
    """Two name keys (``"given family"`` or ``"given"``) could be one person's."""
    given_a, _, family_a = a.partition(" ")
    given_b, _, family_b = b.partition(" ")
    if given_compatible(given_a, given_b):
        return True
    return bool(family_a and family_b) and (
        given_compatible(given_a, family_b) and given_compatible(family_a, given_b)
    )


def births_compatible(a: date, b: date) -> bool:
    """Equal, day and month swapped, or one digit apart in ``YYYYMMDD``."""
    if a == b or (a.year == b.year and a.month == b.day and a.day == b.month):
        return True
    x, y = a.strftime("%Y%m%d"), b.strftime("%Y%m%d")
    return sum(p != q for p, q in zip(x, y, strict=True)) == 1


def conflict(
    names: tuple[Iterable[str], Iterable[str]], births: tuple[Iterable[date], Iterable[date]]
) -> str | None:
    """Why two sides are clearly different people, or ``None`` when they may be one.

    Names conflict when some name of one side is compatible with no name of the
    other (a side showing two incompatible names is itself two people); birth
    dates conflict when both sides show one and none are compatible.

    >>> conflict(({"ann lee"}, {"bo lee"}), ((), ()))
    'different given names'
    >>> conflict(({"jon smith"}, {"john smith"}), ((date(1990, 1, 2),), (date(1990, 2, 1),)))
    """
    names_a, names_b = set(names[0]), set(names[1])
    if names_a and names_b:
        for name in names_a | names_b:
            other = names_b if name in names_a else names_a
            if not any(names_compatible(name, n) for n in other):
                return "different given names"
    births_a, births_b = set(births[0]), set(births[1])
    if (
        births_a
        and births_b
        and not any(births_compatible(x, y) for x in births_a for y in births_b)
    ):
        return "different birth dates"
    return None


@lru_cache(maxsize=1 << 14)
def mailbox_shows_name(local: str, name: str) -> bool:
    """Whether the folded mailbox ``local`` part carries a part of the name key ``name``.

    >>> mailbox_shows_name("bob.smith", "robert smith"), mailbox_shows_name("bob", "robert lee")
    (True, True)
    >>> mailbox_shows_name("studio", "ann lee"), mailbox_shows_name("a.lee", "ann lee")
    (False, True)
    """
    tokens = [t for t in fold_text(local.replace(".", " ").replace("_", " ")).split() if t]
    letters = "".join(c for c in "".join(tokens) if c.isalpha())
    parts = name.split()
    family = parts[1:]
    for n, part in enumerate(parts):
        if (len(part) >= 3 or (n and len(part) >= 2)) and part in letters:
            return True
    for token in tokens:
        word = "".join(c for c in token if c.isalpha())
        if word and fold_name(word) == parts[0]:
            return True  # a nickname: bob@ for Robert
        if len(word) >= 5 and any(_osa(word, p) <= 1 for p in parts if len(p) >= 5):
            return True
    return bool(family) and len(letters) <= 3 and letters[:1] == parts[0][:1]


def agree(names: tuple[Iterable[str], Iterable[str]]) -> bool:
    """Both sides show a name and every name of each is compatible with one of the other."""
    names_a, names_b = set(names[0]), set(names[1])
    return bool(names_a and names_b) and conflict((names_a, names_b), ((), ())) is None
