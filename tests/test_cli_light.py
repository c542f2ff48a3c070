"""The command line is light, quiet and in one help style: ``--help`` of every command imports none of
the heavy libraries and prints only its usage; required flags are listed as required; each default is
said once; the libraries' known messages are dropped at their source (``unlearn.quiet``)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import warnings

import pytest

from unlearn.cli.main import build_parser
from unlearn.cli.parser import CommandParser, HelpFormatter
from unlearn.config import REQUIRED_TITLE
from unlearn.quiet import _AfterImport, quiet_command_line, silence_library_messages

HEAVY = ("torch", "transformers", "peft", "bitsandbytes", "datasets", "sentence_transformers", "optuna", "sqlalchemy")


def command_parsers(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    """(path, parser) of the command and every sub-command below it."""
    yield prefix, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from command_parsers(sub, prefix + (name,))


PARSERS = dict(command_parsers(build_parser()))

# Runs every command's --help in one fresh interpreter and records, after each, the heavy modules
# imported so far: the first command that imports one is the one named.
HELP_SCRIPT = """
import contextlib, io, json, sys
from unlearn.cli.main import main
heavy, found = json.loads(sys.argv[1]), {}
for path in json.loads(sys.argv[2]):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            main([*path, "--help"])
            code = None
        except SystemExit as stop:
            code = stop.code
    found[" ".join(path)] = {"code": code, "out": out.getvalue(), "heavy": [m for m in heavy if m in sys.modules]}
print(json.dumps(found))
"""


def test_every_help_imports_no_heavy_library_and_prints_only_its_usage():
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}  # a machine without the Hub
    result = subprocess.run([sys.executable, "-c", HELP_SCRIPT, json.dumps(HEAVY), json.dumps(list(PARSERS))],
                            capture_output=True, text=True, env=env, check=True)
    assert result.stderr == ""
    found = json.loads(result.stdout)
    assert len(found) == len(PARSERS) >= 14
    for command, seen in found.items():
        assert seen["code"] == 0, command
        assert seen["out"].startswith(f"usage: unlearn {command}".rstrip()), command
        assert seen["heavy"] == [], f"unlearn {command} --help imported {seen['heavy']}"


def test_the_package_and_the_command_line_import_no_heavy_library():
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "unlearn.cli.main", "--help"],
                            capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, check=True)
    imported = [line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines()]
    assert "unlearn.cli.eval_command" in imported and "pydantic" in imported
    assert [m for m in imported if m.split(".")[0] in HEAVY] == []
    assert all(line.startswith("import time:") for line in result.stderr.splitlines())  # no warning among them
    assert result.stdout.startswith("usage: unlearn [options] COMMAND ...\n")


def test_every_command_uses_one_parser_class_and_formatter():
    for path, parser in PARSERS.items():
        assert type(parser) is CommandParser, path
        assert parser.formatter_class is HelpFormatter, path
        assert parser.description, path


@pytest.mark.parametrize(("command", "required"), [
    (("finetune",), ["--data", "--out"]), (("forget",), ["--data", "--out"]), (("eval",), ["--data", "--out"]),
    (("attack",), ["--data", "--out", "--original"]), (("compare",), ["--out"]),
    (("data", "fictitious"), ["--out"]), (("data", "wmdp"), ["--out"]), (("plan",), []), (("demo",), []),
    (("tune",), ["--data", "--out"]),
])
def test_required_flags_are_listed_as_required(command, required):
    text = PARSERS[command].format_help()
    usage = text.split("\n\n")[0]
    listed = []
    if required:
        group = text.split(f"{REQUIRED_TITLE}:\n")[1].split("\n\n")[0]
        listed = [line.split()[0] for line in group.splitlines() if line.startswith("  -")]
    assert sorted(listed) == sorted(required)
    for flag in required:  # in the usage line without brackets, before the optional ones
        assert f" {flag} " in usage and f"[{flag}" not in usage
    assert "[options]" in usage
    assert f"{REQUIRED_TITLE}:" not in text.split("options:\n")[1]  # the required group comes first


def test_the_usage_line_is_short_and_names_positionals():
    assert PARSERS[("compare",)].format_usage() == "usage: unlearn compare --out STR [options] FOLDER [FOLDER ...]\n"
    assert PARSERS[("data",)].format_usage() == "usage: unlearn data [options] KIND ...\n"
    assert PARSERS[()].format_usage() == "usage: unlearn [options] COMMAND ...\n"


def test_each_default_is_said_once():
    checked = 0
    for path, parser in PARSERS.items():
        formatter = parser._get_formatter()
        for action in parser._actions:
            if action.help and action.help != argparse.SUPPRESS:
                text = formatter._expand_help(action)
                assert text.count("default:") <= 1, (path, action.option_strings, text)
                checked += "default:" in text
    assert checked > 100
    text = PARSERS[("eval",)].format_help()
    assert "torch CPU threads (default: torch's choice)\n" in text  # the description's own words only
    assert "--batch-size INT      sequences per scoring batch (default: 16)" in text


def test_hand_written_and_generated_flags_name_metavars_alike():
    fictitious = PARSERS[("data", "fictitious")].format_help()
    assert "--people INT" in fictitious and "--out STR" in fictitious
    plan = PARSERS[("plan",)].format_help()
    assert "--batch-size INT" in plan and "--dtype {auto,float32,bfloat16,float16}" in plan


def test_library_messages_are_dropped_and_others_kept(caplog):
    silence_library_messages()
    silence_library_messages()  # twice: still one filter per logger
    ops = logging.getLogger("bitsandbytes.backends.cpu.ops")
    assert len(ops.filters) == 1
    with caplog.at_level(logging.WARNING):
        ops.warning("Failed to load CPU gemm_4bit_forward from kernels-community: offline")
        ops.warning("a real problem")
        logging.getLogger("kernels._internals.hf_hub").warning("skipping the publisher check of "
                                                               "kernels-community/quantization-bitsandbytes")
    assert [r.getMessage() for r in caplog.records] == ["a real problem"]
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        silence_library_messages()
        warnings.warn("`is_gradient_checkpointing` is deprecated (removed in v6)", FutureWarning, stacklevel=1)
        warnings.warn("something else is deprecated", FutureWarning, stacklevel=1)
    assert [str(w.message) for w in seen] == ["something else is deprecated"]


def test_a_callback_runs_once_a_module_is_first_imported(tmp_path, monkeypatch):
    (tmp_path / "late_library.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    called = []
    finder = _AfterImport("late_library", lambda module: called.append(module.VALUE))
    monkeypatch.setattr(sys, "meta_path", [finder, *sys.meta_path])
    import late_library  # noqa: F401 (imported for the callback)

    assert called == [1] and finder not in sys.meta_path
    monkeypatch.delitem(sys.modules, "late_library")


def test_transformers_bars_are_off_on_the_command_line():
    from transformers.utils import logging as hf_logging

    previous = hf_logging.set_tqdm_hook(None)
    try:
        quiet_command_line()  # transformers already imported: set at once
        assert isinstance(hf_logging.tqdm(range(3), desc="Loading weights"), hf_logging.EmptyTqdm)
        assert list(hf_logging.tqdm(range(3))) == [0, 1, 2]
    finally:
        hf_logging.set_tqdm_hook(previous)
