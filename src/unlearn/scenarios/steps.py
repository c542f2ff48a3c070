"""Steps of an experiment, keyed by a hash of their inputs, so finished steps are reused.

A step's folder is ``<run>/steps/<name>-<hash>``; ``step_done.json`` is written last, so a step
killed midway is redone (training steps resume from their last checkpoint), never taken as
finished. A step's inputs include the folders of the steps it reads, whose names carry their
own hashes: changing anything upstream changes every key downstream. A step runs holding its folder's
lock: a second experiment of this machine that needs it (two runs sharing a run folder) waits for it and
then reuses it, instead of training into the same folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from collections.abc import Callable

from unlearn.files import atomic_write_json, waiting_lock

log = logging.getLogger(__name__)
DONE_FILE = "step_done.json"
LOCK_POLL_SECONDS = 5.0  # how often a step another process is running is looked at again


def step_key(inputs: dict) -> str:
    """First 12 hex digits of the SHA-256 of the inputs as canonical JSON."""
    canonical = json.dumps(inputs, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]


def folder_fingerprint(folder: str | Path) -> str:
    """Hash of a data folder's file names and contents (a user's benchmark can change in place)."""
    digest = hashlib.sha256()
    for path in sorted(Path(folder).iterdir()):
        if path.is_file() and not path.name.startswith("."):
            digest.update(path.name.encode("utf-8") + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


class Steps:
    """Runs or reuses steps under ``<run>/steps`` and remembers which it ran."""

    def __init__(self, run_folder: str | Path, progress: Callable[[str], None] = print):
        self.root = Path(run_folder) / "steps"
        self.progress = progress
        self.ran: list[str] = []
        self.reused: list[str] = []
        self.started = time.time()

    def run(self, name: str, inputs: dict, action: Callable[[Path], None]) -> Path:
        """``action(folder)`` unless a finished step with these inputs exists; returns the folder."""
        folder = self.root / f"{folder_stem(name)}-{step_key(inputs)}"
        if not (folder / DONE_FILE).is_file():
            with waiting_lock(folder, LOCK_POLL_SECONDS):  # another experiment running this step: wait for it
                if not (folder / DONE_FILE).is_file():
                    self.progress(f"[{self._clock()}] run   {name} -> {folder}")
                    action(folder)
                    atomic_write_json(folder / DONE_FILE, {"step": name, "inputs": inputs})
                    self.ran.append(folder.name)
                    return folder
        self.reused.append(folder.name)
        self.progress(f"[{self._clock()}] reuse {name}: {folder}")
        return folder


    def _clock(self) -> str:
        minutes, seconds = divmod(int(time.time() - self.started), 60)
        return f"{minutes:02d}:{seconds:02d}"


def folder_stem(name: str) -> str:
    """A step name as its folder begins: characters other than letters, digits and - _ . become _."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
