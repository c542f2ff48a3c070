"""Refusal phrases ("I don't know" style): the targets of IDK-type unlearning methods."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from unlearn.errors import UserError


def load_refusals(path: str | Path | None = None) -> list[str]:
    """The packaged phrases, or one phrase per line of ``path``; blank lines are skipped."""
    if path is None:
        text = resources.files("unlearn.data.resources").joinpath("refusals.txt").read_text(encoding="utf-8")
        where = "packaged refusals.txt"
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise UserError(f"cannot read refusal phrases from {path}: {error}") from error
        where = str(path)
    phrases = [line.strip() for line in text.splitlines() if line.strip()]
    if not phrases:
        raise UserError(f"{where}: no refusal phrases")
    return phrases
