"""The output folder of a run: its settings file guards against mixing two runs.

Paths are recorded as given, with the directory the run started in (``ran_in``): a folder moved with
its inputs still matches its settings by their text, and a run started again from another directory
matches them by the places they name."""

from __future__ import annotations

import json
from pathlib import Path

from unlearn.errors import UserError
from unlearn.files import LOCK_FILE, RUN_SETTINGS_FILE, atomic_write_json, check_writable

SETTINGS_FILE = RUN_SETTINGS_FILE
RAN_IN = "ran_in"
# settings naming a local file or folder (a model may also be a Hub id: a name that is not a local path
# is compared by its text only); found at any depth, e.g. method_args: {curve: {retain_eval: ...}}
PATH_SETTINGS = frozenset({"model", "data", "out", "retain_eval", "refusals", "reference", "original", "control",
                           "control_eval", "unlearned_eval", "original_eval", "target_eval", "embedder", "nli_model"})


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
        changed = changed_settings(out, settings)
        if changed:
            raise UserError(f"output folder {out} holds a run with other settings ({', '.join(changed)}); "
                            "choose another --out or pass --overwrite")
    else:
        raise UserError(f"output folder {out} is not empty and holds no llm-unlearn run; "
                        "choose another --out or pass --overwrite")
    return out


def recorded_settings(out: str | Path, resolved: bool = False) -> dict | None:
    """The settings a run recorded in ``out`` (its settings file), or None when there is none to read;
    ``resolved``: each relative path that names a local file or folder from where the run started, made
    absolute (to open its inputs from any directory)."""
    previous, ran_in = _read(out)
    if previous is None or not resolved:
        return previous
    return _resolved(previous, ran_in)


def changed_settings(out: str | Path, settings: dict) -> list[str]:
    """The top-level settings in which ``settings`` (of a run started here, now) differ from those
    recorded in ``out``. A path is the same when its text is, or when both name the same existing
    file or folder, the recorded one seen from where its run started (from here, for a folder
    written before that was recorded)."""
    previous, ran_in = _read(out)
    previous, new = previous or {}, json.loads(json.dumps(settings))
    return sorted(k for k in set(previous) | set(new) if not _same(k, previous.get(k), new.get(k), ran_in))


def _read(out: str | Path) -> tuple[dict | None, Path]:
    """The recorded settings without ``ran_in``, and that directory (here, where it was not recorded)."""
    try:
        previous = json.loads((Path(out) / SETTINGS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, Path.cwd()
    if not isinstance(previous, dict):
        return None, Path.cwd()
    ran_in = previous.pop(RAN_IN, None)
    return previous, Path(ran_in) if isinstance(ran_in, str) else Path.cwd()


def _same(key: str, old, new, ran_in: Path) -> bool:
    if old == new:
        return True
    if isinstance(old, dict) and isinstance(new, dict):
        return set(old) == set(new) and all(_same(k, old[k], new[k], ran_in) for k in old)
    if key in PATH_SETTINGS and isinstance(old, str) and isinstance(new, str):
        then, now = ran_in / old, Path(new)
        return then.exists() and now.exists() and then.resolve() == now.resolve()
    return False


def _resolved(settings: dict, ran_in: Path) -> dict:
    out = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            value = _resolved(value, ran_in)
        elif key in PATH_SETTINGS and isinstance(value, str) and (ran_in / value).exists():
            value = str((ran_in / value).resolve())
        out[key] = value
    return out


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
    atomic_write_json(out / SETTINGS_FILE, {**settings, RAN_IN: str(Path.cwd())})
