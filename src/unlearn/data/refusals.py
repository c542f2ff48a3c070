"""Refusal phrases ("I don't know" style): the targets of IDK-type unlearning methods."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from unlearn.errors import UserError


def load_refusals(path: str | Path | None = None) -> list[str]:
    """The packaged phrases, or one phrase per line of ``path``; blank lines are skipped."""
    source = resources.files("unlearn.data.resources").joinpath("refusals.txt") if path is None else Path(path)
    where = "the packaged refusals.txt" if path is None else str(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or error
        raise UserError(f"cannot read refusal phrases from {where}: {reason}") from error
    phrases = [line.strip() for line in text.splitlines() if line.strip()]
    if not phrases:
        raise UserError(f"{where}: no refusal phrases")
    return phrases
