"""The output folder of a training run: its settings file guards against mixing two runs."""

from __future__ import annotations

import json
from pathlib import Path

from unlearn.errors import UserError
from unlearn.files import LOCK_FILE, RUN_SETTINGS_FILE, atomic_write_json, check_writable

SETTINGS_FILE = RUN_SETTINGS_FILE


def check_run_folder(out: str | Path, settings: dict, overwrite: bool = False) -> Path:
    """Refuse a folder holding another run unless ``overwrite``, or one that cannot be written;
    creates nothing. A settings file with nothing beside it is the leftover of a run that stopped
    before writing anything (refused, or its model failed to load): it does not count as a run."""
    out = Path(out)
    check_writable(out)
    existing = out / SETTINGS_FILE
    if overwrite or not out.is_dir() or _holds_only_bookkeeping(out):
        return out
    if existing.is_file():
        previous = recorded_settings(out) or {}
        changed = sorted(k for k in set(previous) | set(settings) if previous.get(k) != settings.get(k))
        if changed:
            raise UserError(f"output folder {out} holds a run with other settings ({', '.join(changed)}); "
                            "choose another --out or pass --overwrite")
    else:
        raise UserError(f"output folder {out} is not empty and holds no llm-unlearn run; "
                        "choose another --out or pass --overwrite")
    return out


def recorded_settings(out: str | Path) -> dict | None:
    """The settings a run recorded in ``out`` (its settings file), or None when there is none to read."""
    try:
        previous = json.loads((Path(out) / SETTINGS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return previous if isinstance(previous, dict) else None


def _holds_only_bookkeeping(out: Path) -> bool:
    """Whether ``out`` holds no file but its settings and lock (empty subfolders do not count)."""
    return all(p.is_dir() or p.relative_to(out).as_posix() in (SETTINGS_FILE, LOCK_FILE) for p in out.rglob("*"))


def record_run_settings(out: str | Path, settings: dict) -> None:
    """Create ``out`` and write the settings file that marks it as this run's folder."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"cannot create output folder {out}: {error.strerror}") from error
    atomic_write_json(out / SETTINGS_FILE, settings)
