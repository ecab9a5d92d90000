"""Decision benchmarks: single check over HTTP at a fixed rate, batch of 10,000, local mode.

1. HTTP single check: ``--servers`` real ``signalfold serve`` processes (the
   ``serve`` function itself: uvloop, ``FastHttpProtocol``, ``FastFront``,
   the materializer, the decision log published to ``decisions.log`` and
   read back) on an embedded Tansu broker whose topics hold the folded
   customers' states and identifier index. With more than one server they
   share the port as replicas do (``SIGNALFOLD_API_REPLICA``,
   ``SO_REUSEPORT``). The load comes from ``wrk`` when it is on PATH
   (``apt-get install wrk``; ``bench/wrk_check.lua`` gives ``--connections``
   keep-alive connections one shared schedule of ``--rate`` requests/s;
   latency is from each request's actual send, so a server that falls behind
   shows a lower achieved rate and only part of its queueing: wrk's
   coordinated-omission caveat). Otherwise this process is an open-loop
   Python generator (raw asyncio HTTP/1.1) whose latency is from each
   request's *scheduled* send time, but which costs most of a core at 2,000
   requests/s. Requests walk through the customers, so almost every check
   asks about someone not asked about before (a send list's pattern).
2. Batch: ``POST /v1/suppression/check`` with 10,000 mixed identifiers (email,
   phone, customer id, crm id, unknown), body pre-encoded; round trip per call.
   ``median_ms``/``best_ms``: calls a second apart, once the previous call's
   10,000 decision-log rows are published and read back; ``back_to_back_median_ms``:
   the same number of calls in a row, each sharing the CPU with the last one's log.
3. Local mode: ``LocalDecisions.check`` on an in-process view (the same call a
   bot makes in local mode, minus the Kafka consumer filling the view).

Customers are folded from signals through ``CustomerAggregate`` and the
shipped policy, so states carry real flags (a third have an open ticket).

Usage: ``python -m bench.decisions [--customers 20000] [--rate 2000] [--seconds 10]
[--servers 1] [--connections 20] [--no-wrk] [--parts single,batch,local]``. The
single check also reports the servers' CPU time per request (from ``/proc``:
every thread, so the decision log's publishing and reading back are in it),
which the machine's other load barely moves.
Prints one JSON line; docs/benchmarks.md records the figures with date and command.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import shutil
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.proc import cpu_seconds

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
KEY = "sf_bench_key"


def _folded(customers: int) -> tuple[list[tuple[str, bytes]], list[tuple[str, str]]]:
    """``customers`` folded states (id, ``customer.state`` JSON) and their index entries."""
    from signalfold.policy import load_policy
    from signalfold.schemas.signal import Signal, make_signal_id
    from signalfold.streams.state import CustomerAggregate

    policy = load_policy()
    states, index = [], []
    for i in range(customers):
        agg = CustomerAggregate(f"cus_{i}")
        at = NOW - timedelta(days=1)
        sent = Signal(
            signal_id=make_signal_id("marketing", f"m{i}"),
            source="marketing",
            source_event_id=f"m{i}",
            record_key=f"r{i}",
            type="marketing.email.sent",
            occurred_at=at,
            received_at=at,
            payload={"campaign_id": "C1"},
        )
        agg.apply(sent)
        if i % 3 == 0:
            opened = sent.model_copy(
                update={
                    "signal_id": make_signal_id("support", f"t{i}"),
                    "source": "support",
                    "source_event_id": f"t{i}",
                    "type": "support.ticket.opened",
                    "payload": {"ticket_id": f"T{i}", "priority": "high"},
                }
            )
            agg.apply(opened)
        states.append((agg.customer_id, agg.to_state(policy, NOW).model_dump_json().encode()))
        index.append((f"email:user{i}@example.com", agg.customer_id))
        index.append((f"phone:+4479{i:08d}", agg.customer_id))
        index.append((f"crm_contact_id:crm{i}", agg.customer_id))
    return states, index


def _view(customers: int) -> Any:
    """A ServingView with ``customers`` folded states and their identifier index."""
    from signalfold.sinks.view import ServingView

    states, index = _folded(customers)
    view = ServingView()
    view.apply(states=states, index=index)
    return view


def _publish(settings: Any, customers: int) -> None:
    """Create the topics and publish the folded states and identifier index to them."""
    from signalfold.bootstrap import create_topics
    from signalfold.streams.kafka import producer

    topics = create_topics(settings)
    states, index = _folded(customers)
    prod = producer(settings.kafka_client_config(), **{"linger.ms": 20})
    for customer_id, raw in states:
        prod.produce(topics.customer_state, key=customer_id.encode(), value=raw)
        prod.poll(0)
    for key, customer_id in index:
        value = json.dumps({"customer_id": customer_id}).encode()
        prod.produce(topics.identity_index, key=key.encode(), value=value)
        prod.poll(0)
    assert prod.flush(60) == 0, "the broker did not take the customers"


def _serve(settings_json: str) -> None:
    """One ``signalfold serve`` replica (in a child process)."""
    from signalfold.bootstrap import serve
    from signalfold.settings import Settings

    serve(Settings.model_validate_json(settings_json))


def _wait_ready(port: int, servers: int, timeout: float = 300) -> None:
    """Until ``/v1/ready`` says 200 on enough fresh connections to have met every replica."""
    import httpx

    deadline, streak = time.monotonic() + timeout, 0
    while streak < 20 * servers:
        assert time.monotonic() < deadline, "the servers did not get ready"
        try:
            ok = httpx.get(f"http://127.0.0.1:{port}/v1/ready", timeout=2).status_code == 200
        except httpx.TransportError:
            ok = False
        streak = streak + 1 if ok else 0
        if not ok:
            time.sleep(0.2)


async def _open_loop(port: int, rate: int, seconds: float, customers: int) -> dict[str, Any]:
    """Fixed-rate requests over a pool of keep-alive connections; latency from schedule."""
    connections = 64
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    latencies: list[float] = []
    errors = 0

    async def one(i: int, scheduled: float) -> None:
        nonlocal errors
        reader, writer = await pool.get()
        try:
            path = (
                f"/v1/suppression/check?channel=email&purpose=marketing"
                f"&email=user{i % customers}@example.com"
            )
            writer.write(f"GET {path} HTTP/1.1\r\nHost: b\r\nX-API-Key: {KEY}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
            await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200"):
                errors += 1
            latencies.append(time.perf_counter() - scheduled)
        finally:
            pool.put_nowait((reader, writer))

    total = int(rate * seconds)
    start = time.perf_counter() + 0.05
    tasks = []
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, scheduled)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "requests": total,
        "achieved_rps": round(total / elapsed),
        "errors": errors,
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
        "max_ms": round(latencies[-1] * 1000, 2),
    }


def _wrk(port: int, rate: int, seconds: float, customers: int, connections: int) -> dict[str, Any]:
    """``wrk`` with ``bench/wrk_check.lua``: ``connections`` connections, one ``rate`` schedule."""
    script = Path(__file__).with_name("wrk_check.lua")
    cmd = [
        "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "5s",
        "-s", str(script), f"http://127.0.0.1:{port}",
        "--", str(customers), KEY, str(rate),
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    stats = json.loads(out.strip().splitlines()[-1])
    elapsed = stats["duration_us"] / 1e6
    return {
        "generator": f"wrk, {connections} connections on one {rate}/s schedule",
        "requests": stats["requests"],
        "achieved_rps": round(stats["requests"] / elapsed),
        "errors": stats["errors"],
        **{f"{k}_ms": round(stats[f"{k}_us"] / 1000, 2) for k in ("p50", "p90", "p99", "p999")},
        "max_ms": round(stats["max_us"] / 1000, 2),
    }


def _batch(port: int, customers: int, runs: int, pids: list[int]) -> dict[str, Any]:
    import httpx

    kinds = [
        lambda i: {"email": f"User{i}@Example.com"},
        lambda i: {"phone": f"07 9{i:08d}"[:13]},
        lambda i: {"customer_id": f"cus_{i}"},
        lambda i: {"type": "crm_contact_id", "value": f"crm{i}"},
        lambda i: {"email": f"stranger{i}@example.com"},
    ]
    checks = [
        {**kinds[i % 5](i % customers), "channel": "email", "purpose": "marketing"}
        for i in range(10_000)
    ]
    body = json.dumps({"checks": checks}).encode()
    spaced: list[float] = []  # each call once the previous one's log rows are written
    back_to_back: list[float] = []  # calls in a row: each shares the CPU with the last's log
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        headers = {"X-API-Key": KEY, "content-type": "application/json"}

        def call() -> float:
            t0 = time.perf_counter()
            r = http.post("/v1/suppression/check", content=body, headers=headers)
            elapsed = time.perf_counter() - t0
            assert r.status_code == 200, r.text[:300]
            nonlocal counts
            counts = r.json()["counts"]
            return elapsed

        counts: dict[str, int] = {}
        call()  # warm-up
        time.sleep(1.0)
        cpu = cpu_seconds(*pids)
        for _ in range(runs):
            spaced.append(call())
            time.sleep(1.0)  # the decision log publishes and reads back this call's rows
        back_to_back = [call() for _ in range(runs)]
        time.sleep(1.0)
    spaced.sort()
    return {
        "checks": 10_000,
        "median_ms": round(statistics.median(spaced) * 1000, 1),
        "best_ms": round(spaced[0] * 1000, 1),
        "back_to_back_median_ms": round(statistics.median(back_to_back) * 1000, 1),
        "server_cpu_us_per_decision": _per(pids, cpu, 10_000 * runs * 2),
        "counts": counts,
    }


def _local(customers: int, n: int) -> dict[str, Any]:
    from signalfold.settings import Settings
    from signalfold.sinks.local import LocalDecisions

    local = LocalDecisions(Settings(), clock=lambda: NOW)
    local.view = _view(min(customers, 5000))
    for i in range(1000):  # parse states on first read, as a warmed-up bot would have
        local.check(customer_id=f"cus_{i}", channel="email", purpose="marketing")
    out = {}
    for label, ident in (
        ("customer_id", lambda i: {"customer_id": f"cus_{i % 1000}"}),
        ("email", lambda i: {"email": f"user{i % 1000}@example.com"}),
    ):
        t0 = time.perf_counter()
        for i in range(n):
            local.check(channel="email", purpose="marketing", **ident(i))
        out[f"{label}_us"] = round((time.perf_counter() - t0) / n * 1e6, 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--batch-runs", type=int, default=10)
    parser.add_argument("--servers", type=int, default=1, help="serving processes on one port")
    parser.add_argument("--connections", type=int, default=20, help="wrk connections")
    parser.add_argument(
        "--no-wrk", action="store_true", help="the Python generator even if wrk is installed"
    )
    parser.add_argument(
        "--parts",
        default="single,batch,local",
        help="comma-separated subset of single, batch, local",
    )
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    from signalfold.streams.broker import free_port

    out: dict[str, Any] = {
        "date": datetime.now(UTC).date().isoformat(),
        "customers": args.customers,
        "rate": args.rate,
        "servers": args.servers,
    }
    use_wrk = not args.no_wrk and shutil.which("wrk") is not None
    if parts & {"single", "batch"}:
        from signalfold.settings import Settings
        from signalfold.sinks.auth import hash_key
        from signalfold.streams.broker import EmbeddedBroker

        port = free_port()
        ctx = multiprocessing.get_context("spawn")
        with tempfile.TemporaryDirectory() as data_dir, EmbeddedBroker() as broker:
            keys = Path(data_dir) / "keys.yaml"
            keys.write_text(
                f"keys:\n  - {{name: bench, role: marketing_bot, hash: {hash_key(KEY)}}}\n"
            )
            settings = Settings(
                kafka_bootstrap=broker.bootstrap,
                data_dir=Path(data_dir),
                api_port=port,
                api_keys_file=keys,
                log_level="WARNING",
            )
            _publish(settings, args.customers)
            servers = []
            for replica in range(args.servers):
                shared = {"api_replica": replica} if args.servers > 1 else {}
                replica_settings = settings.model_copy(update=shared).model_dump_json()
                server = ctx.Process(target=_serve, args=(replica_settings,))
                server.start()
                servers.append(server)
            pids = [s.pid for s in servers]
            try:
                _wait_ready(port, args.servers)
                if "single" in parts:
                    if use_wrk:
                        _wrk(port, args.rate // 4, 2, args.customers, args.connections)
                        cpu = cpu_seconds(*pids)
                        single = _wrk(
                            port, args.rate, args.seconds, args.customers, args.connections
                        )
                    else:
                        asyncio.run(_open_loop(port, args.rate // 4, 2, args.customers))
                        cpu = cpu_seconds(*pids)
                        single = asyncio.run(
                            _open_loop(port, args.rate, args.seconds, args.customers)
                        )
                        single["generator"] = "python open loop, 64 connections"
                    single["server_cpu_us_per_request"] = _per(pids, cpu, single["requests"])
                    out["http_single"] = single
                if "batch" in parts:
                    out["http_batch_10k"] = _batch(port, args.customers, args.batch_runs, pids)
            finally:
                for server in servers:
                    server.terminate()
                for server in servers:
                    server.join(20)
    if "local" in parts:
        out["local_check"] = _local(args.customers, 20_000)
    print(json.dumps(out))


def _per(pids: list[int], before: float | None, count: int) -> float | None:
    """Server CPU µs per item since ``before`` (includes its decision-log writes so far)."""
    after = cpu_seconds(*pids)
    if before is None or after is None or not count:
        return None
    return round((after - before) / count * 1e6, 1)


if __name__ == "__main__":
    main()
