"""Erasure cost: time from request to "gone everywhere", and what erasures do to throughput.

On the pipeline as ``make run`` starts it (embedded broker, one process per
stage, a serving replica; ``bench.pipeline.running_pipeline``):

1. load ``--people`` customers (one marketing event each) and wait until
   ``customer.state`` holds them all;
2. idle: ``--idle`` erasures one after another over the API
   (``POST /v1/customers/{id}/erase``), each timed until it is gone everywhere;
   then ``--burst`` at once, and the CPU every process spent on them (``/proc``,
   less what it spends in as long a quiet spell), per erasure: the cost that
   does not depend on how loaded the shared machine is;
3. throughput: a backlog of ``--backlog`` events for other people, folded
   without erasures, then with ``--erasures`` erasures sent while it folds,
   ``--rounds`` times in turn (a shared machine drifts); the ratio of the
   median rates is what erasure costs the pipeline, and the erasures' times
   under that load are reported too.

"Gone everywhere" is the latest of: the ``erased`` change on ``identity.changes``
(the resolve owner forgot the person), the tombstone of the customer's key on
``privacy.keys`` (every sealed value of theirs is unreadable), the tombstone of
their ``customer.state`` (the state stage deleted them) and the replica
answering ``applied`` on ``GET /v1/erasures/{id}`` with the customer's lookup
404 (serving forgot them).

Usage: ``python -m bench.erasure [--people 100000] [--backlog 40000] [--erasures 50]``.
Prints a JSON line; docs/benchmarks.md records the figures with date and command.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka import OFFSET_END, TopicPartition

from bench.pipeline import (
    _raw_events,
    children_cpu,
    count_signals,
    produce_events,
    running_pipeline,
)
from signalfold.bootstrap import key_log
from signalfold.settings import Settings
from signalfold.sinks.auth import hash_key
from signalfold.streams.kafka import consumer, is_fence, producer
from signalfold.streams.topics import Topics

ADMIN = "sf_bench_erasure_admin_key"
START = datetime(2026, 1, 1, tzinfo=UTC)


class Watch(threading.Thread):
    """When each erasure's effects appear on the topics (from their ends when started)."""

    def __init__(self, settings: Settings, topics: Topics) -> None:
        super().__init__(daemon=True)
        self.seen: dict[tuple[str, bytes], float] = {}  # (what, key) → monotonic time
        self._stop_event = threading.Event()
        self._reader = consumer(settings.kafka_client_config(), None)
        wanted = [topics.identity_changes, topics.privacy_keys, topics.customer_state]
        parts = []
        for name in wanted:
            meta = self._reader.list_topics(name, timeout=10).topics[name]
            parts += [TopicPartition(name, p, OFFSET_END) for p in meta.partitions]
        self._reader.assign(parts)
        self._topics = topics

    def run(self) -> None:
        t = self._topics
        while not self._stop_event.is_set():
            for m in self._reader.consume(5000, 0.05):
                if m.error() or is_fence(m):
                    continue
                now, key, value = time.monotonic(), m.key() or b"", m.value()
                if m.topic() == t.identity_changes and value and b'"erased"' in value:
                    body = json.loads(value)
                    self.seen.setdefault(("change", body["signal_id"].encode()), now)
                elif m.topic() == t.privacy_keys and value is None:
                    self.seen.setdefault(("key", key[:16]), now)
                elif m.topic() == t.customer_state and value is None:
                    self.seen.setdefault(("state", key), now)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(10)
        self._reader.close()


class Eraser:
    """Sends erasures over the API and times each one until it is gone everywhere."""

    def __init__(self, base: str, watch: Watch, kid_of: Any) -> None:
        self.http = httpx.Client(base_url=base, headers={"X-API-Key": ADMIN}, timeout=30)
        self.watch, self.kid_of = watch, kid_of
        self.pending: list[dict[str, Any]] = []

    def customer_of(self, person: int) -> str:
        email = f"person{person}@bench.example.com"
        found = self.http.get("/v1/customers/lookup", params={"email": email})
        found.raise_for_status()
        return str(found.json()["customer_id"])

    def send(self, customer_id: str) -> None:
        t0 = time.monotonic()
        answer = self.http.post(
            f"/v1/customers/{customer_id}/erase", json={"reason": "bench.erasure"}
        )
        if answer.status_code != 202:
            raise RuntimeError(f"erasure refused: {answer.status_code} {answer.text[:200]}")
        request = {"id": answer.json()["request_id"], "cid": customer_id, "t0": t0}
        self.pending.append(request)

    def wait(self, timeout: float, poll: float = 0.01) -> list[dict[str, float]]:
        """Each pending erasure's milliseconds to each effect, once all are gone."""
        deadline, out = time.monotonic() + timeout, []
        for request in self.pending:
            replica = None
            while replica is None:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"erasure {request['id']} not applied by the replica")
                status = self.http.get(f"/v1/erasures/{request['id']}").json()["status"]
                gone = self.http.get(f"/v1/customers/{request['cid']}").status_code == 404
                if status == "applied" and gone:
                    replica = time.monotonic()
                else:
                    time.sleep(poll)
            wanted = {
                "resolve": ("change", request["id"].encode()),
                "keys": ("key", self.kid_of(request["cid"])),
                "state": ("state", request["cid"].encode()),
            }
            times = {"replica": replica}
            for name, what in wanted.items():
                while what not in self.watch.seen:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"erasure {request['id']}: no {name} effect seen")
                    time.sleep(0.01)
                times[name] = self.watch.seen[what]
            ms = {k: (v - request["t0"]) * 1000 for k, v in times.items()}
            ms["everywhere"] = max(ms.values())
            out.append(ms)
        self.pending = []
        return out


def _summary(timings: list[dict[str, float]]) -> dict[str, Any]:
    if not timings:
        return {}
    out: dict[str, Any] = {"n": len(timings)}
    for name in ("resolve", "keys", "state", "replica", "everywhere"):
        values = sorted(t[name] for t in timings)
        out[f"{name}_ms_p50"] = round(statistics.median(values), 1)
        out[f"{name}_ms_max"] = round(values[-1], 1)
    return out


def _produce(settings: Settings, topics: Topics, events: list[tuple[str, bytes, bytes]]) -> None:
    produce_events(producer(settings.kafka_client_config()), topics, events)


def _backlog(n: int, people: range, tag: str, day: int) -> list[tuple[str, bytes, bytes]]:
    """``n`` new marketing events for ``people`` (fresh event ids, later in time)."""
    events = _raw_events(n, len(people), START + timedelta(days=day))
    out = []
    for i, (source, _key, value) in enumerate(events):
        body = json.loads(value)
        person = people.start + i % len(people)
        email = f"person{person}@bench.example.com"
        body.update(id=f"{tag}{i}", email=email)
        body["contact"]["last_name"] = f"P{person}"
        out.append((source, email.encode(), json.dumps(body).encode()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--backlog", type=int, default=40_000)
    parser.add_argument("--idle", type=int, default=10, help="erasures on an idle pipeline")
    parser.add_argument("--erasures", type=int, default=50, help="erasures during a backlog")
    parser.add_argument("--burst", type=int, default=50, help="erasures at once, for CPU")
    parser.add_argument("--rounds", type=int, default=2, help="backlogs without, then with")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="signalfold-bench-erasure-"))
    keys_file = workdir / "keys.yaml"
    keys_file.write_text(f"keys:\n  - {{name: dpo, role: admin, hash: {hash_key(ADMIN)}}}\n")
    env = {"SIGNALFOLD_API_KEYS_FILE": str(keys_file)}
    with running_pipeline(workdir, env) as (settings, topics, base):
        keys = key_log(settings)
        kid_of = lambda cid: keys.ids.customer(cid)  # noqa: E731
        t0 = time.monotonic()
        _produce(settings, topics, _raw_events(args.people, args.people, START))
        folded = args.people
        count_signals(settings, topics, folded, 1800)
        load_s = time.monotonic() - t0

        watch = Watch(settings, topics)
        watch.start()
        eraser = Eraser(base, watch, kid_of)
        half = args.people // 2  # the backlog's people; erasures take the other half
        victims = iter(range(half, args.people))
        idle: list[dict[str, float]] = []
        for _ in range(args.idle):
            eraser.send(eraser.customer_of(next(victims)))
            idle += eraser.wait(120)
        # CPU per erasure: a burst of erasures, polled gently, against as long a quiet spell.
        burst = [eraser.customer_of(next(victims)) for _ in range(args.burst)]
        cpu0, t0 = children_cpu(), time.monotonic()
        for cid in burst:
            eraser.send(cid)
        eraser.wait(120, poll=0.25)
        cpu1, spell = children_cpu(), time.monotonic() - t0
        time.sleep(spell)
        cpu2 = children_cpu()
        cpu_ms = {
            k: round(((cpu1[k] - cpu0.get(k, 0)) - (cpu2[k] - cpu1[k])) / len(burst) * 1000, 1)
            for k in sorted(cpu2)
        }
        erased = args.idle + args.burst

        rates: dict[str, list[float]] = {"without": [], "with": []}
        during: list[dict[str, float]] = []
        runs = [("without", 0), ("with", args.erasures)] * args.rounds
        for n_run, (run, erasures) in enumerate(runs):
            targets = [eraser.customer_of(next(victims)) for _ in range(erasures)]
            events = _backlog(args.backlog, range(half), f"r{n_run}-", 60 + 30 * n_run)
            # Spread the erasures over the first half of the fold, as the last run timed it.
            gap = 0.5 * args.backlog / rates["without"][-1] / max(erasures, 1) if erasures else 0
            t0 = time.monotonic()
            sender = threading.Thread(target=_produce, args=(settings, topics, events))
            sender.start()
            for n, cid in enumerate(targets):
                eraser.send(cid)
                time.sleep(max(0.0, t0 + (n + 1) * gap - time.monotonic()))
            sender.join()
            # An erased customer's state no longer opens: its one signal leaves the count.
            folded += args.backlog
            erased += erasures
            t_end = count_signals(settings, topics, folded - erased, 1800)
            rates[run].append(args.backlog / (t_end - t0))
            if erasures:
                during += eraser.wait(300)
        watch.stop()
        keys.close()
        result = {
            "date": datetime.now(UTC).date().isoformat(),
            "people": args.people,
            "load_s": round(load_s, 1),
            "idle": _summary(idle),
            "cpu_ms_per_erasure": cpu_ms,
            "cpu_ms_per_erasure_total": round(sum(cpu_ms.values()), 1),
            "backlog": args.backlog,
            "rounds": args.rounds,
            "throughput_without_erasures": [round(r) for r in rates["without"]],
            "throughput_with_erasures": [round(r) for r in rates["with"]],
            "throughput_ratio": round(
                statistics.median(rates["with"]) / statistics.median(rates["without"]), 3
            ),
            "load_average": os.getloadavg()[0],
            "under_load": _summary(during),
        }
        print(json.dumps(result))


if __name__ == "__main__":
    main()
