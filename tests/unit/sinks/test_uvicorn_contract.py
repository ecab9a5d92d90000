"""The contract ``FastHttpProtocol`` (``sinks/_fast_http.py``) holds with uvicorn's internals.

The fast path subclasses uvicorn's ``HttpToolsProtocol`` and reads its private
state, so the project pins uvicorn exactly (``pyproject.toml``) and this test
names everything the subclass relies on. Upgrading uvicorn means: bump the pin,
run this and ``tests/integration/test_fast_http.py`` (the same bytes as
uvicorn's own answers, on a real server), and fix the subclass if either fails.
"""

from __future__ import annotations

import inspect
import re
import tomllib
from pathlib import Path

import uvicorn
from uvicorn.protocols.http import flow_control
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from signalfold.sinks.serve import FastHttpProtocol

PYPROJECT = Path(__file__).parents[3] / "pyproject.toml"

# Methods the subclass overrides or calls, and attributes it reads, of ``HttpToolsProtocol``.
METHODS = (
    "on_headers_complete",
    "on_body",
    "on_message_complete",
    "on_response_complete",
    "_unset_keepalive_if_required",
)
ATTRIBUTES = (
    "parser",
    "cycle",
    "pipeline",
    "flow",
    "root_path",
    "expect_100_continue",
    "headers",
    "url",
    "server_state",
    "transport",
)


def test_uvicorn_is_the_version_the_project_pins_exactly() -> None:
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    (pin,) = [d for d in dependencies if d.startswith("uvicorn")]
    match = re.fullmatch(r"uvicorn\[standard\]==([0-9.]+)", pin.split("#")[0].strip())
    assert match is not None, f"uvicorn must be pinned exactly (==), found {pin!r}"
    assert uvicorn.__version__ == match[1]


def test_the_protocol_still_has_what_the_fast_path_relies_on() -> None:
    source = inspect.getsource(HttpToolsProtocol)
    for name in METHODS:
        assert callable(getattr(HttpToolsProtocol, name, None)), name
    for name in ATTRIBUTES:
        assert re.search(rf"self\.{name}\b\s*(:[^=]+)?=", source), f"HttpToolsProtocol.{name}"
    assert "self.write_paused" in inspect.getsource(flow_control.FlowControl)
    assert "default_headers" in inspect.getsource(uvicorn.server.ServerState)
    fast = inspect.getsource(FastHttpProtocol)
    for name in (*METHODS, *ATTRIBUTES):
        assert name in fast, f"{name} listed here but no longer used: drop it from the contract"
