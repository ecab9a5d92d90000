"""``signalfold run``: the whole pipeline on one machine, as ``make run`` starts it.

Starts the embedded broker unless ``SIGNALFOLD_KAFKA_BOOTSTRAP`` names one,
creates the topics, starts one process per stage plus the API, optionally
feeds the demo, prints what to try, and then watches every child:

- a stage or API process that exits unasked is started again after a backoff
  (1 s, doubling to 30 s; reset once it has run for a minute), and the others
  go on: one crash does not stop the pipeline;
- the embedded broker keeps everything in memory by default, so if it exits,
  every topic and offset is gone: that is reported loudly and everything
  stops (exit code 3), rather than starting again from nothing behind the
  operator's back. Given an object store (``SIGNALFOLD_EMBEDDED_STORAGE``,
  ``s3://…``) its data outlives it: it is started again with the same backoff,
  and the stages and the API reconnect and resume from their commits.

On Ctrl-C (or SIGTERM) it stops everything it started — children first,
broker last — with no orphans (children also get SIGTERM from the kernel if
this process dies).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from confluent_kafka import TopicPartition

from signalfold.bootstrap import STAGES, create_topics
from signalfold.commands import Progress
from signalfold.errors import StartupError
from signalfold.settings import Settings
from signalfold.streams.broker import BrokerError, EmbeddedBroker
from signalfold.streams.kafka import consumer, die_with_parent, is_fence, producer
from signalfold.streams.topics import Topics, ensure_topics

__all__ = ["BROKER_LOST", "Child", "feed_demo", "run"]

#: ``signalfold run``'s exit code when the embedded broker died (its data with it).
BROKER_LOST = 3
#: Restart backoff: first delay, ceiling, and how long a run resets it.
_BACKOFF_FIRST, _BACKOFF_MAX, _HEALTHY_AFTER = 1.0, 30.0, 60.0


def feed_demo(
    settings: Settings, *, people: int = 300, seed: int = 7, bad: bool = True
) -> tuple[int, int]:
    """Produce the demo generator's events onto the raw topics.

    Returns (events produced, of which well-formed): every well-formed event
    becomes a signal, every malformed one a dead letter.
    """
    from signalfold.streams.demo import bad_demo_events, generate_demo

    topics = Topics(settings.topic_prefix)
    events = list(generate_demo(people=people, seed=seed))
    good = len(events)
    if bad:
        events += list(bad_demo_events(seed))
    # The bad events include one from a source with no contract: give it a topic.
    ensure_topics(
        settings.kafka_client_config(),
        sorted({topics.raw(e.source) for e in events}),
        settings.partitions,
        settings.replication_factor,
    )
    prod = producer(settings.kafka_client_config())
    for event in events:
        prod.produce(topics.raw(event.source), key=event.key.encode(), value=event.value)
        prod.poll(0)
    prod.flush(30)
    return len(events), good


def wait_folded(settings: Settings, signals: int, stop: threading.Event, timeout: float) -> bool:
    """Wait until ``customer.state`` accounts for ``signals`` signals (sum of counters)."""
    from signalfold.bootstrap import key_log

    topics = Topics(settings.topic_prefix)
    reader = consumer(settings.kafka_client_config(), None)
    meta = reader.list_topics(topics.customer_state, timeout=10).topics[topics.customer_state]
    reader.assign([TopicPartition(topics.customer_state, p, 0) for p in meta.partitions])
    latest: dict[bytes, int] = {}
    keys = key_log(settings)  # states are sealed with their customer's key
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not stop.is_set():
            for message in reader.consume(2000, 0.2):
                if message.error() is not None or is_fence(message):
                    continue
                value = keys.open(message.value())
                count = sum(json.loads(value)["counters"].values()) if value else 0
                latest[message.key() or b""] = count
            if sum(latest.values()) >= signals:
                return True
    finally:
        reader.close()
    return False


def _spawn(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "signalfold.cli", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )


@dataclass
class Child:
    """One supervised process: how to start it, and its restart backoff."""

    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    restarts: int = 0
    due: float | None = field(default=None, repr=False)  # when a restart is due

    def start(self, now: float) -> None:
        self.proc, self.started, self.due = _spawn(self.args, self.env, self.log), now, None

    def exited(self, now: float) -> float | None:
        """If the process has exited: schedule its restart and return the delay."""
        if self.proc is None or self.proc.poll() is None:
            return None
        if now - self.started >= _HEALTHY_AFTER:
            self.restarts = 0  # it ran well for a while: this is a new failure, not a loop
        delay = min(_BACKOFF_MAX, _BACKOFF_FIRST * 2**self.restarts)
        self.restarts += 1
        self.proc, self.due = None, now + delay
        return delay

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def wait(self) -> None:
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@dataclass
class _Broker:
    """The embedded broker under watch: started again if its data outlives it."""

    broker: EmbeddedBroker
    logs: Path
    restarts: int = 0
    started: float = 0.0
    due: float | None = None

    def lost(self, now: float) -> bool:
        """Start it again when due; True if it died and took its data with it."""
        code = self.broker.returncode
        if self.due is None and code is not None:
            if not self.broker.persistent:
                _lost(code, self.logs)
                return True
            self._retry(now, f"the embedded broker exited with code {code}")
        elif self.due is not None and now >= self.due:
            try:
                self.broker.start()
            except BrokerError as exc:
                self._retry(now, f"the embedded broker did not start ({exc})")
            else:
                self.due, self.started = None, now
                print("embedded broker started again; the stages reconnect", flush=True)
        return False

    def _retry(self, now: float, what: str) -> None:
        if now - self.started >= _HEALTHY_AFTER:
            self.restarts = 0
        delay = min(_BACKOFF_MAX, _BACKOFF_FIRST * 2**self.restarts)
        self.restarts += 1
        self.due = now + delay
        print(
            f"{what}; what it held is kept in {_where(self.broker.storage)}, so it is started "
            f"again in {delay:.0f}s (restart {self.restarts}); see {self.logs}/broker.log",
            flush=True,
        )


def _where(storage: str) -> str:
    """The storage URL without credentials, for a message."""
    url = urlsplit(storage)
    return f"{url.scheme}://{url.hostname or ''}{url.path}"


def _lost(code: int, logs: Path) -> None:
    print(
        f"\nsignalfold run: THE EMBEDDED BROKER EXITED (code {code}); see "
        f"{logs}/broker.log. It keeps every topic and offset in memory only, so "
        "everything it held is gone: signals, identity log, states, decisions log. "
        "signalfold will not rebuild from nothing behind your back, so everything "
        "stops now. Start over with `make run` (the demo is fed again), run the "
        "embedded broker on an object store (SIGNALFOLD_EMBEDDED_STORAGE=s3://…), or "
        "run against a Kafka that keeps its data (SIGNALFOLD_KAFKA_BOOTSTRAP).",
        file=sys.stderr,
        flush=True,
    )


def _watch(
    children: list[Child], broker: EmbeddedBroker | None, stop: threading.Event, logs: Path
) -> int:
    """Keep every child (and a persistent broker) running until ``stop``; 0, or ``BROKER_LOST``."""
    watched = _Broker(broker, logs, started=time.monotonic()) if broker is not None else None
    while not stop.is_set():
        now = time.monotonic()
        if watched is not None and watched.lost(now):
            return BROKER_LOST
        for child in children:
            if child.proc is not None:
                code = child.proc.returncode if child.proc.poll() is not None else None
                delay = child.exited(now)
                if delay is not None:
                    print(
                        f"{child.name} exited with code {code}; starting it again in "
                        f"{delay:.0f}s (restart {child.restarts}); see {child.log}",
                        flush=True,
                    )
            elif child.due is not None and now >= child.due:
                child.start(now)
                print(f"{child.name} started again", flush=True)
        stop.wait(0.25)
    return 0


def _wait_ready(base: str, procs: dict[str, subprocess.Popen[bytes]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise StartupError(f"{name} exited with code {proc.returncode}; see its log")
        try:
            if httpx.get(f"{base}/v1/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise StartupError(f"the API did not answer on {base} within {timeout:.0f}s; see the api log")


def _example_email(settings: Settings, base: str) -> tuple[str | None, str | None]:
    """Find a demo email that is suppressed and one that is allowed, via the API.

    Asked through ``/v1/suppression/explain``, which answers the same decision
    without writing it to the decision log: these probes contact nobody, so
    they must not appear in the audit trail as a surface's answers.
    """
    from signalfold.streams.demo import generate_demo

    denied = allowed = None
    # One client for every probe: ``httpx.get`` builds a client (and its TLS context)
    # per call, about 0.12 s each, where a kept connection answers in milliseconds.
    with httpx.Client(timeout=2) as http:
        for event in generate_demo(people=50, seed=7):
            if event.source != "marketing":
                continue
            email = json.loads(event.value).get("email", "").strip()
            if not email:
                continue
            r = http.get(
                f"{base}/v1/suppression/explain",
                params={"email": email, "channel": "email", "purpose": "marketing"},
            )
            decision = r.json().get("decision", {}) if r.status_code == 200 else {}
            if not decision.get("known"):
                continue
            if decision["allowed"]:
                allowed = allowed or email
            else:
                denied = denied or email
            if denied and allowed:
                break
    return denied, allowed


def _print_try(base: str, denied: str | None, allowed: str | None, logs: Path) -> None:
    email = denied or allowed or "someone@example.com"
    print(
        f"""
signalfold is running. API: {base}   (OpenAPI: {base}/docs)   logs: {logs}/

Try:
  curl -s '{base}/v1/suppression/check?email={email}&channel=email&purpose=marketing' \\
      | python3 -m json.tool
  curl -s '{base}/v1/customers/lookup?email={email}' | python3 -m json.tool
  curl -s "{base}/v1/customers/$(curl -s '{base}/v1/customers/lookup?email={email}' \\
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["customer_id"])' \\
      )/timeline?limit=5" | python3 -m json.tool
"""
        + (
            f"  curl -s '{base}/v1/suppression/check?email={allowed}"
            "&channel=email&purpose=marketing' | python3 -m json.tool\n"
            if allowed and denied
            else ""
        )
        + "\nCtrl-C stops everything.",
        flush=True,
    )


def run(settings: Settings, *, demo: bool = False, people: int = 300) -> int:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    logs = settings.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    broker = None
    children: list[Child] = []
    try:
        env = dict(os.environ)
        if settings.kafka_bootstrap is None:
            broker = EmbeddedBroker(
                port=settings.embedded_port,
                log_file=logs / "broker.log",
                storage=settings.embedded_storage,
            )
            broker.start()
            env["SIGNALFOLD_KAFKA_BOOTSTRAP"] = broker.bootstrap
            settings = settings.model_copy(update={"kafka_bootstrap": broker.bootstrap})
            print(f"embedded broker on {broker.bootstrap}", flush=True)
        create_topics(settings)
        for stage in STAGES:
            children.append(Child(stage, ["worker", "--stage", stage], env, logs / f"{stage}.log"))
        replicas = settings.serve_processes  # more than one: they share the port
        for replica in range(replicas):
            name = "serve" if replicas == 1 else f"serve-{replica}"
            extra = {} if replicas == 1 else {"SIGNALFOLD_API_REPLICA": str(replica)}
            children.append(Child(name, ["serve"], env | extra, logs / f"{name}.log"))
        for child in children:
            child.start(time.monotonic())
        base = f"http://{settings.api_host}:{settings.api_port}"
        denied = allowed = None
        notes: list[str] = []  # printed once the spinner is gone, so lines stay whole
        # A spinner on a terminal saying what start-up waits for; nothing in a log or a pipe.
        with Progress("starting the stages and the API") as progress:
            procs = {c.name: c.proc for c in children if c.proc is not None}
            _wait_ready(base, procs, timeout=60)
            if demo:
                progress.step("feeding the demo events")
                sent, good = feed_demo(settings, people=people)
                progress.step(f"waiting for {good} demo signals to fold")
                notes.append(f"fed {sent} demo events ({good} well-formed) and let them fold")
                if not wait_folded(settings, good, stop, timeout=180):
                    notes.append("the demo is still folding; answers below may still change")
                progress.step("finding example customers over the API")
                deadline = time.monotonic() + 60
                while not (denied and allowed) and time.monotonic() < deadline:
                    if stop.is_set():
                        break
                    time.sleep(1)  # let the API catch up with the last states
                    denied, allowed = _example_email(settings, base)
        for note in notes:
            print(note, flush=True)
        _print_try(base, denied, allowed, logs)
        return _watch(children, broker, stop, logs)
    except (StartupError, RuntimeError) as exc:
        print(f"signalfold run: {exc}", file=sys.stderr)
        return 1
    finally:
        print("stopping…", flush=True)
        for child in children:
            child.stop()
        for child in children:
            child.wait()
        if broker is not None:
            broker.stop()
        print("stopped.", flush=True)
