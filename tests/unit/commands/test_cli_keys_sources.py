"""`keys new` writes a key file that `keys check` accepts; `sources validate --against FILE`."""

from __future__ import annotations

from pathlib import Path

import pytest

from signalfold.cli import main

CONTRACT = """\
name: returns_v
version: {version}
owner: returns-team
record_key: {{path: shopper.id, required: true}}
event_id: uuid
occurred_at: {{path: at, format: epoch_ms}}
identifiers:
  - {{type: email, path: shopper.email, trust: strong}}
{extra}type:
  field: status
  map: {{RECEIVED: sales.order.returned}}
payloads:
  sales.order.returned:
    order_id: {{path: order.ref, required: true}}
    reason: {{path: why, required: true}}
"""
PHONE = "  - {type: phone, path: shopper.phone}\n"


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_keys_new_output_is_a_key_file_that_keys_check_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, "keys", "new", "--name", "crm-bot", "--role", "marketing_bot")
    assert code == 0
    key = err.split(": ")[-1].strip()
    assert key.startswith("sf_") and key not in out  # the file gets the hash only
    path = tmp_path / "keys.yaml"
    path.write_text(out)
    code, out, err = _run(capsys, "keys", "check", str(path))
    assert (code, out.strip()) == (0, f"{path}: ok"), err

    # The last three lines append to an existing file's `keys:` list as they are.
    code, second, _ = _run(capsys, "keys", "new", "--name", "desk", "--role", "support_tool")
    with path.open("a") as keys_file:
        keys_file.write("".join(second.splitlines(keepends=True)[-3:]))
    code, out, err = _run(capsys, "keys", "check", str(path))
    assert (code, out.strip()) == (0, f"{path}: ok"), err
    assert "name: crm-bot" in path.read_text() and "name: desk" in path.read_text()


def _contracts(tmp_path: Path, new_version: int, extra_old: str) -> tuple[str, str]:
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(CONTRACT.format(version=1, extra=extra_old))
    new.write_text(CONTRACT.format(version=new_version, extra=""))
    return str(new), str(old)


def test_validate_against_a_file_refuses_a_breaking_change_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new, old = _contracts(tmp_path, 1, PHONE)
    code, out, err = _run(capsys, "sources", "validate", new, "--against", old)
    assert code == 2
    assert out == ""  # no `ok` before the failure
    assert f"breaking change against version 1 of `{old}`" in err
    assert "identifier `phone` (path `shopper.phone`) removed" in err
    assert "registered" not in err and "publish it as version 2" in err


def test_validate_against_a_file_says_what_a_bump_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new, old = _contracts(tmp_path, 2, PHONE)
    code, out, _ = _run(capsys, "sources", "validate", new, "--against", old)
    assert code == 0
    assert out.startswith(f"ok: `{new}` is source `returns_v` v2")
    assert f"breaking changes against v1 in `{old}`, accepted by the new version 2:" in out
    assert "registered" not in out

    new, old = _contracts(tmp_path, 1, "")
    code, out, _ = _run(capsys, "sources", "validate", new, "--against", old)
    assert code == 0 and f"compatible with v1 in `{old}`: additive changes only" in out


def test_validate_against_an_older_file_version_names_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new, old = _contracts(tmp_path, 2, "")
    code, out, err = _run(capsys, "sources", "validate", old, "--against", new)
    assert code == 2 and out == ""
    assert f"expected at least version 2 of `{new}`, found 1" in err
