"""A serving replica follows edits of the policy file (the parts it evaluates itself)."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

from signalfold.policy import Decider, load_policy
from signalfold.sinks.serve import PolicyReloader

SHIPPED = Path(load_policy(None).source or "")
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


def _touch_later(path: Path, seconds: int) -> None:
    stat = path.stat()
    os.utime(path, (stat.st_atime + seconds, stat.st_mtime + seconds))


def test_unknown_customer_rule_edits_apply_without_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    shutil.copy(SHIPPED, path)
    decider = Decider(load_policy(path))
    reloader = PolicyReloader(decider, interval=3600)  # polled by hand below
    ask = {"channel": "email", "purpose": "marketing", "now": NOW}
    assert decider.answer(None, **ask).outcome == "allow"

    text = path.read_text()
    assert "marketing: allow" in text
    path.write_text(text.replace("marketing: allow", "marketing: deny", 1))
    _touch_later(path, 10)
    assert reloader.check()
    denied = decider.answer(None, **ask).decision()
    assert denied.outcome == "deny" and denied.unknown_rule == "unknown_customer.marketing"

    path.write_text("rules: [this is not a policy")
    _touch_later(path, 20)
    assert not reloader.check(), "a broken edit is refused"
    assert decider.answer(None, **ask).outcome == "deny", "the running policy is kept"
