"""``make run``'s flow as a user lives it: start, feed the demo, query over HTTP, Ctrl-C.

Runs ``signalfold run --demo`` (what ``make run`` calls) in its own process
with the embedded broker, follows the curl lines it prints, then sends SIGINT
and checks that every process it started is gone.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from signalfold.streams.broker import free_port

pytestmark = pytest.mark.e2e


def _processes_with(marker: str) -> list[int]:
    """PIDs whose environment carries ``marker`` (everything ``run`` started inherits it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _read_until(proc: subprocess.Popen[str], pattern: str, timeout: float) -> str:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        seen.append(line)
        if re.search(pattern, line):
            return "".join(seen)
    raise AssertionError(f"no line matching {pattern!r}; output so far:\n{''.join(seen)}")


def test_run_with_demo_answers_over_http_and_stops_cleanly(tmp_path: Path) -> None:
    marker = f"SIGNALFOLD_E2E_MARK=e2e{uuid.uuid4().hex}"
    api_port = free_port()
    env = {
        **os.environ,
        "SIGNALFOLD_EMBEDDED_PORT": str(free_port()),
        "SIGNALFOLD_API_PORT": str(api_port),
        "SIGNALFOLD_DATA_DIR": str(tmp_path),
        marker.split("=")[0]: marker.split("=")[1],
    }
    env.pop("SIGNALFOLD_KAFKA_BOOTSTRAP", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "signalfold.cli", "run", "--demo", "--people", "120"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        printed = _read_until(proc, r"Ctrl-C stops everything", timeout=240)
        base = f"http://127.0.0.1:{api_port}"
        assert base in printed
        # The printed curl lines work as printed: a suppressed and an allowed email.
        checks = re.findall(r"curl -s '(http://[^']+/v1/suppression/check\?[^']+)'", printed)
        assert len(checks) == 2, printed
        denied = httpx.get(checks[0], timeout=5).json()
        assert denied["known"] and denied["outcome"] == "deny"
        assert denied["reasons"] and denied["reasons"][0]["source_event_id"]
        allowed = httpx.get(checks[1], timeout=5).json()
        assert allowed["known"] and allowed["outcome"] == "allow"
        lookup = re.search(r"curl -s '(http://[^']+/v1/customers/lookup\?[^']+)'", printed)
        assert lookup is not None
        customer = httpx.get(lookup.group(1), timeout=5).json()
        assert customer["customer_id"] == denied["customer_id"]
        timeline = httpx.get(
            f"{base}/v1/customers/{customer['customer_id']}/timeline",
            params={"limit": 5},
            timeout=5,
        ).json()
        assert timeline["items"]
        assert _processes_with(marker), "the pipeline processes carry the marker"
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "stopped." in out
    assert "Traceback" not in out
    deadline = time.monotonic() + 10
    while _processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _processes_with(marker), "no orphans: broker, workers and API all stopped"
    for log in (tmp_path / "logs").glob("*.log"):
        text = log.read_text()
        assert "Traceback" not in text, f"{log.name}:\n{text[-2000:]}"
        assert "@example" not in text, f"{log.name} logs an email address"
