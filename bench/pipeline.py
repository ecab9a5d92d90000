"""End-to-end benchmark: ingest → resolve → state → publish → serve, on the embedded broker.

Runs the stages as separate processes (as ``make run`` does), then measures

1. sustained throughput: N raw events produced as fast as possible; the clock
   stops when ``customer.state`` accounts for every signal (sum of counters);
2. event-to-decision latency: a high-priority ticket is produced for a known
   customer and the HTTP suppression check is polled until it answers deny.

With ``--cpu``, also the CPU each child process (stages, ``serve``, the broker)
spent per signal over the throughput window (``/proc``), and a raw passthrough
anchor on the same broker once the pipeline is idle: consume → orjson → produce,
its events/s and CPU per event (itself and the broker), so a run is read
against what the same machine does at that moment.

Usage: ``python -m bench.pipeline [--events 100000] [--probes 100] [--cpu]``.
Prints a JSON line; docs/benchmarks.md records the figures with date and command.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
from confluent_kafka import Producer, TopicPartition

from signalfold.bootstrap import STAGES, create_topics, key_log
from signalfold.settings import Settings
from signalfold.streams.broker import EmbeddedBroker, free_port
from signalfold.streams.kafka import consumer, is_fence, producer
from signalfold.streams.topics import Topics, ensure_topics

_TICK = os.sysconf("SC_CLK_TCK")


def _raw_events(n: int, people: int, start: datetime) -> list[tuple[str, bytes, bytes]]:
    """Marketing email events for ``people`` subscribers, round-robin."""
    out = []
    for i in range(n):
        person = i % people
        email = f"person{person}@bench.example.com"
        at = start + timedelta(seconds=i)
        value = {
            "event": "email_sent",
            "id": f"b{i}",
            "email": email,
            "ts": at.isoformat().replace("+00:00", "Z"),
            "campaign": {"id": f"c{i % 17}", "name": "bench"},
            "contact": {"first_name": "Bench", "last_name": f"P{person}"},
        }
        out.append(("marketing", email.encode(), json.dumps(value).encode()))
    return out


def produce_events(prod: Producer, topics: Topics, events: list[tuple[str, bytes, bytes]]) -> None:
    """Produce ``(source, key, value)`` raw events as fast as the producer takes them."""
    for source, key, value in events:
        while True:
            try:
                prod.produce(topics.raw(source), key=key, value=value)
                break
            except BufferError:
                prod.poll(0.01)
        prod.poll(0)
    prod.flush()


def _ticket(person: int, n: int, at: datetime) -> bytes:
    return json.dumps(
        {
            "type": "ticket_created",
            "id": f"probe-{n}",
            "created": at.strftime("%d/%m/%Y %H:%M:%S"),
            "requester": {"id": 900000 + person, "email": f"person{person}@bench.example.com"},
            "ticket": {"id": f"P-{n}", "priority": "High", "status": "open", "subject": "probe"},
        }
    ).encode()


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "signalfold.cli", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@contextmanager
def running_pipeline(
    workdir: Path, env: dict[str, str] | None = None
) -> Iterator[tuple[Settings, Topics, str]]:
    """The embedded broker, the topics, one process per stage and a ``serve``, as ``make run``.

    ``env`` adds settings (``SIGNALFOLD_CONTRACTS_DIR`` …) for every process.
    Yields the settings, the topics and the API's base URL once it is healthy;
    stops the processes and the broker on exit. Logs go to ``workdir``.
    """
    extra = env or {}
    with EmbeddedBroker(log_file=workdir / "broker.log") as broker:
        contracts_dir = extra.get("SIGNALFOLD_CONTRACTS_DIR")
        settings = Settings(
            kafka_bootstrap=broker.bootstrap,
            topic_prefix=f"b{uuid.uuid4().hex[:6]}.",
            data_dir=workdir,
            api_port=free_port(),
            log_level="WARNING",
            contracts_dir=Path(contracts_dir) if contracts_dir else None,
        )
        env = {
            **os.environ,
            "SIGNALFOLD_KAFKA_BOOTSTRAP": broker.bootstrap,
            "SIGNALFOLD_TOPIC_PREFIX": settings.topic_prefix,
            "SIGNALFOLD_DATA_DIR": str(workdir),
            "SIGNALFOLD_API_PORT": str(settings.api_port),
            "SIGNALFOLD_LOG_LEVEL": "WARNING",
            **extra,
        }
        topics = create_topics(settings)
        procs = [_spawn(["worker", "--stage", s], env, workdir / f"{s}.log") for s in STAGES]
        procs.append(_spawn(["serve"], env, workdir / "serve.log"))
        try:
            base = f"http://127.0.0.1:{settings.api_port}"
            while True:
                try:
                    if httpx.get(f"{base}/v1/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            yield settings, topics, base
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()


def count_signals(settings: Settings, topics: Topics, target: int, timeout: float) -> float:
    """Wait until customer.state accounts for ``target`` signals; returns the time seen."""
    reader = consumer(settings.kafka_client_config(), None)
    meta = reader.list_topics(topics.customer_state, timeout=10).topics[topics.customer_state]
    reader.assign([TopicPartition(topics.customer_state, p, 0) for p in meta.partitions])
    latest: dict[bytes, int] = {}
    total = 0
    keys = key_log(settings)  # states are sealed with their customer's key
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for m in reader.consume(5000, 0.1):
                if m.error() or m.value() is None or is_fence(m):
                    continue
                counters = json.loads(keys.open(m.value()) or b"{}").get("counters", {})
                count = sum(counters.values())
                total += count - latest.get(m.key(), 0)
                latest[m.key()] = count
            if total >= target:
                return time.monotonic()
    finally:
        reader.close()
    raise TimeoutError(f"only {total}/{target} signals reached customer.state")


def children_cpu() -> dict[str, float]:
    """CPU seconds (user + system) of each child of this process, by a short name."""
    me, out = str(os.getpid()), {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if fields[1] != me:
                continue
            argv = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [a.decode() for a in argv if a]
        name = words[-1] if "--stage" in words else "serve" if "serve" in words else "broker"
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / _TICK
    return out


def _passthrough(settings: Settings, values: list[bytes]) -> dict[str, float]:
    """Raw consume → orjson → produce on the same broker: the anchor a run is read against."""
    client = settings.kafka_client_config()
    src, dst = f"{settings.topic_prefix}anchor.in", f"{settings.topic_prefix}anchor.out"
    ensure_topics(client, [src, dst], settings.partitions)
    prod = producer(client)
    for value in values:
        while True:
            try:
                prod.produce(src, value=value)
                break
            except BufferError:
                prod.poll(0.01)
    prod.flush()
    reader = consumer(client, None)
    reader.assign([TopicPartition(src, p, 0) for p in range(settings.partitions)])
    broker0, cpu0, t0 = 0.0, 0.0, 0.0
    moved = 0
    while moved < len(values):
        batch = reader.consume(5000, 0.1)
        if batch and not t0:  # the clocks start with the first batch
            t0, cpu0 = time.monotonic(), time.process_time()
            broker0 = children_cpu().get("broker", 0.0)
        for m in batch:
            if m.error():
                continue
            value = orjson.dumps(orjson.loads(m.value()))
            while True:
                try:
                    prod.produce(dst, key=m.key(), value=value)
                    break
                except BufferError:
                    prod.poll(0.01)
            moved += 1
        prod.poll(0)
    prod.flush()
    wall, cpu = time.monotonic() - t0, time.process_time() - cpu0
    broker = children_cpu().get("broker", 0.0) - broker0
    reader.close()
    return {
        "events_per_s": round(moved / wall),
        "cpu_us_per_event": round(cpu / moved * 1e6, 1),
        "broker_cpu_us_per_event": round(broker / moved * 1e6, 1),
    }


def _background(
    settings: Settings,
    topics: Topics,
    rate: int,
    people: int,
    start: datetime,
    stop: threading.Event,
) -> None:
    """Marketing events at ``rate``/s (new event ids, the same people) until ``stop``."""
    prod = producer(settings.kafka_client_config())
    sent, t0 = 0, time.monotonic()
    while not stop.is_set():
        due = int((time.monotonic() - t0) * rate)
        for _, key, value in _raw_events(due - sent, people, start + timedelta(days=60)):
            body = json.loads(value)
            body["id"] = f"bg{sent}"
            prod.produce(topics.raw("marketing"), key=key, value=json.dumps(body).encode())
            sent += 1
        prod.poll(0)
        time.sleep(0.005)
    prod.flush(10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--probes", type=int, default=100)
    parser.add_argument(
        "--background-rate",
        type=int,
        default=0,
        help="marketing events/s fed while the probes run (the issue's 1,000/s load)",
    )
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="also report CPU µs per signal per process and a raw passthrough anchor",
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="signalfold-bench-"))
    with running_pipeline(workdir) as (settings, topics, base):
        start = datetime(2026, 1, 1, tzinfo=UTC)
        events = _raw_events(args.events, args.people, start)
        prod = producer(settings.kafka_client_config())
        # Warm-up: one event per stage so consumer groups have joined before timing.
        prod.produce(topics.raw("marketing"), key=events[0][1], value=events[0][2])
        prod.flush()
        count_signals(settings, topics, 1, 120)
        cpu0 = children_cpu()
        t0 = time.monotonic()
        produce_events(prod, topics, events[1:])
        produced = time.monotonic() - t0
        t_end = count_signals(settings, topics, args.events, 600)
        throughput = (args.events - 1) / (t_end - t0)
        cpu1 = children_cpu()

        latencies = []
        stop_load = threading.Event()
        load = threading.Thread(
            target=_background,
            args=(settings, topics, args.background_rate, args.people, start, stop_load),
            daemon=True,
        )
        if args.background_rate:
            load.start()
        with httpx.Client(base_url=base) as http:
            for n in range(args.probes):
                person = n % args.people
                at = start + timedelta(days=30, seconds=n)
                t1 = time.monotonic()
                prod.produce(
                    topics.raw("support"),
                    key=str(person).encode(),
                    value=_ticket(person, n, at),
                )
                prod.flush()
                while True:
                    r = http.get(
                        "/v1/suppression/check",
                        params={
                            "email": f"person{person}@bench.example.com",
                            "channel": "email",
                            "purpose": "marketing",
                        },
                    )
                    if r.status_code == 200 and any(
                        x["source_event_id"] == f"probe-{n}" for x in r.json()["reasons"]
                    ):
                        break
                    time.sleep(0.001)
                latencies.append((time.monotonic() - t1) * 1000)
        stop_load.set()
        if args.background_rate:
            load.join(10)
        latencies.sort()
        result = {
            "date": datetime.now(UTC).date().isoformat(),
            "events": args.events,
            "people": args.people,
            "produce_s": round(produced, 2),
            "throughput_signals_per_s": round(throughput),
            "event_to_decision_ms_p50": round(statistics.median(latencies), 1),
            "event_to_decision_ms_p99": round(latencies[int(len(latencies) * 0.99) - 1], 1),
            "probes": len(latencies),
            "background_events_per_s": args.background_rate,
        }
        if args.cpu:
            per = {k: (cpu1[k] - cpu0.get(k, 0.0)) / (args.events - 1) * 1e6 for k in cpu1}
            anchor = _passthrough(settings, [v for _, _, v in events])
            result["cpu_us_per_signal"] = {k: round(v, 1) for k, v in sorted(per.items())}
            result["cpu_us_per_signal_total"] = round(sum(per.values()), 1)
            result["passthrough"] = anchor
            result["ratio_to_passthrough"] = f"1/{anchor['events_per_s'] / throughput:.0f}"
        print(json.dumps(result))


if __name__ == "__main__":
    main()
