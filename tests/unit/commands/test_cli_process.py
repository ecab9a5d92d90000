"""The CLI as a process: a reader that leaves, and a broker that is not there."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

CLI = [sys.executable, "-c", "import sys; from signalfold.cli import main; sys.exit(main())"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_closed_pipe_ends_quietly_with_141() -> None:
    proc = subprocess.Popen(
        [*CLI, "keys", "new", "--name", "x", "--role", "admin"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # `| head` that left before the first line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert "Traceback" not in err and "BrokenPipeError" not in err
    proc.stderr.close()


@pytest.mark.parametrize(
    "command", [["worker", "--stage", "ingest"], ["serve"], ["dlq", "inspect"]], ids=" ".join
)
def test_commands_without_a_broker_say_so_in_one_line(command: list[str], tmp_path: object) -> None:
    where = f"127.0.0.1:{_closed_port()}"
    env = {
        **os.environ,
        "SIGNALFOLD_KAFKA_BOOTSTRAP": where,
        "SIGNALFOLD_DATA_DIR": str(tmp_path),
        "SIGNALFOLD_LOG_LEVEL": "WARNING",
    }
    done = subprocess.run([*CLI, *command], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr[:2000]
    assert lines[0].startswith(f"signalfold {command[0]}: broker at {where}: ")
    assert "start the pipeline (`signalfold run`) or set SIGNALFOLD_KAFKA_BOOTSTRAP" in lines[0]
