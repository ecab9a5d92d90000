"""Property: whatever bytes arrive, map_event returns a Signal or raises MappingError."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ingest_helpers import NOW, contracts

from signalfold.schemas.signal import Signal
from signalfold.streams.demo import SOURCES, generate_demo
from signalfold.streams.ingest import MappingError, map_event

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SAMPLES = generate_demo(people=20, seed=11)

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
keys = st.sampled_from(
    [
        "id",
        "type",
        "event",
        "object",
        "action",
        "email",
        "ts",
        "created",
        "occurredAt",
        "requester",
        "contact",
        "ticket",
        "order",
        "return",
        "satisfaction",
        "campaign",
        "form",
    ]
)
objects = st.dictionaries(keys | st.text(max_size=8), json_values, max_size=8)


def _check(source: str, raw: bytes) -> None:
    try:
        result = map_event(contracts()[source], raw, received_at=NOW, max_bytes=4096)
    except MappingError as err:
        assert err.kind and str(err).startswith(f"source `{source}`")
        assert len(err.found) <= 80
    else:
        assert isinstance(result, Signal)


@SETTINGS
@given(st.sampled_from(SOURCES), st.binary(max_size=200))
def test_arbitrary_bytes(source: str, raw: bytes) -> None:
    _check(source, raw)


@SETTINGS
@given(st.sampled_from(SOURCES), objects)
def test_arbitrary_json_objects(source: str, obj: dict[str, Any]) -> None:
    _check(source, json.dumps(obj).encode())


def _mutate(obj: Any, path: list[int], value: Any) -> Any:
    """Replace (or delete, when ``value`` is a marker) the node the path choices lead to."""
    if not path or not isinstance(obj, dict | list) or not obj:
        return value
    keys_ = list(obj) if isinstance(obj, dict) else list(range(len(obj)))
    key = keys_[path[0] % len(keys_)]
    copy = dict(obj) if isinstance(obj, dict) else list(obj)
    copy[key] = _mutate(obj[key], path[1:], value)
    return copy


@SETTINGS
@given(
    st.sampled_from(SAMPLES),
    st.lists(st.integers(min_value=0, max_value=50), min_size=1, max_size=4),
    json_values,
)
def test_near_valid_events(sample: Any, path: list[int], value: Any) -> None:
    mutated = _mutate(json.loads(sample.value), path, value)
    _check(sample.source, json.dumps(mutated).encode())
