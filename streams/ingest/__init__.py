"""Ingest: raw source events → canonical signals, or dead letters with a reason.

``map_event`` does the work for one event under a source contract; the stage
around it only decodes, calls and forwards. Optional traits that do not fit
are dropped from the signal and reported (``DroppedTrait``, then
``field_warning`` for ``signals.warnings``).
"""

from __future__ import annotations

from signalfold.streams.ingest.errors import (
    DroppedTrait,
    ErrorKind,
    MappingError,
    unknown_source_error,
)
from signalfold.streams.ingest.mapping import dead_letter, field_warning, map_event

__all__ = [
    "DroppedTrait",
    "ErrorKind",
    "MappingError",
    "dead_letter",
    "field_warning",
    "map_event",
    "unknown_source_error",
]
