"""``signalfold run`` survives its children: a killed stage starts again, the pipeline
goes on; the embedded broker's death (its data with it) is reported loudly and stops all.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from signalfold.settings import Settings
from signalfold.streams.broker import free_port
from signalfold.supervisor import BROKER_LOST, feed_demo, wait_folded

pytestmark = pytest.mark.e2e


def _pids(marker: str, *words: str) -> list[int]:
    """PIDs whose environment carries ``marker`` and whose command line has ``words``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker.encode() in environ and all(w.encode() in cmdline for w in words):
            found.append(int(entry.name))
    return found


class _Output:
    """The supervisor's output, read on a thread, searchable while it runs."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.append(line)

    def close(self, proc: subprocess.Popen[str]) -> None:
        self._thread.join(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return
            time.sleep(0.1)
        raise AssertionError(f"no line with {text!r}; output:\n{''.join(self.lines)}")


def test_a_killed_stage_starts_again_and_a_lost_broker_stops_everything(tmp_path: Path) -> None:
    marker = f"e2e{uuid.uuid4().hex}"
    api_port, broker_port = free_port(), free_port()
    env = {
        **os.environ,
        "SIGNALFOLD_EMBEDDED_PORT": str(broker_port),
        "SIGNALFOLD_API_PORT": str(api_port),
        "SIGNALFOLD_DATA_DIR": str(tmp_path),
        "SIGNALFOLD_E2E_MARK": marker,
    }
    env.pop("SIGNALFOLD_KAFKA_BOOTSTRAP", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "signalfold.cli", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    out = _Output(proc)
    try:
        out.wait_for("Ctrl-C stops everything", timeout=180)
        (resolve,) = _pids(marker, "--stage", "resolve")
        os.kill(resolve, signal.SIGKILL)
        out.wait_for("resolve exited with code -9; starting it again", timeout=30)
        out.wait_for("resolve started again", timeout=30)
        assert _pids(marker, "--stage", "resolve") not in ([], [resolve])
        assert proc.poll() is None, "the rest of the pipeline went on"
        # The pipeline still folds: events in, states out, through the restarted resolve.
        settings = Settings(kafka_bootstrap=f"127.0.0.1:{broker_port}", data_dir=tmp_path)
        _, good = feed_demo(settings, people=20, bad=False)
        assert wait_folded(settings, good, threading.Event(), timeout=180)
        ready = httpx.get(f"http://127.0.0.1:{api_port}/v1/ready", timeout=5)
        assert ready.status_code == 200, ready.text
        # The embedded broker keeps data in memory: its death is loud and final.
        (tansu,) = [p for p in _pids(marker) if b"tansu" in Path(f"/proc/{p}/cmdline").read_bytes()]
        os.kill(tansu, signal.SIGKILL)
        assert proc.wait(timeout=60) == BROKER_LOST
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
        out.close(proc)
    text = "".join(out.lines)
    assert "THE EMBEDDED BROKER EXITED" in text and "stopped." in text
    deadline = time.monotonic() + 10
    while _pids(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _pids(marker), "no orphans once it stopped"


def test_a_broker_on_an_object_store_is_started_again_and_the_pipeline_goes_on(
    tmp_path: Path, object_store: str
) -> None:
    marker = f"e2e{uuid.uuid4().hex}"
    api_port, broker_port = free_port(), free_port()
    env = {
        **os.environ,  # the object_store fixture put Tansu's AWS_* variables here
        "SIGNALFOLD_EMBEDDED_PORT": str(broker_port),
        "SIGNALFOLD_EMBEDDED_STORAGE": object_store,
        "SIGNALFOLD_PARTITIONS": "1",
        "SIGNALFOLD_KAFKA_FETCH_WAIT_MS": "250",  # on an object store every fetch is a LIST
        "SIGNALFOLD_API_PORT": str(api_port),
        "SIGNALFOLD_DATA_DIR": str(tmp_path),
        "SIGNALFOLD_E2E_MARK": marker,
    }
    env.pop("SIGNALFOLD_KAFKA_BOOTSTRAP", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "signalfold.cli", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    out = _Output(proc)
    settings = Settings(kafka_bootstrap=f"127.0.0.1:{broker_port}", data_dir=tmp_path)
    try:
        out.wait_for("Ctrl-C stops everything", timeout=180)
        _, before = feed_demo(settings, people=5, bad=False)
        assert wait_folded(settings, before, threading.Event(), timeout=180)
        (tansu,) = [p for p in _pids(marker) if b"tansu" in Path(f"/proc/{p}/cmdline").read_bytes()]
        os.kill(tansu, signal.SIGKILL)
        out.wait_for("the embedded broker exited with code -9", timeout=30)
        out.wait_for("embedded broker started again", timeout=30)
        assert proc.poll() is None, "the pipeline went on"
        # What was folded before the kill is still there, and new events fold on top of it.
        _, after = feed_demo(settings, people=5, bad=False, seed=8)
        assert wait_folded(settings, before + after, threading.Event(), timeout=240)
        deadline, ready_url = time.monotonic() + 60, f"http://127.0.0.1:{api_port}/v1/ready"
        while (ready := httpx.get(ready_url, timeout=5)).status_code != 200:
            assert time.monotonic() < deadline, ready.text
            time.sleep(0.5)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
        out.close(proc)
    text = "".join(out.lines)
    assert "THE EMBEDDED BROKER EXITED" not in text and "stopped." in text
    assert "s3://tansu/" in text, "it says where the data is kept"
