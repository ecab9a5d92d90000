"""Ingest: raw source events → canonical signals, or dead letters with a reason.

``map_event`` does the work for one event under a source contract; the faust
agent around it only decodes, calls and forwards.
"""

from __future__ import annotations

from signalfold.streams.ingest.errors import ErrorKind, MappingError, unknown_source_error
from signalfold.streams.ingest.mapping import dead_letter, map_event

__all__ = ["ErrorKind", "MappingError", "dead_letter", "map_event", "unknown_source_error"]
