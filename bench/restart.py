"""Restart-to-ready benchmark (issue 13): how long each stage takes to come back after ``kill -9``.

Starts the pipeline as ``bench.pipeline.running_pipeline`` does (embedded
broker, one process per stage, ``signalfold serve``), feeds N marketing
signals through the source contracts and waits until ``customer.state``
accounts for all of them. Then, one at a time, for ingest, resolve, state and
serve: ``kill -9`` the process, start it again, and time

- for a stage, **ready**: its consumer group's committed offsets reach fence
  records written to every partition of its input topics right after the kill
  (their offsets come from the delivery reports, so Tansu's high watermark,
  which can point one batch short, is never consulted); and **probe**: a new
  high-priority ticket for a known person, produced right after the kill,
  denies that person's marketing check over the HTTP API;
- for serve, **ready**: ``/v1/ready`` answers 200 (the replica's own
  read-to-fence replay); and **check**: the suppression check of the last
  probed person answers, citing that probe.

Last, a **new serving replica** (another port and data dir) is started beside
the running one and timed the same way.

A restarted resolve worker first waits for the lease its dead predecessor held
(``streams/lease.py``): the broker drops the dead member after its session
timeout, so that wait is part of what this measures.

Usage: ``python -m bench.restart --signals 200000 [--people N]``. Prints a JSON
line. Every process it starts (broker included) carries a unique environment
marker and is killed on exit, on failure too.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from confluent_kafka import KafkaError, Message, TopicPartition

from bench.pipeline import (
    _raw_events,
    _spawn,
    _ticket,
    count_signals,
    produce_events,
    running_pipeline,
)
from bench.proc import cpu_seconds
from signalfold.settings import Settings
from signalfold.streams.broker import free_port
from signalfold.streams.kafka import FENCE_HEADER, consumer, producer
from signalfold.streams.topics import Topics

MARK_VAR = "SIGNALFOLD_RESTART_BENCH_MARK"
STAGE_ORDER = ("ingest", "resolve", "state")
_START = datetime(2026, 1, 1, tzinfo=UTC)


def _marked(marker: str) -> list[int]:
    """PIDs (not this one) whose environment carries ``marker``."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if (
                int(entry.name) != os.getpid()
                and marker.encode() in (entry / "environ").read_bytes()
            ):
                found.append(int(entry.name))
        except (OSError, ValueError):
            continue
    return found


def _sweep(marker: str) -> None:
    """SIGKILL every process this run started that is still there."""
    for pid in _marked(marker):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _child(stage: str) -> int:
    """PID of this process's child running ``stage`` (a worker's stage name, or ``serve``)."""
    me = str(os.getpid())
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            words = [w.decode() for w in (stat.parent / "cmdline").read_bytes().split(b"\0") if w]
        except OSError:
            continue
        if fields[1] != me or fields[0] == "Z":
            continue
        if (stage == "serve" and "serve" in words) or words[-2:] == ["--stage", stage]:
            return int(stat.parent.name)
    raise LookupError(f"no running child process for {stage!r}")


def _child_env(settings: Settings, workdir: Path) -> dict[str, str]:
    """The environment ``running_pipeline`` gives its processes."""
    return {
        **os.environ,
        "SIGNALFOLD_KAFKA_BOOTSTRAP": str(settings.kafka_bootstrap),
        "SIGNALFOLD_TOPIC_PREFIX": settings.topic_prefix,
        "SIGNALFOLD_DATA_DIR": str(workdir),
        "SIGNALFOLD_API_PORT": str(settings.api_port),
        "SIGNALFOLD_LOG_LEVEL": "WARNING",
    }


def _inputs(settings: Settings, topics: Topics, stage: str) -> list[str]:
    if stage == "resolve":
        return [topics.canonical, topics.identity_commands]
    if stage == "state":
        return [topics.resolved]
    reader = consumer(settings.kafka_client_config(), None)
    try:
        names = reader.list_topics(timeout=10).topics
    finally:
        reader.close()
    return sorted(t for t in names if t.startswith(topics.raw("")))


def _fence(settings: Settings, topics: list[str]) -> dict[tuple[str, int], int]:
    """A fence record on every partition; returns the offset just after each one."""
    client = settings.kafka_client_config()
    reader = consumer(client, None)
    meta = reader.list_topics(timeout=10).topics
    reader.close()
    ends: dict[tuple[str, int], int] = {}

    def delivered(err: KafkaError | None, msg: Message) -> None:
        if err is None:
            ends[(msg.topic(), msg.partition())] = msg.offset() + 1

    prod = producer(client)
    fence = uuid.uuid4().hex.encode()
    wanted = 0
    for topic in topics:
        for p in meta[topic].partitions:
            prod.produce(
                topic,
                key=b"",
                value=b"",
                partition=p,
                headers=[(FENCE_HEADER, fence)],
                on_delivery=delivered,
            )
            wanted += 1
    prod.flush(10)
    if len(ends) != wanted:
        raise RuntimeError(f"only {len(ends)}/{wanted} fences acknowledged")
    return ends


def _committed_reaches(settings: Settings, group: str, ends: dict[tuple[str, int], int]) -> bool:
    reader = consumer(settings.kafka_client_config(), group)
    try:
        got = reader.committed([TopicPartition(t, p) for t, p in ends], timeout=10)
    finally:
        reader.close()
    return all(tp.offset >= ends[(tp.topic, tp.partition)] for tp in got)


def _until(what: str, ok: Callable[[], bool], timeout: float, pause: float = 0.05) -> float:
    """Poll ``ok`` until true; the monotonic time it first was."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ok():
            return time.monotonic()
        time.sleep(pause)
    raise TimeoutError(f"{what}: not within {timeout:.0f}s")


def _denied_by(base: str, person: int, probe: int) -> Callable[[], bool]:
    """True once the person's marketing email check cites the probe ticket."""

    def ok() -> bool:
        try:
            r = httpx.get(
                f"{base}/v1/suppression/check",
                params={
                    "email": f"person{person}@bench.example.com",
                    "channel": "email",
                    "purpose": "marketing",
                },
                timeout=2,
            )
        except httpx.HTTPError:
            return False
        return r.status_code == 200 and any(
            x["source_event_id"] == f"probe-{probe}" for x in r.json()["reasons"]
        )

    return ok


def _ready(base: str) -> Callable[[], bool]:
    def ok() -> bool:
        try:
            return httpx.get(f"{base}/v1/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    return ok


def _send_probe(settings: Settings, topics: Topics, person: int, n: int) -> None:
    prod = producer(settings.kafka_client_config())
    at = _START + timedelta(days=60, seconds=n)
    prod.produce(topics.raw("support"), key=str(person).encode(), value=_ticket(person, n, at))
    prod.flush(10)


def _feed(settings: Settings, topics: Topics, signals: int, people: int) -> float:
    """Produce the history; returns seconds until customer.state accounts for all of it."""
    events = _raw_events(signals, people, _START)
    prod = producer(settings.kafka_client_config())
    prod.produce(topics.raw("marketing"), key=events[0][1], value=events[0][2])
    prod.flush()
    count_signals(settings, topics, 1, 180)  # every stage has joined
    t0 = time.monotonic()
    produce_events(prod, topics, events[1:])
    return count_signals(settings, topics, signals, 3600) - t0


def _restart_stage(
    stage: str, settings: Settings, topics: Topics, env: dict[str, str], ctx: dict
) -> dict[str, float]:
    workdir, base, spawned = ctx["workdir"], ctx["base"], ctx["spawned"]
    person, n = ctx["next_probe"]
    ctx["next_probe"] = (person + 1, n + 1)
    log = workdir / f"{stage}-restart.log"
    os.kill(_child(stage), signal.SIGKILL)
    t0, wall0 = time.monotonic(), time.time()
    proc = _spawn(["worker", "--stage", stage], {**env, "SIGNALFOLD_LOG_LEVEL": "INFO"}, log)
    spawned.append(proc)
    ends = _fence(settings, _inputs(settings, topics, stage))
    _send_probe(settings, topics, person, n)
    group = f"{settings.topic_prefix}signalfold-{stage}"
    ready = _until(
        f"{stage} commits to its fences",
        lambda: _committed_reaches(settings, group, ends),
        300,
        0.1,
    )
    cpu = _cpu_s(proc.pid)
    probe = _until(f"{stage} probe denies person {person}", _denied_by(base, person, n), 300)
    ctx["last_probe"] = (person, n)
    return {
        **_milestones(log, wall0),
        "ready_s": round(ready - t0, 2),
        "ready_cpu_s": cpu,
        "probe_s": round(probe - t0, 2),
    }


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a running process has spent so far."""
    cpu = cpu_seconds(pid)
    assert cpu is not None, f"process {pid} is gone"
    return round(cpu, 2)


#: Log lines of a restarted worker (INFO) that split its restart: the lease taken
#: (resolve), partitions assigned (group joined, or the lease holder's own
#: assignment), the partitions' state rebuilt (last such line).
_MILESTONES = {
    "lease_s": (": held", False),
    "assigned_s": ("assigned ", False),
    "rebuilt_s": ("rebuilt from", True),
    "graph_current_s": ("identity graph current", False),
}


def _milestones(log: Path, wall0: float) -> dict[str, float]:
    """Seconds from the kill to each milestone line the restarted worker logged."""
    out: dict[str, float] = {}
    for line in log.read_text(errors="replace").splitlines():
        try:
            at = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        except ValueError:
            continue
        for name, (needle, last) in _MILESTONES.items():
            if needle in line and (last or name not in out):
                out[name] = round(at - wall0, 2)
    return out


def _start_serve(
    env: dict[str, str], log: Path, base: str, ctx: dict, spawned: list
) -> dict[str, float]:
    person, n = ctx["last_probe"]
    t0 = time.monotonic()
    proc = _spawn(["serve"], env, log)
    spawned.append(proc)
    ready = _until("serve /v1/ready", _ready(base), 600)
    cpu = _cpu_s(proc.pid)
    check = _until("serve answers the last probe", _denied_by(base, person, n), 120)
    return {"ready_s": round(ready - t0, 2), "ready_cpu_s": cpu, "check_s": round(check - t0, 2)}


def run(signals: int, people: int) -> dict[str, object]:
    workdir = Path(tempfile.mkdtemp(prefix="signalfold-restart-"))
    spawned: list[subprocess.Popen[bytes]] = []
    try:
        with running_pipeline(workdir) as (settings, topics, base):
            env = _child_env(settings, workdir)
            fold_s = _feed(settings, topics, signals, people)
            ctx: dict = {"workdir": workdir, "base": base, "spawned": spawned}
            # A first probe shows the whole path answers before anything is killed.
            _send_probe(settings, topics, 0, 0)
            _until("baseline probe", _denied_by(base, 0, 0), 120)
            ctx["next_probe"] = (1, 1)
            ctx["last_probe"] = (0, 0)
            result: dict[str, object] = {
                "date": datetime.now(UTC).date().isoformat(),
                "signals": signals,
                "people": people,
                "load_average_at_start": round(os.getloadavg()[0], 1),
                "fold_s": round(fold_s, 1),
            }
            for stage in STAGE_ORDER:
                result[stage] = _restart_stage(stage, settings, topics, env, ctx)
            os.kill(_child("serve"), signal.SIGKILL)
            result["serve"] = _start_serve(env, workdir / "serve-restart.log", base, ctx, spawned)
            replica_dir = workdir / "replica"
            replica_dir.mkdir()
            port = free_port()
            replica_env = {
                **env,
                "SIGNALFOLD_API_PORT": str(port),
                "SIGNALFOLD_DATA_DIR": str(replica_dir),
            }
            result["new_replica"] = _start_serve(
                replica_env,
                workdir / "replica.log",
                f"http://127.0.0.1:{port}",
                ctx,
                spawned,
            )
            result["load_average_at_end"] = round(os.getloadavg()[0], 1)
            return result
    finally:
        for p in spawned:
            p.kill()
            p.wait(10)
        _sweep(os.environ[MARK_VAR])
        print(f"logs and data: {workdir}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--signals", type=int, default=200_000)
    parser.add_argument(
        "--people", type=int, default=None, help="subscribers (default: one per 10 signals)"
    )
    args = parser.parse_args()
    # Every process started from here on (the broker too) inherits the marker.
    os.environ[MARK_VAR] = f"restart{uuid.uuid4().hex}"
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    result = run(args.signals, args.people or max(1, args.signals // 10))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
