"""``identity.index`` is keyed by a keyed hash of each identifier; its sealed value names it.

A reader that keeps the index by identifier key (a replica's view, local mode)
remembers which hash names which identifier, so a tombstone (which carries no
value) still says which entry to drop.
"""

from __future__ import annotations

from typing import Any

__all__ = ["IndexNames"]


class IndexNames:
    """Message key → identifier key, for the entries read so far."""

    def __init__(self) -> None:
        self._names: dict[str, str] = {}

    def plain(self, key: str, entry: dict[str, Any] | None) -> str | None:
        """The identifier an index record is about (``None``: a tombstone of one not seen).

        An entry without ``key`` (a plain, older topic) is keyed by the identifier itself.
        """
        named = None if entry is None else str(entry.get("key", key))
        if named is None:
            return self._names.pop(key, None)
        self._names[key] = named
        return named
