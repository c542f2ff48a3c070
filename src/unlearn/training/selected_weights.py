"""The weights of the checkpoint a selection rule chose, and the run's model at the end.

While training runs, the chosen checkpoint's weights are kept in ``OUT/selected/`` (one copy, replaced
when the rule chooses a later point), because the Trainer's own checkpoints come once an epoch and only
the last is kept. At the end the run's model in ``OUT`` is the chosen checkpoint's weights, so whatever
runs next (a scenario's evaluation and attacks) uses the chosen model; when no checkpoint qualifies the
final weights are kept, and the summary and a warning say so.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from unlearn.files import atomic_write_json
from unlearn.selection.curve import Selection
from unlearn.training.common import save_trained

log = logging.getLogger(__name__)

SELECTED_FOLDER = "selected"
MARKER = "selected_step.json"  # written after the weights: without it the folder holds no complete save


class SelectedWeights:
    """``OUT/selected/`` and the step whose weights it holds (None: none)."""

    def __init__(self, out: Path):
        self.folder = Path(out) / SELECTED_FOLDER
        self.step: int | None = None

    def resume(self, steps: set[int]) -> None:
        """After a resume: keep the weights of a step still in the curve, drop those of a step that is
        being trained again (the checkpoint resumed from is older)."""
        try:
            step = json.loads((self.folder / MARKER).read_text(encoding="utf-8"))["step"]
        except (OSError, ValueError, KeyError, TypeError):
            step = None
        self.step = step if step in steps else None
        if self.step is None:
            shutil.rmtree(self.folder, ignore_errors=True)

    def save(self, trainer, step: int) -> None:
        """Every process calls this (gathering sharded weights is a collective); the main one writes."""
        (self.folder / MARKER).unlink(missing_ok=True)
        if save_trained(trainer, self.folder):
            atomic_write_json(self.folder / MARKER, {"step": step})
        self.step = step

    def finish(self, trainer, out: Path, selection: Selection | None) -> tuple[bool, dict | None]:
        """Put the run's model into ``out``: the chosen checkpoint's weights, else the final ones.
        Returns whether this is the main process and the summary's ``selection`` entry (None without a
        rule)."""
        final = trainer.state.global_step
        chosen = selection.checkpoint if selection else None
        main = trainer.is_world_process_zero()
        if chosen is not None and self.step == chosen.step:  # kept when chosen, the last step's too: moved
            if main:
                for item in self.folder.iterdir():
                    if item.name != MARKER:
                        item.replace(out / item.name)
                shutil.rmtree(self.folder, ignore_errors=True)
            last = ", the last" if chosen.step == final else ""
            return main, _entry(selection, f"the weights of step {chosen.step}{last}")
        if selection is None:
            model = None
        elif chosen is None:
            model = "the final weights: no checkpoint qualifies"
            if main:
                log.warning("selection rule %s chose no checkpoint (%s): the final weights are saved", selection.rule,
                            selection.reason)
        elif chosen.step == final:  # chosen before a resume whose curve had not kept its weights
            model = f"the weights of step {final}, the last"
        else:
            model = f"the final weights: those of step {chosen.step} were lost when the run was resumed"
            if main:
                log.warning("selection rule %s chose step %d, whose weights were not kept across the resume: the "
                            "final weights are saved", selection.rule, chosen.step)
        main = save_trained(trainer, out)
        if main:
            shutil.rmtree(self.folder, ignore_errors=True)
        return main, _entry(selection, model) if selection else None


def _entry(selection: Selection, model: str) -> dict:
    chosen = selection.checkpoint
    return {"rule": selection.rule, "step": chosen.step if chosen else None, "epoch": chosen.epoch if chosen else None,
            "reason": selection.reason, "model": model}
