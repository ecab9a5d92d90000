"""Event-time formats a contract can name: iso, epoch_s, epoch_ms, strptime with a zone."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ingest_helpers import MAX, NOW, contract_file

from signalfold.schemas.contract import load_contract
from signalfold.streams.ingest import MappingError, map_event


def _time(tmp: Path, value: Any, fmt: str, tz: str | None = None) -> datetime:
    contract = load_contract(contract_file(tmp, fmt=fmt, tz=tz))
    body = {"id": "e1", "kind": "opened", "at": value, "user": {"id": 1}, "ticket": {"id": 2}}
    raw = json.dumps(body).encode()
    return map_event(contract, raw, received_at=NOW, max_bytes=MAX).occurred_at


WINTER = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "fmt", "tz", "expected"),
    [
        ("2026-11-20T10:00:00Z", "iso", None, WINTER),
        ("2026-11-20T11:00:00+01:00", "iso", None, WINTER),
        ("2026-11-20T10:00:00.250Z", "iso", None, WINTER + timedelta(milliseconds=250)),
        ("2026-07-01T10:00:00", "iso", "Europe/London", datetime(2026, 7, 1, 9, tzinfo=UTC)),
        (1795168800, "epoch_s", None, WINTER),
        (1795168800.5, "epoch_s", None, WINTER + timedelta(milliseconds=500)),
        (1795168800000, "epoch_ms", None, WINTER),
        ("20/11/2026 10:00:00", "%d/%m/%Y %H:%M:%S", "Europe/London", WINTER),
        (
            "01/07/2026 10:00:00",
            "%d/%m/%Y %H:%M:%S",
            "Europe/London",
            datetime(2026, 7, 1, 9, tzinfo=UTC),
        ),
        ("1/7/2026 10:00", "%d/%m/%Y %H:%M", "Europe/London", datetime(2026, 7, 1, 9, tzinfo=UTC)),
        ("20 Nov 2026 10:00", "%d %b %Y %H:%M", "Europe/London", WINTER),
        ("2026-11-20 12:00 +0200", "%Y-%m-%d %H:%M %z", None, WINTER),
    ],
)
def test_time_formats(
    tmp_path: Path, value: Any, fmt: str, tz: str | None, expected: datetime
) -> None:
    parsed = _time(tmp_path, value, fmt, tz)
    assert parsed == expected
    assert parsed.tzinfo is not None


@pytest.mark.parametrize(
    ("value", "fmt", "tz", "kind", "expected"),
    [
        ("2026-11-20T10:00:00", "iso", None, "invalid_value", "an ISO 8601 time with an offset"),
        ("20/11/2026", "iso", None, "invalid_value", "an ISO 8601 time like 2026-11-20T10:00:00Z"),
        (1795168800, "iso", None, "wrong_type", "an ISO 8601 time string"),
        ("1795168800", "epoch_s", None, "wrong_type", "a number of seconds since 1970"),
        (True, "epoch_ms", None, "wrong_type", "a number of milliseconds since 1970"),
        (10**30, "epoch_ms", None, "invalid_value", "a number of milliseconds since 1970"),
        ("31/02/2026 10:00:00", "%d/%m/%Y %H:%M:%S", "UTC", "invalid_value", "a time formatted"),
        (
            "2026-11-20",
            "%d %b %Y %H:%M",
            "UTC",
            "invalid_value",
            "a time formatted '%d %b %Y %H:%M'",
        ),
        (None, "iso", "UTC", "missing_field", "a value"),
    ],
)
def test_bad_times(
    tmp_path: Path, value: Any, fmt: str, tz: str | None, kind: str, expected: str
) -> None:
    with pytest.raises(MappingError, match=r"source `billing`: field `at`: expected ") as caught:
        _time(tmp_path, value, fmt, tz)
    assert caught.value.kind == kind
    assert caught.value.expected.startswith(expected)
