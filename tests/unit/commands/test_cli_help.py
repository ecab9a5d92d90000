"""Every command says what it does and shows an example; every option says what it is."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from signalfold.cli import build_parser, main

ELSEWHERE: set[str] = set()  # every group is walked


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                if not path and name in ELSEWHERE:
                    continue
                yield (*path, name), child
                yield from _commands(child, (*path, name))


COMMANDS = [((), build_parser()), *_commands(build_parser())]


def test_the_walk_reaches_every_group_and_action() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"run", "broker", "topics", "worker", "serve", "demo", "schemas"} <= names
    assert {"sources validate", "dlq inspect", "dlq replay", "keys new", "keys check"} <= names


@pytest.mark.parametrize(
    "path,parser", COMMANDS, ids=[" ".join(p) or "signalfold" for p, _ in COMMANDS]
)
def test_help_has_a_description_an_example_and_help_for_every_option(
    path: tuple[str, ...], parser: argparse.ArgumentParser
) -> None:
    assert parser.description and parser.description.strip(), path
    assert parser.epilog and "example" in parser.epilog, path
    assert "signalfold " in parser.epilog, path
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
            continue
        assert action.help and action.help.strip(), (path, action.dest)


def test_help_prints_and_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["worker", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "run one stream stage" in out.lower()
    assert "example" in out and "signalfold worker --stage ingest" in out
    assert "which stage this process runs" in out
