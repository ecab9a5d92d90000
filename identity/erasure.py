"""What erasing a customer takes out of the identity graph, for the stage to publish.

``IdentityGraph.erase`` forgets the customer (``GraphState`` applies an
``erased`` change, the one kind that names no one) and returns an
``Erasure``: the records and identifier keys it held (whose keys the stage
deletes and whose hashes go on the do-not-contact list), the ids merged into
it, the index entries other customers now own, and the keys nobody owns any
more (their index entries are deleted).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from signalfold.schemas.identity import IdentityChange, IndexEntry

__all__ = ["Erasure"]


@dataclass(frozen=True)
class Erasure:
    """The outcome of one erasure; ``found`` is false for an id the graph does not hold."""

    request_id: str
    customer_id: str
    found: bool
    aliases: tuple[str, ...] = ()
    records: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    change: IdentityChange | None = None
    index: tuple[IndexEntry, ...] = ()
    unowned: tuple[str, ...] = field(default=())
