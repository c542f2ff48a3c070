"""Entry point of the ``unlearn`` command: dispatch, logging, and the exit-status contract.

Bad input (``UserError``) prints one line ``unlearn: error: ...`` and exits with status 2;
Ctrl-C exits with 130 after a short message; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys

from unlearn import __version__
from unlearn.cli import (
    attack_command,
    compare_command,
    data_command,
    demo_command,
    eval_command,
    finetune_command,
    forget_command,
    meta_eval_command,
    plan_command,
    run_command,
    tune_command,
)
from unlearn.cli.parser import CommandParser
from unlearn.errors import UserError
from unlearn.quiet import quiet_command_line

COMMANDS = (data_command, finetune_command, forget_command, plan_command, eval_command, attack_command, tune_command,
            run_command, compare_command, meta_eval_command, demo_command)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line. Building it imports only the commands' settings (pydantic), never torch
    or transformers: each command imports its heavy parts in its handler, so ``--help`` is fast."""
    parser = CommandParser(
        prog="unlearn", description="Machine unlearning for large language models.",
        epilog="'unlearn COMMAND --help' lists a command's settings.")
    parser.add_argument("--version", action="version", version=f"llm-unlearn {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # our own progress at INFO; other libraries speak only for warnings (absl's "Using default tokenizer")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("unlearn").setLevel(logging.WARNING if args.quiet else logging.INFO)
    quiet_command_line()
    try:
        return args.handler(args) or 0
    except UserError as error:
        end_progress_bars()
        print(f"unlearn: error: {error}", file=sys.stderr)
        return UserError.exit_status
    except KeyboardInterrupt:
        end_progress_bars()
        print("unlearn: interrupted; finished results are kept, unfinished ones were not written", file=sys.stderr)
        return 130


def end_progress_bars() -> None:
    """Close the progress bars that an error interrupted (the trainer's, ours), so that the error starts
    a line of its own instead of following a half-drawn bar."""
    tqdm = sys.modules.get("tqdm")
    if tqdm is not None:
        for bar in list(getattr(tqdm.tqdm, "_instances", ())):
            bar.close()


if __name__ == "__main__":
    sys.exit(main())
