"""One help style for every command: the parser class that ``unlearn`` and all its sub-commands share.

Sub-parsers take the class of the parser that makes them, so the hand-written commands (``data``,
``compare``, ``plan``, ``demo``, ...) and the ones generated from settings classes print the same
way: a short usage line (``unlearn compare --out STR [options] FOLDER [FOLDER ...]``) in which the
required flags stand without brackets, the required flags in a group of their own, metavars named
after the value's type (INT, FLOAT, STR) as the generated flags name them.
"""

from __future__ import annotations

import argparse

from unlearn.config import REQUIRED_TITLE, required_group

TYPE_METAVARS = {int: "INT", float: "FLOAT"}


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter with a usage line short enough to read (a settings command has 50 flags)."""

    def _format_usage(self, usage, actions, groups, prefix) -> str:
        if usage is not None:
            return super()._format_usage(usage, actions, groups, prefix)
        required = [a for a in actions if a.option_strings and is_required(a)]
        optional = [a for a in actions if a.option_strings and not is_required(a)]
        positionals = [a for a in actions if not a.option_strings]
        words = [self._prog]
        for action in required:
            metavar = self._format_args(action, self._get_default_metavar_for_optional(action))
            words.append(f"{action.option_strings[0]} {metavar}" if action.nargs != 0 else action.option_strings[0])
        if optional:
            words.append("[options]")
        words += [self._format_args(a, self._get_default_metavar_for_positional(a)) for a in positionals]
        return f"{'usage: ' if prefix is None else prefix}{' '.join(words)}\n\n"

    def _get_default_metavar_for_optional(self, action) -> str:
        return TYPE_METAVARS.get(action.type, "STR")


def is_required(action: argparse.Action) -> bool:
    """Required by argparse, or listed as required (a setting that a --config file may give instead)."""
    return action.required or getattr(action.container, "title", None) == REQUIRED_TITLE


class CommandParser(argparse.ArgumentParser):
    """A parser in the one help style; ``required=True`` flags go to the 'required arguments' group."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def add_argument(self, *args, **kwargs):
        if kwargs.get("required") and args and args[0].startswith("-"):
            return required_group(self).add_argument(*args, **kwargs)
        return super().add_argument(*args, **kwargs)
