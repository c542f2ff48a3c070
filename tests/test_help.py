"""``--help`` of every command and sub-command prints its text and exits 0 (a '%' in a help
string once ended ``unlearn eval --help`` in a traceback)."""

from __future__ import annotations

import argparse

import pytest

from unlearn.cli.main import build_parser, main


def command_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                paths += command_paths(sub, prefix + (name,))
    return paths


COMMANDS = command_paths(build_parser())


def test_every_command_is_found():
    assert {("eval",), ("forget",), ("finetune",), ("run",), ("report",), ("demo",), ("data", "fictitious")} <= set(
        COMMANDS)


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) or "unlearn" for c in COMMANDS])
def test_help_prints_and_exits_0(command, capsys):
    with pytest.raises(SystemExit) as stopped:
        main([*command, "--help"])
    assert stopped.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: unlearn") and "Traceback" not in out
