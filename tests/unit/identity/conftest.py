"""Signal factory shared by the identity tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from signalfold.schemas import Identifier, Signal
from signalfold.schemas.signal import Trust, make_signal_id

T0 = datetime(2024, 1, 1, tzinfo=UTC)

SignalFactory = Callable[..., Signal]


def build_signal(
    source: str,
    record_key: str,
    identifiers: Sequence[tuple[str, str] | tuple[str, str, Trust]] = (),
    *,
    day: int = 0,
    event: str = "0",
) -> Signal:
    """A minimal valid signal for ``source:record_key`` carrying ``identifiers``."""
    event_id = f"{record_key}/{event}"
    return Signal(
        signal_id=make_signal_id(source, event_id),
        source=source,
        source_event_id=event_id,
        record_key=record_key,
        type="marketing.email.opened",
        occurred_at=T0 + timedelta(days=day),
        received_at=T0 + timedelta(days=day, minutes=1),
        identifiers=tuple(
            Identifier(type=i[0], value=i[1], trust=i[2] if len(i) == 3 else "strong")
            for i in identifiers
        ),
        payload={"campaign_id": "c1"},
    )


@pytest.fixture(scope="session")
def make_signal() -> SignalFactory:
    """``make_signal(source, record_key, [(type, value[, trust])], day=, event=)``."""
    return build_signal


@pytest.fixture(scope="session")
def fixed_clock() -> Callable[[], datetime]:
    """A clock that always says 2024-06-01, so changes are byte-identical across runs."""
    return lambda: datetime(2024, 6, 1, tzinfo=UTC)
