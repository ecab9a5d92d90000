"""Does the embedded broker's CPU for a steady 200 records/s grow with what it already holds?

One idempotent producer (linger 5 ms) and one consumer group (fetch wait 20 ms) on a
4-partition topic ``live``: 30 s at 200 records/s of 300 bytes on an empty broker, then
N records preloaded (into ``live`` itself, or into another topic), then the same 30 s.
Reports the broker's CPU (``/proc``) in each phase.

    python -m bench.broker_history 1000000 same    # or: other
"""

import json
import os
import sys
import threading
import time
from pathlib import Path

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from signalfold.streams.broker import EmbeddedBroker


def cpu(pid: int) -> float:
    """CPU seconds (user + system) of process ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def phase(b, pid, topic, seconds=30, rate=200, value=b"x" * 300):
    stop = threading.Event()
    got = [0]

    def consume():
        c = Consumer(
            {
                "bootstrap.servers": b,
                "group.id": f"g-{time.time()}",
                "auto.offset.reset": "latest",
                "fetch.wait.max.ms": 20,
            }
        )
        c.subscribe([topic])
        while not stop.is_set():
            for m in c.consume(500, 0.1):
                if m.error() is None:
                    got[0] += 1
        c.close()

    t = threading.Thread(target=consume)
    t.start()
    time.sleep(5)
    p = Producer({"bootstrap.servers": b, "linger.ms": 5, "enable.idempotence": True})
    c0, t0, n = cpu(pid), time.monotonic(), 0
    while time.monotonic() - t0 < seconds:
        p.produce(topic, key=str(n).encode(), value=value)
        n += 1
        p.poll(0)
        time.sleep(max(0, t0 + n / rate - time.monotonic()))
    p.flush(10)
    c1 = cpu(pid)
    stop.set()
    t.join()
    return {
        "records": n,
        "broker_cpu_pct": round(100 * (c1 - c0) / seconds, 1),
        "us_per_record": round(1e6 * (c1 - c0) / n),
    }


with EmbeddedBroker() as broker:
    b, pid = broker.bootstrap, broker.pid
    assert pid is not None
    a = AdminClient({"bootstrap.servers": b})
    for f in a.create_topics([NewTopic("live", 4, 1), NewTopic("history", 4, 1)]).values():
        f.result()
    time.sleep(2)
    out = {"empty": phase(b, pid, "live")}
    for total in (int(sys.argv[1]),):
        p = Producer(
            {
                "bootstrap.servers": b,
                "linger.ms": 50,
                "batch.num.messages": 10000,
                "enable.idempotence": True,
            }
        )
        t0 = time.monotonic()
        for i in range(total):
            while True:
                try:
                    p.produce(
                        "live" if sys.argv[2] == "same" else "history",
                        key=str(i).encode(),
                        value=b"h" * 300,
                    )
                    break
                except BufferError:
                    p.poll(0.05)
            if i % 10000 == 0:
                p.poll(0)
        p.flush(120)
        out["preload_s"] = round(time.monotonic() - t0, 1)
        time.sleep(3)
        out[f"after_{total}_{sys.argv[2]}"] = phase(b, pid, "live")
    print(json.dumps(out))
