"""The transfer format refuses what it cannot read."""

from __future__ import annotations

import pytest

from signalfold.streams.state import CustomerAggregate


def test_unknown_transfer_format_is_refused_with_next_step():
    data = CustomerAggregate("cus_1").to_transfer() | {"format": 99}
    with pytest.raises(ValueError, match="transfer format 99 is not supported"):
        CustomerAggregate.from_transfer(data)


def test_empty_aggregate_round_trips():
    agg = CustomerAggregate("cus_1", timeline_size=7)
    back = CustomerAggregate.from_transfer(agg.to_transfer())
    assert back == agg and back.timeline_size == 7 and back.version == 0
