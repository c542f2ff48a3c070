"""Evaluation during training: a curve of light evaluations, and a rule choosing a checkpoint from it.

``TrainingCurve`` is a Trainer callback. At step 0 (``at_start``), every N optimizer steps and/or at
every epoch's end, and at the last step, it scores the plan's fixed subset (``curve_eval``) and appends
a ``Checkpoint`` to the curve; it then re-runs the selection rule on the curve so far, keeps the
weights of a newly chosen point (``SelectedWeights``), rewrites ``OUT/trajectory.json`` whole, calls
the caller's ``on_checkpoint`` (``unlearn tune`` prunes there: its exception ends the run, after the
file is written) and stops training once a rule that takes the first qualifying checkpoint chose one.

An evaluation must not change the training: the model is in eval mode, without gradients, and the
random state of Python, numpy and torch is put back as it was, so a run with the curve on gives the
same weights as one with it off.

Under DDP and FSDP every process scores the same subset (under FSDP each forward pass gathers the
sharded weights, so all processes must take part in it); the main process's numbers are then given to
every process, so all hold one curve, make one choice and stop at the same step; only the main
process writes.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from transformers import TrainerCallback

from unlearn.evaluation.curve_eval import CurvePlan, evaluate_point
from unlearn.models.modes import evaluating
from unlearn.selection.curve import Checkpoint, Selection
from unlearn.selection.registry import rule_settings, select
from unlearn.selection.trajectory import TRAJECTORY_FILE, read_trajectory, write_trajectory
from unlearn.training.curve_settings import CurveSettings
from unlearn.training.selected_weights import SelectedWeights

log = logging.getLogger(__name__)


@contextlib.contextmanager
def unchanged_random_state():
    """Python's, numpy's and torch's random state (CPU and every initialised CUDA device) as they were
    before the block, whatever it drew."""
    python, numpy, cpu = random.getstate(), np.random.get_state(), torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    try:
        yield
    finally:
        random.setstate(python)
        np.random.set_state(numpy)
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


class TrainingCurve(TrainerCallback):
    """The curve of one run. ``rule``/``rule_args``: the selection rule and its settings (None: the curve
    only); ``on_checkpoint(checkpoint)`` is called after each point is recorded."""

    def __init__(self, trainer, plan: CurvePlan, curve: CurveSettings, out: Path, settings: dict,
                 rule: str | None = None, rule_args: dict | None = None,
                 on_checkpoint: Callable[[Checkpoint], None] | None = None):
        self.trainer, self.plan, self.curve = trainer, plan, curve
        self.path = Path(out) / TRAJECTORY_FILE
        self.settings = settings
        self.rule, self.rule_args = rule, rule_args or {}
        self.on_checkpoint = on_checkpoint
        self.points: list[Checkpoint] = []
        self.selection: Selection | None = None
        self.weights = SelectedWeights(Path(out))

    # -- the Trainer's events

    def on_train_begin(self, args, state, control, **kwargs):
        if state.global_step > 0:
            self._resume(state.global_step)
        elif self.curve.at_start:
            self._point(state, control)

    def on_step_end(self, args, state, control, **kwargs):
        if self.curve.every_steps and state.global_step % self.curve.every_steps == 0:
            self._point(state, control)

    def on_epoch_end(self, args, state, control, **kwargs):
        if self.curve.on_epochs:
            self._point(state, control)

    def on_train_end(self, args, state, control, **kwargs):
        self._point(state, control)  # the final weights are always a point (a no-op if just evaluated)

    # -- one point

    def _point(self, state, control) -> None:
        if self.points and self.points[-1].step == state.global_step:
            return
        model = self.trainer.model
        with unchanged_random_state(), evaluating(model), torch.no_grad():
            found = evaluate_point(self.plan, model, self.trainer.processing_class)
        metrics, intervals = self._same_on_every_process(found)
        checkpoint = Checkpoint(state.global_step, round(state.epoch or 0.0, 4), metrics, intervals)
        self.points.append(checkpoint)
        if self.rule is not None:
            self.selection = select(self.rule, self.points, self.rule_args)
            chosen = self.selection.checkpoint
            if chosen is not None and chosen.step == checkpoint.step:
                self.weights.save(self.trainer, checkpoint.step)
        self._write()
        if self.on_checkpoint is not None:
            self.on_checkpoint(checkpoint)
        if self.curve.stop_when_selected and self.selection is not None and self.selection.checkpoint is not None:
            control.should_training_stop = True

    def _same_on_every_process(self, found):
        """The main process's numbers, on every process."""
        accelerator = self.trainer.accelerator
        if accelerator.num_processes == 1:
            return found
        from accelerate.utils import broadcast_object_list

        box = [found]
        broadcast_object_list(box, from_process=0)
        return box[0]

    def _write(self) -> None:
        if self.trainer.is_world_process_zero():
            write_trajectory(self.path, self.settings, self.plan.subset, self.points, self.selected())

    def selected(self) -> dict | None:
        """``trajectory.json``'s ``selected`` entry: the rule, its settings with their defaults, the step
        chosen (None: none qualifies yet) and why."""
        if self.rule is None or self.selection is None:
            return None
        chosen = self.selection.checkpoint
        return {"rule": self.rule, "args": rule_settings(self.rule, self.rule_args).model_dump(),
                "step": chosen.step if chosen else None, "reason": self.selection.reason}

    def _resume(self, step: int) -> None:
        """A resumed run keeps the points up to the checkpoint it resumes from (those after it are
        trained, and evaluated, again) and the chosen weights if their step is among them."""
        if self.path.is_file():
            earlier, _ = read_trajectory(self.path)
            self.points = [c for c in earlier if c.step <= step]
        if self.rule is not None:
            self.selection = select(self.rule, self.points, self.rule_args) if self.points else None
            self.weights.resume({c.step for c in self.points})
            chosen = self.selection.checkpoint if self.selection else None
            if chosen is not None and chosen.step != self.weights.step:
                log.warning("the weights of step %d, chosen by rule %s before the resume, were not kept; it can "
                            "still choose a later step", chosen.step, self.rule)
        self._write()
