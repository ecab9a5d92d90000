"""CPU time per event of each pipeline stage, in process, with no broker.

Feeds a realistic mix of raw events (the demo generator's people across every
source, plus the end-to-end bench's marketing emails) through the same stage
objects the workers run — ``IngestStage`` → ``ResolveStage`` → ``StateStage``
→ the serve side's ``Materializer`` — in batches of ``--batch`` records, and
times each ``process`` call with ``time.process_time`` (CPU time, so the other
load on a shared machine barely moves it). Records go between stages as the
bytes the previous stage produced, keyed and partitioned like Kafka would.

Usage::

    python -m bench.stages [--people 2000] [--marketing 20000] [--batch 2000]
                           [--splink] [--profile ingest|resolve|state|serve]

Prints one JSON line: µs of CPU per signal for each stage and in total.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import random
import time
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb

from bench.pipeline import _raw_events
from signalfold.identity.graph import IdentityGraph
from signalfold.policy import load_policy
from signalfold.schemas.contract import load_contracts
from signalfold.sinks.materializer import Materializer
from signalfold.sinks.store import Store
from signalfold.sinks.view import ServingView
from signalfold.streams.demo import generate_demo
from signalfold.streams.runner import Output
from signalfold.streams.stages.ingest import IngestStage
from signalfold.streams.stages.resolve import ResolveStage
from signalfold.streams.stages.state import StateStage
from signalfold.streams.topics import Topics

PARTITIONS = 4
START = datetime(2026, 1, 1, tzinfo=UTC)


class FakeMessage:
    """The part of ``confluent_kafka.Message`` the stages read."""

    __slots__ = ("_key", "_offset", "_partition", "_topic", "_value")

    def __init__(self, topic: str, partition: int, offset: int, key: Any, value: Any) -> None:
        self._topic, self._partition, self._offset = topic, partition, offset
        self._key, self._value = key, value

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> None:
        return None

    def timestamp(self) -> tuple[int, int]:
        return (0, -1)  # TIMESTAMP_NOT_AVAILABLE

    def error(self) -> None:
        return None


class Log:
    """An in-memory topic set: appends records with Kafka-like key partitioning."""

    def __init__(self) -> None:
        self.offsets: dict[tuple[str, int], int] = {}

    def message(self, topic: str, key: bytes | None, value: bytes | None) -> FakeMessage:
        partition = zlib.crc32(key or b"") % PARTITIONS
        offset = self.offsets.get((topic, partition), 0)
        self.offsets[(topic, partition)] = offset + 1
        return FakeMessage(topic, partition, offset, key, value)


def raw_mix(people: int, marketing: int, seed: int = 7) -> list[tuple[str, bytes, bytes]]:
    """Demo events of ``people`` (every source) plus ``marketing`` bench emails, shuffled."""
    demo = [(e.source, e.key.encode(), e.value) for e in generate_demo(people, seed, START)]
    mix = demo + _raw_events(marketing, max(people, 1), START)
    random.Random(seed).shuffle(mix)
    return mix


def timed(
    process: Callable[[Sequence[FakeMessage]], list[Output]],
    messages: list[FakeMessage],
    batch: int,
    profile: cProfile.Profile | None,
) -> tuple[float, list[Output]]:
    """CPU seconds ``process`` spends over ``messages`` in batches, and what it produced."""
    spent, out = 0.0, []
    for i in range(0, len(messages), batch):
        chunk = messages[i : i + batch]
        if profile is not None:
            profile.enable()
        t0 = time.process_time()
        out += process(chunk)
        spent += time.process_time() - t0
        if profile is not None:
            profile.disable()
    return spent, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--marketing", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--splink", action="store_true", help="resolve with the Splink matcher")
    parser.add_argument("--profile", choices=["ingest", "resolve", "state", "serve"])
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()

    topics, log = Topics("bench."), Log()
    clock = lambda: datetime(2026, 3, 1, tzinfo=UTC)  # noqa: E731
    mix = raw_mix(args.people, args.marketing)
    raws = [log.message(topics.raw(src), k, v) for src, k, v in mix]
    prof = {name: cProfile.Profile() for name in ("ingest", "resolve", "state", "serve")}

    def profiler(name: str) -> cProfile.Profile | None:
        return prof[name] if args.profile == name else None

    ingest = IngestStage(load_contracts(), topics, max_event_bytes=256 * 1024, clock=clock)
    t_ingest, out = timed(ingest.process, raws, args.batch, profiler("ingest"))
    canonical = [log.message(o.topic, o.key, o.value) for o in out if o.topic == topics.canonical]

    matcher = None
    if args.splink:
        from signalfold.identity.probabilistic import build_matcher

        matcher = build_matcher(
            model_path=None, match_probability=0.99, review_probability=0.9, region="GB"
        )
    resolve = ResolveStage(
        lambda: IdentityGraph(default_region="GB", clock=clock, matcher=matcher),
        topics,
        default_region="GB",
        rebuild=lambda graph: 0,
        clock=clock,
    )
    t_resolve, out = timed(resolve.process, canonical, args.batch, profiler("resolve"))
    published = [log.message(o.topic, o.key, o.value) for o in out]

    state = StateStage(topics, load_policy(), {}, clock=clock, policy_reload_seconds=1e9)
    t_state = 0.0
    pending = [m for m in published if m.topic() == topics.resolved]
    while pending:  # transfers and forwarded signals go round again, as on Kafka
        spent, out = timed(state.process, pending, args.batch, profiler("state"))
        t_state += spent
        records = [log.message(o.topic, o.key, o.value) for o in out]
        published += records
        pending = [m for m in records if m.topic() == topics.resolved]

    view, store = ServingView(), Store(duckdb.connect())
    store.setup()
    # DuckDB imports pandas on the first Arrow insert: load it before the clock runs.
    import pandas  # noqa: F401

    materializer = Materializer({}, topics, view, store)
    served = {
        topics.customer_state,
        topics.identity_index,
        topics.resolved,
        topics.identity_changes,
    }
    feed = [m for m in published if m.topic() in served]

    def serve(batch: Sequence[FakeMessage]) -> list[Output]:
        materializer._apply(list(batch))  # the consumer loop's per-batch work
        return []

    t_serve, _ = timed(serve, feed, args.batch, profiler("serve"))

    signals = len(canonical)
    counts = Counter(m.topic().removeprefix("bench.") for m in published)
    per = {
        "ingest": t_ingest,
        "resolve": t_resolve,
        "state": t_state,
        "serve": t_serve,
    }
    result: dict[str, Any] = {
        "date": datetime.now(UTC).date().isoformat(),
        "raw": len(raws),
        "signals": signals,
        "splink": args.splink,
        "batch": args.batch,
        "us_per_signal": {k: round(v / signals * 1e6, 1) for k, v in per.items()},
        "us_per_signal_total": round(sum(per.values()) / signals * 1e6, 1),
        "records": counts,
    }
    print(json.dumps(result))
    if args.profile:
        stats = pstats.Stats(prof[args.profile])
        stats.sort_stats("cumulative").print_stats(args.top)
        stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
