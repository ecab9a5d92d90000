"""Failures of the serving process, each saying what to do next."""

from __future__ import annotations

from signalfold.errors import SignalfoldError

__all__ = ["InvalidCursor", "SinkError", "TopicMissing"]


class SinkError(SignalfoldError):
    """Root of the errors the sinks (store, materializer, API) raise on purpose."""


class InvalidCursor(SinkError):
    """A timeline cursor that this service did not hand out (or that was edited)."""


class TopicMissing(SinkError):
    """A topic ``serve`` must read does not exist on the broker."""
