"""The example marketing bot: reads a send list, prints who it skips and why.

The last test runs it as the README prints it (``examples/marketing_bot.py
examples/send_list.csv``, by its run bit and shebang, with a ``python3`` that
has no signalfold) against an API over the demo data ``make run`` feeds,
folded in process by the same stage objects the workers run.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
import uvicorn

from bench.stages import Log
from signalfold.identity.graph import IdentityGraph
from signalfold.policy import load_policy
from signalfold.schemas import SuppressionDecision
from signalfold.schemas.contract import load_contracts
from signalfold.settings import Settings
from signalfold.sinks.api import create_app
from signalfold.sinks.materializer import Materializer
from signalfold.sinks.store import Store
from signalfold.sinks.view import ServingView
from signalfold.streams.demo import generate_demo
from signalfold.streams.stages.ingest import IngestStage
from signalfold.streams.stages.resolve import ResolveStage
from signalfold.streams.stages.state import StateStage
from signalfold.streams.topics import Topics

ROOT = Path(__file__).resolve().parents[3]
BOT = ROOT / "examples/marketing_bot.py"
NOW = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def _bot():
    spec = importlib.util.spec_from_file_location("marketing_bot", BOT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_send_list_lines_become_mixed_identifiers():
    people = _bot().recipients(ROOT / "examples/send_list.csv")
    assert people == [
        {"email": "Noah.Wilson12@Example.Net"},
        {"email": "amira.khan25@example.org"},
        {"phone": "07911 100150"},
        {"type": "crm_contact_id", "value": "00337DC76F0F17A300"},
        {"email": "liam.khan258@example.net"},
        {"email": "amira.jones199@mail.example"},
        {"email": "tom.khan217@example.net"},
        {"email": "someone.new@example.com"},
    ]


def test_report_prints_skips_with_reasons(capsys):
    deny = SuppressionDecision.model_validate(
        {
            "outcome": "deny",
            "allowed": False,
            "channel": "email",
            "purpose": "marketing",
            "reasons": [
                {
                    "rule": "open_high_priority_ticket",
                    "department": "support",
                    "effect": "deny",
                    "text": "Open high-priority ticket 9001",
                    "source": "support",
                    "source_event_id": "zd-1",
                    "signal_id": "sig_x",
                    "since": NOW,
                }
            ],
            "customer_id": "c1",
            "state_version": 2,
            "known": True,
            "evaluated_at": NOW,
        }
    )
    allow = deny.model_copy(update={"outcome": "allow", "allowed": True, "reasons": []})
    sent = _bot().report([{"email": "a@x.com"}, {"email": "b@x.com"}], [deny, allow])
    out = capsys.readouterr()
    assert sent == 1
    assert "skip a@x.com: deny" in out.out
    assert "[support/open_high_priority_ticket] Open high-priority ticket 9001" in out.out
    assert "from support event zd-1" in out.out
    assert "1 of 2 recipients" in out.err


def test_the_bot_runs_by_its_name():
    assert BOT.read_text(encoding="utf-8").startswith("#!/usr/bin/env python3\n")
    assert os.access(BOT, os.X_OK)
    if (ROOT / ".git").exists():
        staged = subprocess.run(
            ["git", "ls-files", "-s", "examples/marketing_bot.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        assert staged.stdout.startswith("100755 "), "the run bit is not in git"


def _demo_view() -> ServingView:
    """The demo ``make run`` feeds (300 people, seed 7, ending now), folded in process."""
    now = datetime.now(UTC)
    clock = lambda: now  # noqa: E731
    topics, log = Topics("demo."), Log()
    events = generate_demo(people=300, seed=7)
    raws = [log.message(topics.raw(e.source), e.key.encode(), e.value) for e in events]
    ingest = IngestStage(load_contracts(), topics, max_event_bytes=256 * 1024, clock=clock)
    canonical = [
        log.message(o.topic, o.key, o.value)
        for o in ingest.process(raws)
        if o.topic == topics.canonical
    ]
    resolve = ResolveStage(
        lambda: IdentityGraph(default_region="GB", clock=clock),
        topics,
        default_region="GB",
        rebuild=lambda graph: 0,
        clock=clock,
    )
    published = [log.message(o.topic, o.key, o.value) for o in resolve.process(canonical)]
    state = StateStage(topics, load_policy(), {}, clock=clock, policy_reload_seconds=1e9)
    pending = [m for m in published if m.topic() == topics.resolved]
    while pending:  # transfers and forwarded signals go round again, as on Kafka
        records = [log.message(o.topic, o.key, o.value) for o in state.process(pending)]
        published += records
        pending = [m for m in records if m.topic() == topics.resolved]
    view, store = ServingView(), Store(duckdb.connect())
    store.setup()
    served = {topics.customer_state, topics.identity_index, topics.resolved}
    Materializer({}, topics, view, store)._apply([m for m in published if m.topic() in served])
    return view


@pytest.fixture(scope="module")
def demo_api() -> Iterator[str]:
    store = Store(duckdb.connect())
    store.setup()
    app = create_app(_demo_view(), store, Settings())
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)


def _python_without_signalfold() -> str | None:
    """A PATH whose ``python3`` cannot import signalfold (as a newcomer's shell has)."""
    venv_bin = str(Path(sys.prefix) / "bin")
    dirs = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d and d != venv_bin]
    return os.pathsep.join(dirs) if shutil.which("python3", path=os.pathsep.join(dirs)) else None


def test_the_readme_line_skips_real_demo_customers_with_their_reasons(demo_api) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    path = _python_without_signalfold()
    if path is not None and (ROOT / ".venv/bin/python").exists():
        env["PATH"] = path  # the shebang's python3 has no signalfold: the bot finds .venv
    run = subprocess.run(
        ["examples/marketing_bot.py", "examples/send_list.csv", "--url", demo_api],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    out = run.stdout
    skipped = [line.split(":")[0] for line in out.splitlines() if line.startswith("skip ")]
    assert skipped == [
        "skip Noah.Wilson12@Example.Net",
        "skip amira.khan25@example.org",
        "skip 07911 100150",
        "skip crm_contact_id",
        "skip liam.khan258@example.net",
    ]
    for reason in (
        "[marketing/unsubscribed] Consent for email withdrawn",
        "[support/open_high_priority_ticket] Open high-priority ticket",
        "[sales/defective_return] Returned SKU-LAMP",
        "[sales/late_stage_deal] Open deal",
        "[billing/payment_disputed] Payment disputed",
    ):
        assert reason in out, out
    assert "from support event" in out and "event ?" not in out
    assert "3 of 8 recipients may receive this campaign" in run.stderr
