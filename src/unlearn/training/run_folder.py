"""The output folder of a training run: its settings file guards against mixing two runs."""

from __future__ import annotations

import json
from pathlib import Path

from unlearn.errors import UserError
from unlearn.files import atomic_write_json, check_writable

SETTINGS_FILE = "unlearn_settings.json"


def check_run_folder(out: str | Path, settings: dict, overwrite: bool = False) -> Path:
    """Refuse a folder holding another run unless ``overwrite``, or one that cannot be written;
    creates nothing."""
    out = Path(out)
    check_writable(out)
    existing = out / SETTINGS_FILE
    if existing.is_file() and not overwrite:
        previous = json.loads(existing.read_text(encoding="utf-8"))
        changed = sorted(k for k in set(previous) | set(settings) if previous.get(k) != settings.get(k))
        if changed:
            raise UserError(f"output folder {out} holds a run with other settings ({', '.join(changed)}); "
                            "choose another --out or pass --overwrite")
    elif out.is_dir() and any(out.iterdir()) and not overwrite:
        raise UserError(f"output folder {out} is not empty and holds no llm-unlearn run; "
                        "choose another --out or pass --overwrite")
    return out


def record_run_settings(out: str | Path, settings: dict) -> None:
    """Create ``out`` and write the settings file that marks it as this run's folder."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"cannot create output folder {out}: {error.strerror}") from error
    atomic_write_json(out / SETTINGS_FILE, settings)
