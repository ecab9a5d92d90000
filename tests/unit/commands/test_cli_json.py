"""``--json`` on the reporting commands that need no broker: the output parses and
carries what the text says; sample files may be JSON lines or a JSON array."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from signalfold.cli import main

CONTRACT = Path(__file__).parents[3] / "examples" / "returns_portal.yaml"
SAMPLE = Path(__file__).parents[3] / "examples" / "returns_sample.jsonl"


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    capsys.readouterr()
    code = main([*args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_keys_check_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keys = tmp_path / "keys.yaml"
    assert main(["keys", "new", "--name", "bot", "--role", "marketing_bot"]) == 0
    keys.write_text(capsys.readouterr().out)
    code, report = _json(capsys, "keys", "check", str(keys))
    assert code == 0
    assert report == {"file": str(keys), "ok": True, "keys": 1, "roles": {"marketing_bot": 1}}
    assert main(["keys", "check", str(keys)]) == 0
    assert capsys.readouterr().out == f"{keys}: ok\n"  # the text is as it was


def test_sources_validate_json_against_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = _json(capsys, "sources", "validate", str(CONTRACT))
    assert code == 0 and report["source"] == "returns_portal" and report["version"] == 1
    assert "returns.label.created" in report["emits"] and report["evolution"] is None
    bumped = tmp_path / "v2.yaml"
    bumped.write_text(
        CONTRACT.read_text()
        .replace("version: 1", "version: 2")
        .replace("path: shopper.email, trust: strong", "path: shopper.email, trust: weak")
    )
    code, report = _json(capsys, "sources", "validate", str(bumped), "--against", str(CONTRACT))
    assert code == 0, report
    assert report["evolution"]["against"] == str(CONTRACT)
    assert report["evolution"]["against_version"] == 1
    assert (
        len(report["evolution"]["breaking"]) == 1
        and "email/weak" in report["evolution"]["breaking"][0]
    )


def test_sources_test_json_and_a_json_array_sample(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = _json(capsys, "sources", "test", str(CONTRACT), str(SAMPLE))
    assert code == 1  # the third sample's reason is not mapped: as the README says
    assert report["summary"] == {
        "mapped": {"sales.order.returned": 1, "returns.label.created": 1},
        "errors": {"invalid_value": 1},
        "warned": 0,
    }
    assert [e["at"] for e in report["events"]] == [f"{SAMPLE}:{n}" for n in (1, 2, 3)]
    assert report["events"][0]["signal"]["payload"]["reason"] == "defective"

    array = tmp_path / "sample.json"
    array.write_text(json.dumps([json.loads(line) for line in SAMPLE.read_text().splitlines()]))
    code, out = main(["sources", "test", str(CONTRACT), str(array)]), capsys.readouterr().out
    assert code == 1
    assert f"{array}[0]: sales.order.returned " in out and f"{array}[2]: error invalid_value" in out
    assert "summary: 2 mapped, 1 error(s)" in out


def test_a_sample_that_starts_like_an_array_but_is_not_one_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('[{"uuid": "r-1"},\n')
    assert main(["sources", "test", str(CONTRACT), str(broken)]) == 2
    err = capsys.readouterr().err
    assert f"sample `{broken}`: starts with `[` so expected one JSON array" in err
    assert "give one JSON object a line instead" in err
