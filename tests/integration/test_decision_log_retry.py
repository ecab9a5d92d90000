"""Decision-log rows survive a broker fault: kept until acknowledged, sent again after.

The broker goes away while a replica answers; its rows wait. It comes back (a
new one on the same port, its topic recreated: the embedded broker keeps no
data, so an operator recreates it) and the producer's idempotence sequence is
now unknown to it — a fatal error librdkafka will not recover from. The
publisher builds a new producer and every row arrives.
"""

from __future__ import annotations

import time

import pytest
from confluent_kafka import TopicPartition

from signalfold.sinks.log_publisher import KafkaLogPublisher
from signalfold.streams.broker import EmbeddedBroker, free_port
from signalfold.streams.kafka import consumer
from signalfold.streams.topics import ensure_topics

pytestmark = pytest.mark.integration

TOPIC = "decisions.log"


def _read(client: dict[str, str | int], want: int, timeout: float = 30) -> list[bytes]:
    reader = consumer(client, None)
    reader.assign([TopicPartition(TOPIC, 0, 0)])
    found: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while len(found) < want and time.monotonic() < deadline:
            found += [m.value() for m in reader.consume(100, 0.2) if m.error() is None]
    finally:
        reader.close()
    return found


def test_rows_wait_out_a_broker_fault_and_arrive(tmp_path) -> None:
    port = free_port()
    client: dict[str, str | int] = {"bootstrap.servers": f"127.0.0.1:{port}"}
    broker = EmbeddedBroker(port=port).start()
    publisher = KafkaLogPublisher(
        client, TOPIC, lambda _t, _s: True, **{"message.timeout.ms": 3000}
    )
    try:
        ensure_topics(client, [TOPIC], 1)
        publisher.publish(b"r0", [b'{"n": 1}'])
        assert publisher.sync(10) and publisher.unacknowledged == 0
        broker.stop(grace=0)
        publisher.publish(b"r0", [b'{"n": 2}', b'{"n": 3}'])
        time.sleep(4)  # past message.timeout.ms: librdkafka gives the chunks up
        publisher.publish(b"r0", [])
        assert publisher.unacknowledged == 2, "given up by librdkafka, kept by signalfold"
        broker = EmbeddedBroker(port=port).start()
        ensure_topics(client, [TOPIC], 1)
        deadline = time.monotonic() + 60
        while publisher.unacknowledged and time.monotonic() < deadline:
            publisher.sync(2)
            time.sleep(0.5)
        assert publisher.unacknowledged == 0
        assert sorted(_read(client, 2)) == [b'{"n": 2}', b'{"n": 3}']
    finally:
        publisher.close()
        broker.stop()
