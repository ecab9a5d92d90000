"""The state stage's side of a split: a customer starts over from its own signals.

After an operator splits a customer, the resolve stage sends, for each
customer the split produced, a ``rebuild`` control (``schemas/resolved.py``)
and then the signals of exactly the records that customer now holds. Applying
the control replaces the customer's aggregate with an empty one that keeps
only its merged-away ids; the signals that follow fill it again. So each
resulting customer's state, flags and suppression changes come from its own
signals alone, and an open ticket ends up with the person who opened it.

Replaying the partition (on assignment) meets the same control at the same
place, so a rebuilt worker reaches the same state.
"""

from __future__ import annotations

from signalfold.schemas import Resolved
from signalfold.streams.state.aggregate import CustomerAggregate
from signalfold.streams.state.bounds import DEFAULT_BOUNDS, Bounds

__all__ = ["start_over"]


def start_over(
    aggregates: dict[str, CustomerAggregate],
    forwards: dict[str, str],
    record: Resolved,
    *,
    timeline_size: int,
    bounds: Bounds = DEFAULT_BOUNDS,
) -> str:
    """Apply a ``rebuild`` control to one partition's customers; return the customer id.

    ``forwards`` (absorbed id → survivor) loses the customer: a split's
    customer is live, whatever the id was before.
    """
    cid = record.customer_id
    forwards.pop(cid, None)
    fresh = CustomerAggregate(cid, timeline_size=timeline_size, bounds=bounds)
    fresh.aliases = set(record.aliases) - {cid}
    aggregates[cid] = fresh
    return cid
