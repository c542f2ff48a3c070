"""Refusal phrases ("I don't know" style): the targets of IDK-type unlearning methods; and the openings
by which an answer is counted as a refusal."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from unlearn.errors import UserError


def load_refusals(path: str | Path | None = None, packaged: str = "refusals.txt") -> list[str]:
    """The packaged phrases, or one phrase per line of ``path``; blank lines are skipped."""
    source = resources.files("unlearn.data.resources").joinpath(packaged) if path is None else Path(path)
    where = f"the packaged {packaged}" if path is None else str(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or error
        raise UserError(f"cannot read refusal phrases from {where}: {reason}") from error
    phrases = [line.strip() for line in text.splitlines() if line.strip()]
    if not phrases:
        raise UserError(f"{where}: no refusal phrases")
    return phrases


def refusal_markers(path: str | Path | None = None) -> list[str]:
    """What an answer opening counts as a refusal: the phrases of ``path``; by default the packaged phrases
    and the packaged openings (``refusal_openings.txt``: "I'm sorry", "I can't", ..., as refusal checks of
    jailbreak studies list them), since a model trained toward the phrases also refuses in its own words
    ("I can't provide that information.")."""
    return load_refusals(path) if path is not None else list(_packaged_markers())


@lru_cache(maxsize=1)
def _packaged_markers() -> tuple[str, ...]:
    """Read once per process: every evaluation (each curve point, each attack) asks for them."""
    return tuple(load_refusals() + load_refusals(packaged="refusal_openings.txt"))
