"""What travels on ``signals.resolved`` (key: customer id).

Mostly signals tagged with their customer. Two control kinds let the state
stage merge customers that live on different partitions:

- ``merge``: sent to the absorbed customer's partition; its owner forwards the
  absorbed state to the survivor and forgets it;
- ``transfer``: the absorbed state arriving at the survivor's partition;
- ``rebuild``: after a split, the customer's state starts over: it holds only
  ``records`` (and the merged-away ids ``aliases``), and the signals of those
  records follow as ``signal`` records (duplicates are ignored as usual).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from signalfold.schemas.signal import TRUSTED, Signal
from signalfold.schemas.state import IdentityRef

__all__ = ["Resolved"]


class Resolved(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: Literal["signal", "merge", "transfer", "rebuild", "erase"]
    customer_id: str
    signal: Signal | None = None
    identities: tuple[IdentityRef, ...] = ()
    into: str | None = None
    transfer: dict[str, Any] | None = None
    records: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()

    @classmethod
    def from_internal_json(cls, data: bytes | str) -> Resolved:
        """Parse a record of ``signals.resolved``: its signal was validated at ingest."""
        return cls.model_validate_json(data, context=TRUSTED)
