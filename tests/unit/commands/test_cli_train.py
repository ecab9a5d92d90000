"""``identity train`` summarises (records, pairs, prior, where the model and chart went)
instead of printing Splink's log; ``--verbose`` keeps the log, ``--json`` parses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from signalfold.cli import main

CLI = [sys.executable, "-c", "import sys; from signalfold.cli import main; sys.exit(main())"]


def test_train_on_febrl_prints_a_summary_and_no_splink_log(tmp_path: Path) -> None:
    done = subprocess.run(
        [*CLI, "identity", "train", "--febrl", "--out", str(tmp_path), "--json"],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["records"] == 21000 and report["pairs"] == 21000 * 20999 // 2
    assert report["u_sample_pairs"] == 2_000_000
    assert 0 < report["prior"] < 1e-3
    assert report["model"] == str(tmp_path / "splink_model.json")
    assert Path(report["chart"]).stat().st_size > 0
    assert report["m_not_trained"] == ["company", "email", "phone"]  # FEBRL has none
    assert "splink" not in done.stderr and "Estimating" not in done.stderr, done.stderr[:2000]


def test_train_text_summary_and_verbose(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import logging

    from signalfold.commands import identity_model
    from signalfold.identity import training

    class Report:
        model_path, chart_path, records = tmp_path / "splink_model.json", tmp_path / "c.html", 200

    def fake_train(rows: list[object], *, seed: int, max_pairs: float) -> object:
        logging.getLogger("splink.internals.em").warning(
            "Level Exact match on email on comparison email not observed in dataset, unable "
            "to train m value"
        )
        return object()

    Report.model_path.write_text(json.dumps({"probability_two_random_records_match": 0.002}))
    monkeypatch.setattr(identity_model, "_rows_from_febrl", lambda unique_id: [{}] * 200)
    monkeypatch.setattr(training, "train", fake_train)
    monkeypatch.setattr(training, "write_model", lambda linker, out, records: Report)
    splink = logging.getLogger("splink")
    monkeypatch.setattr(splink, "handlers", [])
    monkeypatch.setattr(splink, "propagate", True)
    monkeypatch.setattr(logging.getLogger("signalfold.identity.training"), "level", logging.NOTSET)

    assert main(["identity", "train", "--febrl", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        "trained on 200 records (19,900 possible pairs; u from a random sample of up to "
        "2,000,000, m by EM)"
    )
    assert out[1] == "  prior: 0.002 that two random records are one person (one pair in 500)"
    assert out[2:4] == [f"  model: {Report.model_path}", f"  chart: {Report.chart_path}"]
    assert "  m not trained for email: levels not seen in these records" in out[5]
    assert out[-1] == "  Splink's full log: the same command with --verbose"

    splink.handlers, splink.propagate = [], True
    assert main(["identity", "train", "--febrl", "--out", str(tmp_path), "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "m not trained" not in out and "--verbose" not in out
    assert splink.propagate  # the log goes where logging sends it
