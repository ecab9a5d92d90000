"""``PolicyWatcher``: picks up a valid edit, keeps the running policy on a broken one."""

from __future__ import annotations

import os

from signalfold.policy import load_policy
from signalfold.policy.model import DEFAULT_POLICY_PATH
from signalfold.policy.reload import PolicyWatcher


def test_watcher_reloads_valid_edits_and_refuses_broken_ones(tmp_path, caplog):
    path = tmp_path / "policy.yaml"
    path.write_text(DEFAULT_POLICY_PATH.read_text())
    clock = [0.0]
    watcher = PolicyWatcher(load_policy(path), interval=2, monotonic=lambda: clock[0])

    assert watcher.poll() is None  # not due yet
    clock[0] = 3
    assert watcher.poll() is None  # due, but unchanged

    path.write_text(path.read_text().replace("priorities: [high, urgent]", "priorities: [urgent]"))
    os.utime(path, ns=(1, 10**18))
    assert watcher.poll() is None  # changed, but not due
    clock[0] = 6
    reloaded = watcher.poll()
    assert reloaded is not None and reloaded.rules[0].params.priorities == ("urgent",)

    path.write_text("rules: [{name: x, kind: nope}]")
    os.utime(path, ns=(1, 2 * 10**18))
    clock[0] = 9
    assert watcher.poll() is None
    assert watcher.policy is reloaded
    assert "policy reload refused" in caplog.text and "unknown rule kind 'nope'" in caplog.text
