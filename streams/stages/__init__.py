"""The three pipeline stages. Each decodes, calls library code, and forwards."""

from __future__ import annotations

from signalfold.streams.stages.ingest import IngestStage
from signalfold.streams.stages.resolve import ResolveStage
from signalfold.streams.stages.state import StateStage

__all__ = ["IngestStage", "ResolveStage", "StateStage"]
