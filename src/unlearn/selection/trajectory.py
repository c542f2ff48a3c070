"""``trajectory.json``: a training run's curve and the checkpoint a rule chose from it.

The file is rewritten whole (atomically) after every evaluated point, so a run that is killed keeps a
valid curve of the points it reached. Its shape::

    {"version": 1, "settings": {...}, "subset": {role: {"split": NAME, "indices": [...]}},
     "checkpoints": [{"step": 40, "epoch": 2.0, "metrics": {flat name: value | null},
                      "intervals": {flat name: [low, high]}}],
     "selected": {"rule": NAME, "args": {...}, "step": 40 | null, "reason": "..."} | null}

Light (the standard library and ``curve``): the report and ``unlearn tune`` read it without torch.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from unlearn.errors import UserError
from unlearn.files import atomic_write_json
from unlearn.selection.curve import Checkpoint

TRAJECTORY_FILE = "trajectory.json"
TRAJECTORY_VERSION = 1


def checkpoint_record(checkpoint: Checkpoint) -> dict:
    """A checkpoint as the file holds it: a value that is not a finite number is written as null
    (JSON has no NaN), so a missing metric never reads back as a number."""
    return {"step": checkpoint.step, "epoch": checkpoint.epoch,
            "metrics": {name: _finite(value) for name, value in checkpoint.metrics.items()},
            "intervals": {name: [low, high] for name, (low, high) in checkpoint.intervals.items()}}


def _finite(value) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def write_trajectory(path: str | Path, settings: dict, subset: dict, curve: list[Checkpoint],
                     selected: dict | None) -> None:
    """Write the whole curve so far, replacing the file in one rename."""
    atomic_write_json(path, {"version": TRAJECTORY_VERSION, "settings": settings, "subset": subset,
                             "checkpoints": [checkpoint_record(c) for c in curve], "selected": selected})


def read_trajectory(path: str | Path) -> tuple[list[Checkpoint], dict | None]:
    """The curve of a ``trajectory.json`` (in the file's order) and its ``selected`` entry (None when
    no rule was run); a damaged or foreign file is refused in one line."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror or error}") from None
    except ValueError as error:
        raise UserError(f"{path} is not valid JSON ({str(error).splitlines()[0]})") from None
    if not isinstance(document, dict) or document.get("version") != TRAJECTORY_VERSION:
        raise UserError(f"{path} is not a version {TRAJECTORY_VERSION} trajectory file")
    try:
        curve = [Checkpoint(int(c["step"]), None if c.get("epoch") is None else float(c["epoch"]),
                            {str(k): None if v is None else float(v) for k, v in c["metrics"].items()},
                            {str(k): (float(v[0]), float(v[1])) for k, v in (c.get("intervals") or {}).items()})
                 for c in document["checkpoints"]]
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as error:
        raise UserError(f"{path}: a checkpoint is damaged ({error!r}); its run wrote it otherwise") from None
    selected = document.get("selected")
    if selected is not None and not isinstance(selected, dict):
        raise UserError(f"{path}: 'selected' must be an object or null")
    return curve, selected
