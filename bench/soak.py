"""Soak: steady mixed load through the source contracts, one fault every few minutes.

The embedded broker, ``ingest``, two ``resolve`` workers (the second a hot
standby on the lease), ``state`` and two ``serve`` replicas on their own ports,
each a process this harness starts and, when it dies, starts again after one
second (as ``signalfold run`` would). A feeder sends marketing, sales and
support events (tickets with priorities that open and close, orders and
returns; 10% of people known to support by phone only until a sales record
bridges them) at ``--rate`` records/s, ~5% of them exact re-sends of an earlier
event and ~1% dead-letter-worthy (``streams.demo.bad_demo_events``).

Every ``--fault-every`` seconds one fault, rotating: ``kill -9`` of ingest, of
the resolve worker holding the lease, of state, of a serve replica; the largest
event the broker accepts; a customer with six 200 KB ticket subjects (and a
bystander's urgent ticket behind it); a burst of a minute's load at once. For
each: the seconds until the pipeline caught up (everything produced more than a
window earlier accounted for on ``customer.state`` or the DLQ, every replica's
``/v1/ready`` 200; the window is ``LAG_S``, or twice the lag of the minute before
the fault if the loaded machine made that longer) and whether readiness went
non-ready. Then a checkpoint: the
feed pauses until the accounting is exact —

- raw = canonical + DLQ: the set of signal ids on ``signals.canonical`` is the
  set of good events sent (a re-send is the same id), the DLQ's pointers are
  exactly the raw offsets of the bad events;
- lost 0, doubled 0: per person, the customers' counters add up to the distinct
  signals sent for that person (a signal folded twice, or into two customers,
  shows as one too many);
- every person with a ticket: ``/v1/suppression/check`` (marketing) carries an
  ``open_high_priority_ticket`` reason for exactly their open high/urgent tickets.

Any failure is printed and the exit code is 1. Every process started carries an
environment marker, and any left behind is killed on the way out.

Usage: ``python -m bench.soak --minutes 30 --fault-every 180 --rate 300``.
Prints one JSON document; docs/benchmarks.md ("Soak") records the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
from confluent_kafka import TopicPartition

from bench.proc import cpu_seconds
from signalfold.bootstrap import create_topics, key_log
from signalfold.schemas.signal import make_signal_id
from signalfold.settings import Settings
from signalfold.streams.broker import EmbeddedBroker, free_port
from signalfold.streams.demo import bad_demo_events
from signalfold.streams.kafka import consumer, is_fence, producer
from signalfold.streams.topics import Topics, ensure_topics

MARKER = "SIGNALFOLD_SOAK_RUN"
#: "Caught up": everything produced this long ago is accounted for; after a fault the
#: window is twice the median lag of the minute before it, if that is longer.
LAG_S = 2.0
LARGEST = 990_000  # just under librdkafka's message.max.bytes (1,000,000 with framing)
FAULTS = ("ingest", "resolve", "state", "serve", "oversized_event", "oversized_customer", "burst")
_LONDON = ZoneInfo("Europe/London")
_SKUS = (("SKU-KETTLE", "Kitchen"), ("SKU-BOOTS", "Shoes"), ("SKU-LAMP", "Home"))
_RETURNS = ("Defective", "Changed mind", "Wrong item", "Damaged in transit")


# ---------------------------------------------------------------- the load and its truth


@dataclass
class Person:
    n: int
    email: str
    phone: str
    support_id: int
    crm_id: str
    bridge: bool  # support knows them by phone only
    orders: list[str] = field(default_factory=list)
    tickets: dict[int, str] = field(default_factory=dict)  # open ticket → priority
    had_ticket: bool = False


class Load:
    """Generates raw events and keeps what they must produce: ids, per-person counts."""

    def __init__(self, people: int, seed: int, start: datetime) -> None:
        self.rng = random.Random(seed)
        self.people = [self._person(n) for n in range(people)]
        self.clock = start  # event time: one second per event, so order is unambiguous
        self.n = 0
        self.good: set[str] = set()
        self.per_person: Counter[int] = Counter()
        self.recent: deque[tuple[str, str, bytes]] = deque(maxlen=5000)
        self.bad = [e for e in bad_demo_events(seed)]
        self.by_identity: dict[tuple[str, str], int] = {}
        for p in self.people:
            self.by_identity[("support_user_id", str(p.support_id))] = p.n
            self.by_identity[("crm_contact_id", p.crm_id)] = p.n
            self.by_identity[("email", p.email)] = p.n

    def _person(self, n: int) -> Person:
        return Person(
            n=n,
            email=f"soak{n}.person@example.com",
            phone=f"07911 {100000 + n:06d}",
            support_id=50_000 + n,
            crm_id=f"003SOAK{n:08d}",
            bridge=self.rng.random() < 0.1,
        )

    def _email(self, p: Person) -> str:
        return self.rng.choice([p.email, p.email, p.email.upper(), f" {p.email} "])

    def _tick(self) -> datetime:
        self.n += 1
        self.clock += timedelta(seconds=1)
        return self.clock

    def _emit(self, p: Person, source: str, key: str, body: dict[str, Any], eid: str) -> tuple:
        value = orjson.dumps(body)
        self.good.add(make_signal_id(source, eid))
        self.per_person[p.n] += 1
        event = (source, key, value)
        self.recent.append(event)
        return event

    def marketing(self, p: Person, kind: str, **extra: Any) -> tuple:
        at = self._tick()
        sku, cat = self.rng.choice(_SKUS)
        eid = f"evt_{self.n}"
        body = {
            "id": eid,
            "event": kind,
            "email": self._email(p),
            "ts": at.isoformat().replace("+00:00", "Z"),
            "campaign": {"id": "cmp_01", "subject": "Winter", "product_id": sku, "category": cat},
            "contact": {"first_name": "Soak", "last_name": f"P{p.n}"},
            **extra,
        }
        return self._emit(p, "marketing", p.email, body, eid)

    def sales(self, p: Person, obj: str, action: str, **extra: Any) -> tuple:
        at = self._tick()
        contact = {"id": p.crm_id, "email": self._email(p), "phone": "+44 " + p.phone[1:]}
        eid = f"chg_{self.n}"
        body = {"id": eid, "object": obj, "action": action, "contact": contact, **extra}
        body["occurredAt"] = int(at.timestamp() * 1000)
        return self._emit(p, "sales", p.crm_id, body, eid)

    def support(self, p: Person, kind: str, **extra: Any) -> tuple:
        at = self._tick()
        who: dict[str, Any] = {"id": p.support_id, "name": f"Soak P{p.n}"}
        who |= {"phone": p.phone} if p.bridge else {"email": self._email(p)}
        eid = 10_000_000 + self.n
        created = at.astimezone(_LONDON).strftime("%d/%m/%Y %H:%M:%S")
        body = {"id": eid, "type": kind, "created": created, "requester": who, **extra}
        return self._emit(p, "support", str(p.support_id), body, str(eid))

    def open_ticket(self, p: Person, priority: str, subject: str = "Order help") -> tuple:
        tid = 1_000_000 + self.n
        p.tickets[tid], p.had_ticket = priority.lower(), True
        ticket = {"id": tid, "priority": priority, "status": "open", "subject": subject}
        return self.support(p, "ticket_created", ticket=ticket)

    def next(self) -> tuple:
        """One good event of a random person (a mix close to the demo's)."""
        p = self.rng.choice(self.people)
        r = self.rng.random()
        if r < 0.35:
            return self.marketing(p, "email_sent", message_id=f"msg{self.n}")
        if r < 0.50:
            return self.marketing(p, "email_open", message_id=f"msg{self.n}")
        if r < 0.55:
            return self.marketing(p, "email_click", url="https://shop.example/x")
        if r < 0.555:
            return self.marketing(p, "unsubscribe", list_id="weekly", channel="email")
        if r < 0.60:
            return self.sales(p, "lead", "created", lead={"id": f"00Q{p.n:06d}"})
        if r < 0.72 or (r < 0.75 and not p.orders):
            order = f"ORD-{self.n}"
            p.orders.append(order)
            sku, cat = self.rng.choice(_SKUS)
            lines = [{"sku": sku, "category": cat, "qty": 1}]
            return self.sales(
                p, "order", "placed", order={"id": order, "total": 49.5, "lines": lines}
            )
        if r < 0.75:
            order = {"id": self.rng.choice(p.orders), "lines": [{"sku": "SKU-LAMP"}]}
            reason = {"reason": self.rng.choice(_RETURNS)}
            return self.sales(p, "order", "returned", order=order, **{"return": reason})
        if r < 0.87 or not p.tickets:
            priority = self.rng.choices(["Low", "Normal", "High", "Urgent"], [3, 5, 2, 1])[0]
            return self.open_ticket(p, priority)
        tid = self.rng.choice(list(p.tickets))
        if r < 0.97:
            del p.tickets[tid]
            return self.support(p, "ticket_updated", ticket={"id": tid, "status": "solved"})
        return self.support(p, "csat_submitted", ticket={"id": tid}, satisfaction={"score": 4})


# ---------------------------------------------------------------- processes


@dataclass
class Proc:
    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None
    log_from: int = 0  # where this incarnation's log starts
    killed: bool = False  # by the harness: restart without calling it a crash
    due: float | None = None  # when to start it again
    cpu: dict[int, float] = field(default_factory=dict)  # pid → CPU seconds last seen

    def start(self) -> None:
        self.log_from = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "ab") as out:  # the child keeps its own copy of the descriptor
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "signalfold.cli", *self.args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def kill9(self) -> None:
        assert self.popen is not None
        self.killed = True
        self.popen.send_signal(signal.SIGKILL)

    def tail(self, lines: int = 8) -> list[str]:
        with open(self.log, "rb") as f:
            f.seek(self.log_from)
            text = f.read().decode(errors="replace")
        return text.splitlines()[-lines:]

    def holds_lease(self) -> bool:
        holds = False
        for line in self.tail(10_000):
            line = line.rstrip()
            if line.endswith(": held") or "taking over" in line:
                holds = True
            elif "standing by" in line or line.endswith((": lost", ": released")):
                holds = False
        return holds


def kill_marked(marker: str) -> list[int]:
    """SIGKILL every process but this one whose environment carries ``marker``."""
    killed = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if f"{MARKER}={marker}".encode() in (entry / "environ").read_bytes():
                os.kill(int(entry.name), signal.SIGKILL)
                killed.append(int(entry.name))
        except OSError:
            continue
    return killed


# ---------------------------------------------------------------- what the topics say


class Accounts:
    """Reads canonical, DLQ and customer.state from offset 0 in a thread."""

    def __init__(self, settings: Settings, topics: Topics, load: Load) -> None:
        self.t, self.load = topics, load
        self.canonical: set[str] = set()
        self.canonical_records = 0
        self.dlq: set[tuple[str, int, int]] = set()
        self.dlq_kinds: Counter[str] = Counter()
        self.dlq_other: list[dict[str, Any]] = []  # letters not about a raw event
        self.customers: dict[bytes, tuple[set[int], int]] = {}  # key → (persons, signals)
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._reader = consumer(settings.kafka_client_config(), None)
        self._keys = key_log(settings)  # the pipeline's values are sealed (privacy/sealing.py)
        names = (topics.canonical, topics.dlq, topics.customer_state)
        parts = []
        for name in names:
            meta = self._reader.list_topics(name, timeout=10).topics[name]
            parts += [TopicPartition(name, p, 0) for p in meta.partitions]
        self._reader.assign(parts)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for m in self._reader.consume(2000, 0.1):
                if m.error() is not None or is_fence(m):
                    continue
                value = m.value() if m.topic() == self.t.dlq else self._keys.open(m.value())
                with self.lock:
                    self._take(m.topic(), m.key() or b"", value)

    def _take(self, topic: str, key: bytes, value: bytes | None) -> None:
        if topic == self.t.canonical:
            self.canonical_records += 1
            self.canonical.add(orjson.loads(value)["signal_id"])
        elif topic == self.t.dlq:
            letter = orjson.loads(value)
            pointer = (letter["topic"], letter.get("partition"), letter.get("offset"))
            if letter["topic"].startswith(self.t.raw("")) and pointer[2] is not None:
                self.dlq.add(pointer)
                self.dlq_kinds[letter["error_kind"]] += 1
            else:
                self.dlq_other.append({k: letter.get(k) for k in ("topic", "error_kind", "reason")})
        elif value is None:
            self.customers.pop(key, None)
        else:
            state = orjson.loads(value)
            who = {self.load.by_identity.get((i["type"], i["value"])) for i in state["identities"]}
            self.customers[key] = (
                {p for p in who if p is not None},
                sum(state["counters"].values()),
            )

    def folded(self) -> int:
        with self.lock:
            return sum(n for _, n in self.customers.values())

    def per_person(self) -> tuple[Counter[int], int]:
        """Signals per person over their customers; and customers spanning two people."""
        out: Counter[int] = Counter()
        mixed = 0
        with self.lock:
            for persons, n in self.customers.values():
                mixed += len(persons) > 1
                for p in persons:
                    out[p] += n
        return out, mixed

    def close(self) -> None:
        self._stop.set()
        self.thread.join(5)
        self._reader.close()


# ---------------------------------------------------------------- the harness


class Soak:
    def __init__(self, args: argparse.Namespace, workdir: Path, broker: EmbeddedBroker) -> None:
        self.args, self.workdir, self.broker = args, workdir, broker
        self.settings = Settings(
            kafka_bootstrap=broker.bootstrap,
            topic_prefix=f"soak{uuid.uuid4().hex[:6]}.",
            data_dir=workdir,
            log_level="WARNING",
        )
        self.topics = create_topics(self.settings)
        client = self.settings.kafka_client_config()
        ensure_topics(client, [self.topics.raw("legacy_erp")], self.settings.partitions)
        env = {
            **os.environ,
            "SIGNALFOLD_KAFKA_BOOTSTRAP": broker.bootstrap,
            "SIGNALFOLD_TOPIC_PREFIX": self.settings.topic_prefix,
            "SIGNALFOLD_DATA_DIR": str(workdir),
            "SIGNALFOLD_LOG_LEVEL": "WARNING",
        }
        self.procs = [Proc("ingest", ["worker", "--stage", "ingest"], env, workdir / "ingest.log")]
        for n in ("a", "b"):
            env_r = env | {"SIGNALFOLD_LOG_LEVEL": "INFO"}  # its lease lines say who owns
            args_r = ["worker", "--stage", "resolve"]
            self.procs.append(Proc(f"resolve-{n}", args_r, env_r, workdir / f"resolve-{n}.log"))
        self.procs.append(Proc("state", ["worker", "--stage", "state"], env, workdir / "state.log"))
        self.bases: dict[str, str] = {}
        for n in ("a", "b"):
            port = free_port()
            env_s = env | {"SIGNALFOLD_API_PORT": str(port)}
            self.procs.append(Proc(f"serve-{n}", ["serve"], env_s, workdir / f"serve-{n}.log"))
            self.bases[f"serve-{n}"] = f"http://127.0.0.1:{port}"
        start = datetime.now(UTC).replace(microsecond=0)
        expected = int(args.rate * args.minutes * 60 * 1.2 + args.rate * 600)
        self.load = Load(args.people, args.seed, start - timedelta(seconds=expected))
        self.producer = producer(client)
        self.lock = threading.Lock()  # the load and its counters
        self.raw_records = self.duplicates = 0
        self.bad_pointers: set[tuple[str, int, int]] = set()
        self.bad_sent = 0
        self.history: deque[tuple[float, int, int]] = deque(maxlen=100_000)
        self.paused = threading.Event()
        self.stop = threading.Event()  # the watcher
        self.stop_feed = threading.Event()
        self.ready: dict[str, int] = dict.fromkeys(self.bases, 0)
        self.not_ready: list[tuple[float, str, int, str]] = []
        self.failures: list[str] = []
        self.crashes: list[dict[str, Any]] = []
        self.restarts: Counter[str] = Counter()
        self.accounts: Accounts | None = None
        self.lags: deque[tuple[float, float]] = deque(maxlen=100_000)
        self.loadavg: list[float] = []
        self.t0 = time.monotonic()

    # ------------------------------------------------------------ feeding

    def send(self, event: tuple, *, bad: bool = False) -> None:
        source, key, value = event
        topic = self.topics.raw(source)

        def on_delivery(err: Any, msg: Any) -> None:
            if err is not None:
                self.failures.append(f"raw event to {topic} not delivered: {err}")
            elif bad:
                self.bad_pointers.add((msg.topic(), msg.partition(), msg.offset()))

        while True:
            try:
                self.producer.produce(topic, key=key.encode(), value=value, on_delivery=on_delivery)
                break
            except BufferError:
                self.producer.poll(0.01)
        self.raw_records += 1
        if bad:
            self.bad_sent += 1

    def one(self) -> None:
        r = self.load.rng.random()
        if r < 0.05 and self.load.recent:
            self.duplicates += 1
            self.send(self.load.rng.choice(self.load.recent))
        elif r < 0.06:
            bad = self.load.bad[self.bad_sent % len(self.load.bad)]
            self.send((bad.source, bad.key, bad.value), bad=True)
        else:
            self.send(self.load.next())

    def mark(self) -> None:
        self.history.append((time.monotonic(), len(self.load.good), self.bad_sent))

    def feed(self) -> None:
        per_tick, carry = self.args.rate / 10, 0.0
        next_tick = time.monotonic()
        while not self.stop_feed.is_set():
            if self.paused.is_set():
                time.sleep(0.05)
                next_tick = time.monotonic()
                continue
            carry += per_tick
            with self.lock:
                while carry >= 1:
                    self.one()
                    carry -= 1
                self.producer.poll(0)
                self.mark()
            next_tick += 0.1
            time.sleep(max(0.0, next_tick - time.monotonic()))

    def flush(self) -> None:
        with self.lock:
            if self.producer.flush(60) != 0:
                self.failures.append("raw events still unsent after 60 s")
            self.mark()

    # ------------------------------------------------------------ watching

    def watch(self) -> None:
        """Restart what died (1 s later, as `signalfold run`), poll readiness, sample CPU."""
        http = httpx.Client(timeout=2)
        while not self.stop.is_set():
            now = time.monotonic() - self.t0
            if self.broker.returncode is not None:
                self.failures.append(f"the broker exited (code {self.broker.returncode})")
                self.stop.set()
            for p in self.procs:
                assert p.popen is not None
                if (pid := p.popen.pid) and (cpu := cpu_seconds(pid)) is not None:
                    p.cpu[pid] = cpu
                if p.due is None and p.popen.poll() is not None:
                    if not p.killed:
                        crash = {"at_s": round(now), "process": p.name, "code": p.popen.returncode}
                        self.crashes.append(crash | {"log": p.tail()})
                    p.due = time.monotonic() + 1.0
                elif p.due is not None and time.monotonic() >= p.due:
                    p.killed, p.due = False, None
                    p.start()
                    self.restarts[p.name] += 1
            for name, base in self.bases.items():
                try:
                    r = http.get(f"{base}/v1/ready")
                    code, why = r.status_code, r.text[:200]
                except httpx.HTTPError as exc:
                    code, why = 0, type(exc).__name__
                if code != 200:
                    self.not_ready.append((time.monotonic(), name, code, why))
                self.ready[name] = code
            if self.accounts is not None and not self.paused.is_set():
                self.lags.append((time.monotonic(), self.lag(self.accounts)))
            if len(self.loadavg) < now / 10:
                self.loadavg.append(float(Path("/proc/loadavg").read_text().split()[0]))
            time.sleep(0.25)

    def broker_cpu(self) -> float:
        proc = self.broker._proc  # the bench reads its own child's /proc
        return (cpu_seconds(proc.pid) or 0.0) if proc is not None else 0.0

    def lag(self, accounts: Accounts) -> float:
        """Seconds since the newest moment whose every event is accounted for."""
        with accounts.lock:
            dlq = len(accounts.dlq)
        folded, now = accounts.folded(), time.monotonic()
        with self.lock:
            for at, good, bad in reversed(self.history):
                if good <= folded and bad <= dlq:
                    return now - at
        return now - self.t0

    def baseline(self, before: float, span: float = 60) -> float:
        """The median lag over ``span`` seconds before ``before``: the load's own lag."""
        lags = sorted(lag for at, lag in list(self.lags) if before - span <= at <= before)
        return lags[len(lags) // 2] if lags else 0.0

    # ------------------------------------------------------------ faults

    def proc(self, name: str) -> Proc:
        return next(p for p in self.procs if p.name == name)

    def inject(self, kind: str, k: int) -> dict[str, Any]:
        if kind in ("ingest", "state"):
            self.proc(kind).kill9()
            return {"target": kind}
        if kind == "resolve":
            owners = [p for p in self.procs if p.name.startswith("resolve") and p.holds_lease()]
            target = owners[0] if owners else self.proc("resolve-a")
            target.kill9()
            return {"target": target.name, "lease_holder": bool(owners)}
        if kind == "serve":
            target = self.proc(f"serve-{'ab'[k % 2]}")
            target.kill9()
            return {"target": target.name}
        load = self.load
        with self.lock:
            if kind == "oversized_event":
                p = load.rng.choice(load.people)
                body = {"id": f"huge_{load.n}", "event": "email_sent", "email": p.email}
                body |= {"ts": load.clock.isoformat().replace("+00:00", "Z"), "padding": ""}
                body["padding"] = "x" * (LARGEST - len(orjson.dumps(body)))
                self.send(("marketing", p.email, orjson.dumps(body)), bad=True)
                return {"bytes": LARGEST, "person": p.n}
            if kind == "oversized_customer":
                p, q = load.rng.sample([x for x in load.people if not x.bridge], 2)
                for i in range(6):
                    subject = f"{i}" + "S" * 200_000
                    self.send(load.open_ticket(p, "High" if i == 0 else "Normal", subject))
                self.send(load.open_ticket(q, "Urgent"))  # a bystander, queued behind it
                return {"person": p.n, "tickets": 6, "subject_bytes": 200_001, "bystander": q.n}
            n = int(self.args.rate * 60)  # burst: a minute of load at once
            for _ in range(n):
                self.one()
            self.mark()
            return {"records": n}

    def wait_caught_up(
        self, accounts: Accounts, since: float, timeout: float, window: float
    ) -> float | None:
        """Seconds from ``since`` until the lag is back within ``window`` and all are ready.

        Not before ``since + window``: only then does "everything older than the window"
        include what was sent after the fault.
        """
        time.sleep(max(0.0, since + window + 0.5 - time.monotonic()))
        while time.monotonic() < since + timeout:
            ready = all(c == 200 for c in self.ready.values())
            if ready and self.lag(accounts) <= window:
                return time.monotonic() - since
            time.sleep(0.2)
        return None

    def went_non_ready(self, since: float, until: float) -> dict[str, str]:
        seen: dict[str, str] = {}
        for at, name, code, why in list(self.not_ready):
            if since <= at <= until and name not in seen:
                seen[name] = f"{code} {why}".strip()[:160]
        return seen

    # ------------------------------------------------------------ exact accounting

    def checkpoint(self, accounts: Accounts, replicas: list[str], timeout: float) -> dict:
        """Pause the feed; wait until the accounting is exact; check suppression; resume."""
        self.paused.set()
        t = time.monotonic()
        self.flush()
        with self.lock:
            good, bad = set(self.load.good), set(self.bad_pointers)
            expected = Counter(self.load.per_person)
        result: dict[str, Any] = {}
        while True:
            with accounts.lock:
                ids_ok = accounts.canonical == good
                dlq_ok = accounts.dlq == bad
            got, mixed = accounts.per_person()
            if ids_ok and dlq_ok and got == expected and not mixed:
                break
            if time.monotonic() - t > timeout:
                with accounts.lock:
                    result["canonical_missing"] = len(good - accounts.canonical)
                    result["canonical_unexpected"] = len(accounts.canonical - good)
                    result["dlq_missing"] = sorted(bad - accounts.dlq)[:5]
                    result["dlq_unexpected"] = sorted(accounts.dlq - bad)[:5]
                people = set(got) | set(expected)
                lost = {p: expected[p] - got[p] for p in people if got[p] < expected[p]}
                doubled = {p: got[p] - expected[p] for p in people if got[p] > expected[p]}
                result |= {"lost": sum(lost.values()), "doubled": sum(doubled.values())}
                result |= {"lost_people": sorted(lost)[:10], "doubled_people": sorted(doubled)[:10]}
                result["customers_spanning_people"] = mixed
                self.failures.append(f"not accounted after {timeout:.0f}s (lost or late): {result}")
                break
            time.sleep(0.2)
        result["exact_after_s"] = round(time.monotonic() - t, 1)
        result["good"], result["bad"] = len(good), len(bad)
        for name in replicas:
            result[f"suppression_{name}"] = self.check_suppression(self.bases[name])
        result["paused_s"] = round(time.monotonic() - t, 1)
        with self.lock:
            self.mark()  # the pause is not lag
        self.paused.clear()
        return result

    def check_suppression(self, base: str, timeout: float = 60) -> dict[str, Any]:
        """Every person with a ticket: an open-high-ticket reason for exactly their open ones."""
        with self.lock:
            want = {
                p.n: (
                    p.support_id,
                    {str(t) for t, pr in p.tickets.items() if pr in ("high", "urgent")},
                )
                for p in self.load.people
                if p.had_ticket
            }
        pending, wrong = dict(want), {}
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=base, timeout=10) as http:
            while pending and time.monotonic() < deadline:
                wrong = {}
                for n, (sid, tickets) in pending.items():
                    query = {"type": "support_user_id", "value": str(sid)}
                    query |= {"channel": "email", "purpose": "marketing"}
                    try:
                        r = http.get("/v1/suppression/check", params=query)
                        body = r.json()
                        got = {
                            x["details"].get("ticket_id")
                            for x in body.get("reasons", [])
                            if x["rule"] == "open_high_priority_ticket"
                        }
                    except (httpx.HTTPError, ValueError, KeyError) as exc:
                        got, body = {f"error {exc!r}"}, {}
                    denied_ok = not tickets or body.get("allowed") is False
                    if got != tickets or not denied_ok:
                        wrong[n] = {"want": sorted(tickets), "got": sorted(map(str, got))}
                pending = {n: want[n] for n in wrong}
                if pending:
                    time.sleep(1)
        suppressed = sum(1 for _, t in want.values() if t)
        out = {"ticket_people": len(want), "should_be_suppressed": suppressed, "wrong": len(wrong)}
        if wrong:
            out["examples"] = dict(list(wrong.items())[:5])
            self.failures.append(f"suppression wrong on {base} for {len(wrong)} people: {out}")
        return out

    # ------------------------------------------------------------ the end

    def broker_lost(self) -> dict[str, Any]:
        """kill -9 the memory broker, start an empty one on its port: is it detected?"""
        self.stop.set()  # no more restarts
        time.sleep(1)  # the watcher has seen the flag
        proc = self.broker._proc
        assert proc is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        again = EmbeddedBroker(port=self.broker.port, log_file=self.workdir / "broker-2.log")
        again.start()
        self.broker = again
        t = time.monotonic()
        seen: dict[str, Any] = {}
        while time.monotonic() - t < 90 and len(seen) < len(self.procs):
            for p in self.procs:
                if p.name in seen or p.popen is None:
                    continue
                if p.name.startswith("serve"):
                    try:
                        r = httpx.get(f"{self.bases[p.name]}/v1/ready", timeout=2)
                        if r.status_code != 200:
                            seen[p.name] = {"after_s": round(time.monotonic() - t, 1)}
                            seen[p.name]["ready"] = f"{r.status_code} {r.text[:160]}"
                    except httpx.HTTPError as exc:
                        seen[p.name] = {"after_s": None, "ready": type(exc).__name__}
                elif p.popen.poll() is not None:
                    lost = [
                        line[:300]
                        for line in p.tail(40)
                        if "LOST DATA" in line or "LostData" in line
                    ]
                    seen[p.name] = {"after_s": round(time.monotonic() - t, 1)}
                    seen[p.name] |= {"exit": p.popen.returncode, "log": lost[-1:]}
            time.sleep(0.5)
        for p in self.procs:
            seen.setdefault(p.name, {"after_s": None, "note": "no sign within 90 s"})
        return seen

    def cpu(self, seconds: float) -> dict[str, Any]:
        by: Counter[str] = Counter()
        for p in self.procs:
            by[p.name.split("-")[0]] += sum(p.cpu.values())
        by["broker"] += self.broker_cpu()
        by["harness"] += time.process_time()
        return {
            "cpu_s": {k: round(v, 1) for k, v in sorted(by.items())},
            "cpu_pct_of_one_core": {k: round(100 * v / seconds, 1) for k, v in sorted(by.items())},
        }


def run(args: argparse.Namespace, workdir: Path) -> tuple[dict[str, Any], bool]:
    broker = EmbeddedBroker(log_file=workdir / "broker.log").start()
    soak = Soak(args, workdir, broker)
    accounts: Accounts | None = None
    out: dict[str, Any] = {"command": " ".join(["python -m bench.soak", *sys.argv[1:]])}
    out["date"] = datetime.now(UTC).date().isoformat()
    out["loadavg_start"] = Path("/proc/loadavg").read_text().split()[:3]
    try:
        for p in soak.procs:
            p.start()
        for base in soak.bases.values():
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{base}/v1/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.3)
        accounts = soak.accounts = Accounts(soak.settings, soak.topics, soak.load)
        threading.Thread(target=soak.watch, daemon=True).start()
        feeder = threading.Thread(target=soak.feed, daemon=True)
        t_start = time.monotonic()
        cpu0 = time.process_time()
        feeder.start()
        warm = soak.wait_caught_up(accounts, t_start, 180, LAG_S)
        out["warm_up_s"] = None if warm is None else round(warm, 1)
        if warm is None:
            soak.failures.append("the pipeline never caught up with the load before any fault")
        end = t_start + args.minutes * 60
        faults: list[dict[str, Any]] = []
        k, due = 0, t_start + args.fault_every
        while due < end - 30 and not soak.stop.is_set():
            time.sleep(max(0.0, due - time.monotonic()))
            kind = FAULTS[k % len(FAULTS)]
            t_f = time.monotonic()
            fault = {"n": k + 1, "at_s": round(t_f - t_start), "fault": kind}
            fault |= soak.inject(kind, k)
            base = soak.baseline(t_f)
            window = max(LAG_S, 2 * base)
            took = soak.wait_caught_up(accounts, t_f, args.recover_timeout, window)
            t_r = time.monotonic()
            during = [lag for at, lag in list(soak.lags) if t_f <= at <= t_r]
            fault |= {"lag_before_s": round(base, 1), "window_s": round(window, 1)}
            fault["max_lag_s"] = round(max(during, default=0.0), 1)
            fault["caught_up_s"] = None if took is None else round(took, 1)
            fault["non_ready"] = soak.went_non_ready(t_f, t_r)
            if took is None:
                soak.failures.append(
                    f"fault {k + 1} ({kind}) not caught up in {args.recover_timeout}s"
                )
                fault["logs"] = {p.name: p.tail(5) for p in soak.procs}
            fault["checkpoint"] = soak.checkpoint(accounts, [f"serve-{'ab'[k % 2]}"], 600)
            faults.append(fault)
            print(json.dumps(fault), file=sys.stderr, flush=True)
            k += 1
            due = max(due + args.fault_every, time.monotonic() + 10)
        time.sleep(max(0.0, end - time.monotonic()))
        soak.stop_feed.set()
        feeder.join(10)
        seconds = time.monotonic() - t_start
        final = soak.checkpoint(accounts, list(soak.bases), 600)
        out["faults"] = faults
        out["final"] = final
        out |= {
            "minutes": round(seconds / 60, 1),
            "raw_records": soak.raw_records,
            "good_events": len(soak.load.good),
            "duplicates": soak.duplicates,
            "bad_events": soak.bad_sent,
            "canonical_signal_ids": len(accounts.canonical),
            "canonical_records": accounts.canonical_records,
            "dlq_letters_for_raw": len(accounts.dlq),
            "dlq_kinds": dict(accounts.dlq_kinds),
            "dlq_other": accounts.dlq_other[:10],
            "folded_signals": accounts.folded(),
            "customers": len(accounts.customers),
            "rate_records_per_s": round(soak.raw_records / seconds),
            "restarts": dict(soak.restarts),
            "crashes": soak.crashes,
        }
        out["lost"] = final.get("lost", 0)
        out["doubled"] = final.get("doubled", 0)
        out |= soak.cpu(seconds)
        out["harness_cpu_s"] = round(time.process_time() - cpu0, 1)
        out["loadavg_mean"] = round(sum(soak.loadavg) / max(1, len(soak.loadavg)), 2)
        out["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
        if soak.crashes:
            soak.failures.append(f"{len(soak.crashes)} process(es) exited unasked: {soak.crashes}")
        if args.broker_kill:
            out["broker_kill_at_end"] = soak.broker_lost()
    finally:
        soak.stop.set()
        soak.stop_feed.set()
        if accounts is not None:
            accounts.close()
        for p in soak.procs:
            if p.popen is not None and p.popen.poll() is None:
                p.popen.terminate()
        for p in soak.procs:
            if p.popen is not None:
                try:
                    p.popen.wait(10)
                except subprocess.TimeoutExpired:
                    p.popen.kill()
        soak.broker.stop()
        broker.stop()
        out["left_behind_killed"] = kill_marked(os.environ[MARKER])
    out["failures"] = soak.failures
    return out, not soak.failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--fault-every", type=float, default=180, help="seconds between faults")
    parser.add_argument("--rate", type=float, default=300, help="raw records per second")
    parser.add_argument("--people", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--recover-timeout", type=float, default=300)
    parser.add_argument(
        "--no-broker-kill",
        dest="broker_kill",
        action="store_false",
        help="skip the last fault: kill -9 of the memory broker, an empty one in its place",
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the cleanup still runs
    os.environ[MARKER] = uuid.uuid4().hex  # every child inherits it: nothing is left behind
    workdir = Path(tempfile.mkdtemp(prefix="signalfold-soak-"))
    out, ok = run(args, workdir)
    out["workdir"] = str(workdir)
    print(json.dumps(out, indent=1, default=str))
    if not ok:
        print("SOAK FAILED:", *out["failures"], sep="\n  ", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
