"""Decision benchmarks: single check over HTTP at a fixed rate, batch of 10,000, local mode.

1. HTTP single check: a serving app (``create_app`` with the shipped policy, a
   key file and the decision log, as ``signalfold serve`` builds and runs it:
   uvloop + httptools, behind ``FastFront``) runs in a child process on
   loopback; this process is an open-loop load generator (raw asyncio
   HTTP/1.1 over keep-alive connections) sending
   ``--rate`` requests/s for ``--seconds``. Latency is measured from each
   request's *scheduled* send time, so a stalled server cannot hide queueing.
2. Batch: ``POST /v1/suppression/check`` with 10,000 mixed identifiers (email,
   phone, customer id, crm id, unknown), body pre-encoded; round trip per call.
3. Local mode: ``LocalDecisions.check`` on an in-process view (the same call a
   bot makes in local mode, minus the Kafka consumer filling the view).

Customers are folded from signals through ``CustomerAggregate`` and the
shipped policy, so states carry real flags (a third have an open ticket).

Usage: ``python -m bench.decisions [--customers 20000] [--rate 2000] [--seconds 10]
[--parts single,batch,local]``. The single check also reports the server's CPU
time per request (from ``/proc``), which the machine's other load barely moves.
Prints one JSON line; docs/benchmarks.md records the figures with date and command.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
KEY = "sf_bench_key"


def _view(customers: int) -> Any:
    """A ServingView with ``customers`` folded states and their identifier index."""
    from signalfold.schemas.signal import Signal, make_signal_id
    from signalfold.sinks.view import ServingView
    from signalfold.streams.policy import load_policy
    from signalfold.streams.state import CustomerAggregate

    policy = load_policy()
    view = ServingView()
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
    view.apply(states=states, index=index)
    return view


def _serve(port: int, customers: int, data_dir: str, ready: Any) -> None:
    import functools

    import duckdb
    import uvicorn

    from signalfold.settings import Settings
    from signalfold.sinks._fast_check import FastFront
    from signalfold.sinks.api import create_app
    from signalfold.sinks.auth import hash_key
    from signalfold.sinks.decision_log import open_decision_log
    from signalfold.sinks.serve import SERVER_OPTIONS
    from signalfold.sinks.store import Store
    from signalfold.streams.policy import decide, load_policy

    keys = Path(data_dir) / "keys.yaml"
    keys.write_text(f"keys:\n  - {{name: bench, role: marketing_bot, hash: {hash_key(KEY)}}}\n")
    store = Store(duckdb.connect(":memory:"))
    store.setup()
    app = create_app(
        _view(customers),
        store,
        Settings(api_keys_file=keys),
        clock=lambda: NOW,
        decide=functools.partial(decide, policy=load_policy()),
        decision_log=open_decision_log(Path(data_dir)),
    )
    config = uvicorn.Config(
        FastFront(app),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        **SERVER_OPTIONS,
    )
    server = uvicorn.Server(config)
    ready.set()
    server.run()


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


def _batch(port: int, customers: int, runs: int, pid: int) -> dict[str, Any]:
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
    times = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        headers = {"X-API-Key": KEY, "content-type": "application/json"}
        cpu = None
        for run in range(runs + 1):
            if run == 1:  # the first call warms up
                time.sleep(0.5)  # its decision-log rows are written
                cpu = _cpu_seconds(pid)
            t0 = time.perf_counter()
            r = http.post("/v1/suppression/check", content=body, headers=headers)
            times.append(time.perf_counter() - t0)
            assert r.status_code == 200, r.text[:300]
        counts = r.json()["counts"]
        time.sleep(0.5)
    times = sorted(times[1:])
    return {
        "checks": 10_000,
        "median_ms": round(statistics.median(times) * 1000, 1),
        "best_ms": round(times[0] * 1000, 1),
        "server_cpu_us_per_decision": _per(pid, cpu, 10_000 * runs),
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
    }
    if parts & {"single", "batch"}:
        port = free_port()
        ctx = multiprocessing.get_context("spawn")
        with tempfile.TemporaryDirectory() as data_dir:
            ready = ctx.Event()
            server = ctx.Process(target=_serve, args=(port, args.customers, data_dir, ready))
            server.start()
            try:
                ready.wait(300)
                time.sleep(1.0)
                import httpx

                for _ in range(100):  # wait until it listens, then warm up
                    try:
                        httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1)
                        break
                    except httpx.TransportError:
                        time.sleep(0.1)
                if "single" in parts:
                    asyncio.run(_open_loop(port, args.rate // 4, 2, args.customers))
                    cpu = _cpu_seconds(server.pid)
                    out["http_single"] = single = asyncio.run(
                        _open_loop(port, args.rate, args.seconds, args.customers)
                    )
                    single["server_cpu_us_per_request"] = _per(server.pid, cpu, single["requests"])
                if "batch" in parts:
                    out["http_batch_10k"] = _batch(
                        port, args.customers, args.batch_runs, server.pid
                    )
            finally:
                server.terminate()
                server.join(10)
    if "local" in parts:
        out["local_check"] = _local(args.customers, 20_000)
    print(json.dumps(out))


def _cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) of process ``pid`` so far; ``None`` off Linux."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _per(pid: int, before: float | None, count: int) -> float | None:
    """Server CPU µs per item since ``before`` (includes its decision-log writes so far)."""
    after = _cpu_seconds(pid)
    if before is None or after is None or not count:
        return None
    return round((after - before) / count * 1e6, 1)


if __name__ == "__main__":
    main()
