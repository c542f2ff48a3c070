"""Atomic file writes: a result is either absent or complete, never half-written."""

from __future__ import annotations

import errno
import json
import os
import socket
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

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


LOCK_FILE = ".unlearn.lock"
RUN_SETTINGS_FILE = "unlearn_settings.json"  # marks a run's folder (training/run_folder.py)
_held: dict[Path, int] = {}  # folders this process has locked, with the nesting depth


@contextmanager
def output_lock(folder: str | Path):
    """Hold ``folder`` for one command: a second process writing there is refused while this one runs.

    The lock is a file with the holder's process id (and its start time, so that a reused id is
    not taken for the holder); a lock whose process is gone is stale and taken over. A command
    that fails leaves nothing behind: the folder is removed again if it created it and holds only
    the lock and the run's settings file. In a distributed launch (torchrun, accelerate) the
    processes of one run share the folder: only the first (``RANK`` 0) takes the lock."""
    folder = Path(folder).absolute()
    if os.environ.get("RANK", "0") != "0":  # another process of the same distributed run
        folder.mkdir(parents=True, exist_ok=True)
        yield folder
        return
    if folder in _held:  # the same process, one command inside another
        _held[folder] += 1
        try:
            yield folder
        finally:
            _held[folder] -= 1
        return
    created = _create_folder(folder)
    try:
        _take(folder / LOCK_FILE)
    except BaseException:
        _remove_created(created)
        raise
    _held[folder] = 1
    failed = True
    try:
        yield folder
        failed = False
    finally:
        del _held[folder]
        if failed and {p.name for p in folder.iterdir()} <= {LOCK_FILE, RUN_SETTINGS_FILE}:
            (folder / RUN_SETTINGS_FILE).unlink(missing_ok=True)  # settings of a run that never started
        (folder / LOCK_FILE).unlink(missing_ok=True)
        _remove_created(created)


@contextmanager
def waiting_lock(folder: str | Path, poll: float = 1.0):
    """``output_lock`` of ``folder``, waiting while another live process of this machine holds it (a second
    worker of a study, a second experiment sharing a run folder) instead of refusing."""
    with ExitStack() as stack:
        while True:
            try:
                stack.enter_context(output_lock(folder))
                break
            except UserError:
                if not (Path(folder) / LOCK_FILE).is_file():
                    raise  # not held by another process: a folder that cannot be written
                time.sleep(poll)
        yield Path(folder)


def _create_folder(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; return those created, innermost first."""
    if folder.exists() and not folder.is_dir():
        raise UserError(f"output path {folder} is a file, not a folder")
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"cannot create output folder {folder}: {error.strerror or error}") from error
    return missing


def _remove_created(created: list[Path]) -> None:
    for path in created:  # innermost first; a folder that now holds something stays
        try:
            path.rmdir()
        except OSError:
            return


def _process_start(pid: int) -> str | None:
    """The kernel's start time of process ``pid`` (Linux), to tell it from a later one with the same id."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(holder: dict) -> bool:
    pid = holder.get("pid")
    if not isinstance(pid, int) or holder.get("host") != socket.gethostname():
        return isinstance(pid, int)  # another machine's process (a shared disk) cannot be checked: held
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, run by another user
    started = _process_start(pid)
    return started is None or holder.get("started") in (None, started)


def _take(lock: Path) -> None:
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": _process_start(os.getpid())}
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                holder = json.loads(lock.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                holder = {}  # half-written by a process killed at that instant: stale
            if _alive(holder if isinstance(holder, dict) else {}):
                raise UserError(f"output folder {lock.parent} is in use by another llm-unlearn process (pid "
                                f"{holder['pid']}); wait for it to finish or choose another --out (if no such "
                                f"process runs, delete {lock})") from None
            lock.unlink(missing_ok=True)  # stale: its process is gone
            continue
        except OSError as error:
            raise UserError(f"output folder {lock.parent} is not writable ({error.strerror or error})") from error
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(me, handle)
        return
    raise UserError(f"output folder {lock.parent}: cannot take its lock {lock}")
