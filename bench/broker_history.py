"""Does the embedded broker's CPU for a steady 200 records/s grow with what it already holds?

One idempotent producer (linger 5 ms) and one consumer group (fetch wait 20 ms) on a
4-partition topic ``live``: 30 s at 200 records/s of 300 bytes on an empty broker, then
N records preloaded (into ``live`` itself, or into another topic), then the same 30 s.
Reports the broker's CPU (``/proc``) in each phase and the records the consumer got.

    python -m bench.broker_history 1000000 same    # or: other
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from bench.proc import cpu_seconds
from signalfold.streams.broker import EmbeddedBroker

VALUE = b"x" * 300


def _cpu(pid: int) -> float:
    spent = cpu_seconds(pid)
    assert spent is not None, "the broker is gone"
    return spent


def phase(bootstrap: str, pid: int, topic: str, seconds: float = 30, rate: int = 200) -> dict:
    """``rate`` records/s into ``topic`` for ``seconds``, read by one consumer group."""
    stop, assigned, got = threading.Event(), threading.Event(), [0]

    def consume() -> None:
        config = {"bootstrap.servers": bootstrap, "group.id": f"g-{time.time()}"}
        reader = Consumer(config | {"auto.offset.reset": "latest", "fetch.wait.max.ms": 20})
        reader.subscribe([topic], on_assign=lambda _c, parts: assigned.set() if parts else None)
        while not stop.is_set():
            got[0] += sum(1 for m in reader.consume(500, 0.1) if m.error() is None)
        reader.close()

    thread = threading.Thread(target=consume)
    thread.start()
    assert assigned.wait(90), "the consumer group did not get its partitions"
    time.sleep(1)  # its first fetch is out: it reads from the end
    prod = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True})
    before, start, n = _cpu(pid), time.monotonic(), 0
    while time.monotonic() - start < seconds:
        prod.produce(topic, key=str(n).encode(), value=VALUE)
        n += 1
        prod.poll(0)
        time.sleep(max(0.0, start + n / rate - time.monotonic()))
    prod.flush(10)
    spent = _cpu(pid) - before
    time.sleep(1)
    stop.set()
    thread.join()
    return {
        "records": n,
        "consumed": got[0],
        "broker_cpu_pct": round(100 * spent / seconds, 1),
        "us_per_record": round(1e6 * spent / n),
    }


def preload(bootstrap: str, topic: str, records: int) -> float:
    """Write ``records`` as fast as the broker takes them; seconds it took."""
    prod = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 50, "batch.num.messages": 10000}
        | {"enable.idempotence": True}
    )
    start = time.monotonic()
    for i in range(records):
        while True:
            try:
                prod.produce(topic, key=str(i).encode(), value=VALUE)
                break
            except BufferError:  # the local queue is full: let deliveries drain it
                prod.poll(0.05)
    prod.flush(120)
    return round(time.monotonic() - start, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", type=int, help="records to preload")
    parser.add_argument("where", choices=("same", "other"), help="into `live` or another topic")
    args = parser.parse_args()
    with EmbeddedBroker() as broker:
        pid = broker.pid
        assert pid is not None
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        for made in admin.create_topics([NewTopic(t, 4, 1) for t in ("live", "history")]).values():
            made.result()
        time.sleep(2)
        out: dict[str, Any] = {"empty": phase(broker.bootstrap, pid, "live")}
        target = "live" if args.where == "same" else "history"
        out["preload_s"] = preload(broker.bootstrap, target, args.records)
        time.sleep(3)
        out[f"after_{args.records}_{args.where}"] = phase(broker.bootstrap, pid, "live")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
