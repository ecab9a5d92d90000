"""Liveness and readiness of a replica, from what its consumer reports."""

from __future__ import annotations

from typing import Protocol

from fastapi.responses import JSONResponse

from signalfold.sinks.models import ServiceStatus

__all__ = ["Readiness", "status_response"]


class Readiness(Protocol):
    """What the API needs to know of the consumer (``Materializer`` implements it)."""

    @property
    def caught_up(self) -> bool: ...
    @property
    def alive(self) -> bool: ...
    @property
    def unready(self) -> str | None: ...

    applied: int
    skipped: int
    error: BaseException | None


def status_response(readiness: Readiness | None, *, require_caught_up: bool) -> JSONResponse:
    """200 or 503 with a ``ServiceStatus``; ``None`` (no consumer, unit tests) is always ok.

    Liveness fails only when the consumer thread died; readiness also waits
    for the replay of what the topics held at start, and turns unready (saying
    why) when the broker stops answering, loses the serving topics, or the
    replica falls too far behind.
    """
    if readiness is None:
        return JSONResponse(
            ServiceStatus(status="ok", caught_up=True, applied=0, skipped=0).model_dump()
        )
    unready = readiness.unready if require_caught_up and readiness.caught_up else None
    ok = readiness.alive and (readiness.caught_up or not require_caught_up) and unready is None
    detail = None
    if readiness.error is not None:
        detail = f"consumer stopped: {type(readiness.error).__name__}"
    elif not readiness.alive:
        detail = "consumer not running"
    elif not readiness.caught_up:
        detail = "replaying topics"
    elif unready is not None:
        detail = unready
    body = ServiceStatus(
        status="ok" if ok else "unavailable",
        caught_up=readiness.caught_up,
        applied=readiness.applied,
        skipped=readiness.skipped,
        detail=detail,
    )
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)
