"""Entry point of the ``unlearn`` command: dispatch, logging, and the exit-status contract.

Bad input (``UserError``) prints one line ``unlearn: error: ...`` and exits with status 2;
Ctrl-C exits with 130 after a short message; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys

from unlearn import __version__
from unlearn.cli import (attack_command, compare_command, data_command, demo_command, eval_command,
                         finetune_command, forget_command, plan_command, run_command)
from unlearn.errors import UserError

COMMANDS = (data_command, finetune_command, forget_command, plan_command, eval_command, attack_command, run_command,
            compare_command, demo_command)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unlearn", description="Machine unlearning for large language models.")
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
    try:
        return args.handler(args) or 0
    except UserError as error:
        print(f"unlearn: error: {error}", file=sys.stderr)
        return UserError.exit_status
    except KeyboardInterrupt:
        print("unlearn: interrupted; finished results are kept, unfinished ones were not written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
