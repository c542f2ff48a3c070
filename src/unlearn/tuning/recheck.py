"""The rule's choice re-checked over more training seeds (``recheck_seeds``), so it holds beyond one draw.

A study over one training seed chooses on a single draw of its randomness: on 2 cores a setting that
forgets and keeps utility with seed 0 has lost it with seed 1 (BENCHMARKS.md, "Tuned methods on the demo").
``trial_seeds`` runs every trial over several seeds; this runs only the trials the rule would choose, after
the study. The chosen trial unlearns and evaluates again once per recheck seed, in
``trials/NNNN/recheck-seed-S``, and counts each objective's worst over its own seeds and the recheck's
(``trial.worst``); the rule then chooses again among every completed trial, the re-checked ones at their
worst, and so on until its choice is a trial already re-checked. A worst seed is never better than one
seed's values, so for a rule that ranks by the objectives (``utility-floor``, ``best``) the trial chosen is
the one best at its worst seed, found by re-checking one trial or a few instead of every one.

Each finished run's objectives are kept in its folder's ``objectives.json``, so a killed recheck redoes
only the runs it had not finished; workers sharing one output folder recheck one after the other (the
folder's lock), the later reading what the earlier wrote. The study's own trials are left as they ran.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

from optuna.trial import FrozenTrial, TrialState

from unlearn.files import atomic_write_json
from unlearn.tuning.objectives import OBJECTIVES_ATTR, PER_SEED_ATTR
from unlearn.tuning.trial import TrialFailed, TrialRunner, worst

log = logging.getLogger(__name__)
DONE_FILE = "objectives.json"
SECONDS_FILE = "seconds.json"


def recheck(study, runner: TrialRunner, seeds: list[int], choose_among: Callable[[dict], int | None]) -> dict:
    """Re-check ``choose_among``'s choice (the rule's, given the re-checks so far) with each of ``seeds`` until
    it chooses a trial already re-checked or none; returns ``{"seeds": seeds, "trials": {number: row}}``, a row
    ``{"objectives": worst entries, "per_seed": {seed: entries}, "seconds": the recheck's}`` or ``{"failed":
    reason}`` when a run of it could not give its objectives (it is then no candidate)."""
    out = Path(runner.settings.out)
    trials = {t.number: t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))}
    rows: dict[int, dict] = {}
    while (number := choose_among({"seeds": list(seeds), "trials": rows})) is not None and number not in rows:
        rows[number] = recheck_trial(runner, trials[number], seeds, out / "trials" / f"{number:04d}")
    return {"seeds": list(seeds), "trials": rows}


def recheck_trial(runner: TrialRunner, trial: FrozenTrial, seeds: list[int], folder: Path) -> dict:
    """One trial's row (``recheck``) over its own seeds and ``seeds``."""
    per_seed = own_seeds(trial, runner.settings.seeds_per_trial)
    spent = {"forget": 0.0, "eval": 0.0}
    try:
        for seed in seeds:
            per_seed[str(seed)], seconds = rechecked(runner, trial, seed, folder / f"recheck-seed-{seed}")
            spent = {part: spent[part] + seconds.get(part, 0.0) for part in spent}
    except TrialFailed as failed:
        log.warning("recheck of %s", failed)
        return {"failed": str(failed)}
    worst_entries = {o.name: worst(o, [entries[o.name] for entries in per_seed.values()]) for o in runner.objectives}
    log.info("trial %d over seeds %s: %s", trial.number, ", ".join(per_seed),
             ", ".join(f"{name} {entry['value']:.4g}" for name, entry in worst_entries.items()))
    return {"objectives": worst_entries, "per_seed": per_seed,
            "seconds": {part: round(value, 1) for part, value in spent.items()}}


def own_seeds(trial: FrozenTrial, seeds: list[int]) -> dict[str, dict]:
    """The objectives the trial stored for each seed it ran (one seed: its objectives)."""
    if PER_SEED_ATTR in trial.user_attrs:
        return dict(trial.user_attrs[PER_SEED_ATTR])
    return {str(seeds[0]): trial.user_attrs[OBJECTIVES_ATTR]}


def rechecked(runner: TrialRunner, trial: FrozenTrial, seed: int, where: Path) -> tuple[dict, dict]:
    """The trial's objectives with training ``seed`` in folder ``where``, and what the run took: read when an
    earlier recheck finished them, else run."""
    done, took = where / DONE_FILE, where / SECONDS_FILE
    if done.is_file():
        return json.loads(done.read_text(encoding="utf-8")), json.loads(took.read_text(encoding="utf-8"))
    log.info("recheck: trial %d with seed %d", trial.number, seed)
    seconds = {"forget": 0.0, "eval": 0.0}
    entries = runner.run_seed(trial.number, dict(trial.params), where, seed, seconds)
    seconds = {k: round(v, 1) for k, v in seconds.items()}
    atomic_write_json(took, seconds)
    atomic_write_json(done, entries)  # last: its presence says the run finished
    return entries, seconds
