"""One trial: ``unlearn forget`` with the sampled settings into the trial's folder, then ``unlearn eval``.

The trial's values are its objectives read from the evaluation summary, each stored with its interval in
the trial's user attributes (``objectives``: ``{name: {"value": v, "interval": [low, high] | null}}``), and
what it took (``seconds``: forget and eval; forget alone for a trial pruned or failed in training). With
several ``trial_seeds`` the trial unlearns and evaluates once per training seed (folders ``seed-S``), its
values are the worst seed's for each objective, and ``per_seed`` holds every seed's. A
trial fails, with its reason in the user attribute ``fail_reason``, when its sampled settings are refused,
run out of device memory, or an objective was not computed; never with a made-up value. A trial pruned
from its evaluation curve records ``pruned_step`` and ``pruned_reason``; every trial records the
``worker`` (host:pid) that ran it. Its folder ``OUT/trials/NNNN`` keeps the forget run's summary, its
curve and the evaluation; the unlearned weights are deleted once evaluated unless kept.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import optuna
import torch
from optuna.trial import TrialState

from unlearn.config import validate_settings
from unlearn.errors import UserError
from unlearn.selection.curve import Checkpoint, number
from unlearn.training.forget_settings import ForgetSettings
from unlearn.tuning.objectives import (
    OBJECTIVES_ATTR,
    PER_SEED_ATTR,
    MetricMissing,
    Objective,
    read_objective,
    trial_entry,
)
from unlearn.tuning.pruning import prune_reason, reference_utility
from unlearn.tuning.settings import TuneSettings
from unlearn.tuning.space import Dimension, apply, suggest

log = logging.getLogger(__name__)
KEPT_FILES = ("train_summary.json", "trajectory.json")  # moved out of the model folder before it is deleted
OCCUPYING = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)


class TrialFailed(Exception):
    """A trial that cannot give its objectives; the study goes on."""


class Surplus(TrialFailed):
    """A trial asked for when the study already had its trials (another worker asked at the same moment)."""


@dataclass
class TrialRunner:
    """The objective function Optuna calls: ``runner(trial) -> [objective values]``. ``outcome`` says how
    the last trial ended (complete, pruned, failed, surplus) and ``reason`` why, for the worker's loop."""

    settings: TuneSettings
    objectives: list[Objective]
    dimensions: list[Dimension]
    target: dict[str, float]  # the target's value of each objective
    total: int
    outcome: str = ""
    reason: str = ""

    def __call__(self, trial: optuna.Trial) -> list[float]:
        self.outcome, self.reason = "failed", ""
        try:
            values = self._run(trial)
        except optuna.TrialPruned as pruned:
            self.outcome, self.reason = "pruned", str(pruned)
            raise
        except TrialFailed as failed:
            self.outcome = "surplus" if isinstance(failed, Surplus) else "failed"
            self.reason = str(failed)
            trial.set_user_attr("fail_reason", self.reason)
            raise
        self.outcome = "complete"
        return values

    def _run(self, trial: optuna.Trial) -> list[float]:
        check_not_surplus(trial, self.total)
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        sampled = suggest(trial, self.dimensions)
        folder = Path(self.settings.out) / "trials" / f"{trial.number:04d}"
        log.info("trial %d: %s", trial.number, ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                                          for k, v in sampled.items()) or "the fixed settings")
        seeds = self.settings.seeds_per_trial
        seconds = {"forget": 0.0, "eval": 0.0}
        per_seed = {}
        try:
            for seed in seeds:
                where = folder if len(seeds) == 1 else folder / f"seed-{seed}"
                watcher = curve_watcher(trial, self.objectives, self.target, self.settings.prune_floor,
                                        "" if len(seeds) == 1 else f"seed {seed}, ")
                per_seed[seed] = self.run_seed(trial.number, sampled, where, seed if len(seeds) > 1 else None,
                                               seconds, watcher)
        finally:  # a trial pruned or failed part way still counts what it took in the study's cost
            trial.set_user_attr("seconds", {k: round(v, 1) for k, v in seconds.items() if v or k == "forget"})
        entries = {o.name: worst(o, [per_seed[seed][o.name] for seed in seeds]) for o in self.objectives}
        if len(seeds) > 1:
            trial.set_user_attr(PER_SEED_ATTR, {str(seed): per_seed[seed] for seed in seeds})
        trial.set_user_attr(OBJECTIVES_ATTR, entries)
        of = f" (the worst of seeds {', '.join(map(str, seeds))})" if len(seeds) > 1 else ""
        self.reason = f"trial {trial.number}{of}: " + ", ".join(f"{name} {_shown(entry)}"
                                                               for name, entry in entries.items())
        return [entries[o.name]["value"] for o in self.objectives]

    def run_seed(self, number: int, sampled: dict, folder: Path, seed: int | None, seconds: dict,
                 watcher=None) -> dict:
        """Unlearn trial ``number``'s sampled settings (with training ``seed`` when given) into ``folder``,
        evaluate, and return each objective's stored entry (``trial_entry``); ``seconds`` adds what it took.
        ``watcher``: the curve's ``on_checkpoint`` (``curve_watcher``), which may prune the trial."""
        started, trained = time.time(), None
        try:
            forget = self._forget_settings(sampled, folder / "model", seed)
            run_forget(forget, watcher)
            trained = time.time()
            summary = _evaluate(self.settings.eval_settings(str(folder / "model"), folder / "eval"))
        except UserError as error:
            raise TrialFailed(f"trial {number}: {error}") from None
        except torch.OutOfMemoryError:  # a sampled batch size or sequence length too large for the device
            raise TrialFailed(f"trial {number}: out of memory on the device with {sampled}") from None
        finally:
            _drop_weights(folder / "model", self.settings.keep_models)
            seconds["forget"] += (trained or time.time()) - started
            if trained is not None:
                seconds["eval"] += time.time() - trained
        try:
            return {o.name: trial_entry(o, *read_objective(summary, o)) for o in self.objectives}
        except MetricMissing as missing:
            raise TrialFailed(f"trial {number}: {missing}") from None

    def _forget_settings(self, sampled: dict, out: Path, seed: int | None) -> ForgetSettings:
        values = apply(self.settings.forget_values(), sampled, self.settings.method, self.settings.mask)
        values.update(out=str(out), overwrite=True, save_checkpoints=False, **({} if seed is None else {"seed": seed}))
        return validate_settings(ForgetSettings, values, f"sampled settings {sampled}")


def _shown(entry: dict) -> str:
    """A stored objective as measured (a toward objective's value, not its distance), with its interval."""
    value, interval = entry.get("measured", entry["value"]), entry.get("measured_interval", entry["interval"])
    return number(value) + (f" [{number(interval[0])}, {number(interval[1])}]" if interval else "")


def worst(objective: Objective, entries: list[dict]) -> dict:
    """The entry (``trial_entry``) of the seed worst for ``objective``: the highest value of one minimized
    (a toward objective's distance included), the lowest of one maximized; the first of equal values. A
    setting is only as good as its worst seed: a choice must hold over seeds, not on one lucky draw."""
    sign = 1 if objective.direction == "minimize" else -1
    return max(entries, key=lambda entry: sign * entry["value"])


def check_not_surplus(trial: optuna.Trial, total: int) -> None:
    """Refuse a trial beyond the study's total: when ``total`` trials that ran or will run were asked for
    before it. Two workers may both see one trial missing and both ask; the later one gives way."""
    before = trial.study.get_trials(deepcopy=False, states=OCCUPYING)
    if sum(t.number < trial.number for t in before) >= total:
        raise Surplus(f"the study already had its {total} trials when trial {trial.number} started")


def run_forget(settings: ForgetSettings, on_checkpoint) -> dict:
    """``unlearn forget`` of one trial, its evaluation curve (when the settings turn it on) watched by
    ``on_checkpoint``, which may prune the trial."""
    from unlearn.training.forget import forget

    return forget(settings, on_checkpoint=on_checkpoint if settings.curve_settings is not None else None)


def curve_watcher(trial: optuna.Trial, objectives: list[Objective], target: dict[str, float],
                  floor: float | None, prefix: str = ""):
    """``on_checkpoint(checkpoint)`` for the trial's curve: prunes the trial (``optuna.TrialPruned``, its
    step and reason in the trial's user attributes) at the first point where ``pruning.prune_reason``
    finds it hopeless. None when nothing can be pruned: no floor, or no utility objective to maximize."""
    if floor is None or len(objectives) < 2 or objectives[1].direction != "maximize":
        return None
    metric = objectives[1].name
    curve: list[Checkpoint] = []

    def on_checkpoint(checkpoint: Checkpoint) -> None:
        curve.append(checkpoint)
        reason = prune_reason(checkpoint, metric, reference_utility(curve[0], metric, target[metric]), floor)
        if reason is not None:
            trial.set_user_attr("pruned_step", checkpoint.step)
            trial.set_user_attr("pruned_reason", prefix + reason)
            raise optuna.TrialPruned(prefix + reason)

    return on_checkpoint


def _evaluate(settings) -> dict:
    from unlearn.evaluation.run import evaluate_model

    return evaluate_model(settings)


def drop_dead_weights(study, out: Path, keep: bool) -> None:
    """Delete the unlearned weights a killed or interrupted trial of this machine left in its folder."""
    running = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    for folder in sorted((out / "trials").glob("[0-9]*")):
        if folder.name.isdigit() and int(folder.name) not in running:
            for model in [folder / "model", *sorted(folder.glob("seed-*/model"))]:
                _drop_weights(model, keep)


def _drop_weights(model: Path, keep: bool) -> None:
    """Delete the trial's unlearned model unless kept, keeping its run summary and curve beside it."""
    if keep or not model.is_dir():
        return
    for name in KEPT_FILES:
        if (model / name).is_file():
            shutil.move(str(model / name), str(model.parent / name))
    shutil.rmtree(model, ignore_errors=True)
