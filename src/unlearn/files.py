"""Atomic file writes: a result is either absent or complete, never half-written."""

from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Iterable

from unlearn.errors import UserError

# A name that becomes a file or folder name (split, experiment): it cannot hold a path.
SAFE_NAME = r"[A-Za-z0-9][A-Za-z0-9_.\-]*"


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temp file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be shared
        os.replace(tmp, path)
    except OSError as error:
        Path(tmp).unlink(missing_ok=True)
        raise UserError(f"cannot write {path}: {error.strerror or error}") from error
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | Path, obj: object) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def atomic_write_jsonl(path: str | Path, records: Iterable[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


# Errors of the place written to, which the user can fix (space, permissions, a read-only disk).
STORAGE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS)


def check_writable(folder: str | Path) -> None:
    """Fail now, not after hours of training, if ``folder`` cannot be written.

    Probes the folder, or its nearest existing parent when it does not exist yet, with a temp
    file that is removed at once: nothing is left behind."""
    folder = Path(folder).absolute()
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        raise UserError(f"output path {existing} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".unlearn-write-check.", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        raise UserError(f"output folder {folder} is not writable ({error.strerror or error})") from error
