"""The front re-checked over more training seeds (``recheck_seeds``), so the chosen settings hold beyond one draw.

A study over one training seed chooses on a single draw of its randomness: on 2 cores a setting that
forgets and keeps utility with seed 0 has lost it with seed 1 (BENCHMARKS.md, "Tuned methods on the demo").
``trial_seeds`` runs every trial over several seeds; this runs only the front's, after the study: each
completed trial on the Pareto front unlearns and evaluates again once per recheck seed, in
``trials/NNNN/recheck-seed-S``, and its objectives become each one's worst over its own seeds and the
recheck's (``trial.worst``). The rule then chooses among the re-checked trials on those worst values; a
trial off the front is not a candidate (its one-seed numbers cannot be compared with a worst case).

Each finished run's objectives are kept in its folder's ``objectives.json``, so a killed recheck redoes
only the runs it had not finished; workers sharing one output folder recheck one after the other (the
folder's lock), the later reading what the earlier wrote. The study's own trials are left as they ran.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from optuna.trial import FrozenTrial, TrialState

from unlearn.files import atomic_write_json
from unlearn.tuning.objectives import OBJECTIVES_ATTR, PER_SEED_ATTR
from unlearn.tuning.trial import TrialFailed, TrialRunner, worst

log = logging.getLogger(__name__)
DONE_FILE = "objectives.json"
SECONDS_FILE = "seconds.json"


def front_trials(study) -> list[FrozenTrial]:
    """The completed trials no other completed trial beats in every objective, by number."""
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return []
    return sorted(study.best_trials, key=lambda t: t.number)


def recheck(study, runner: TrialRunner, seeds: list[int]) -> dict:
    """Run each front trial with each of ``seeds``; returns ``{"seeds": seeds, "trials": {number: row}}``,
    a row ``{"objectives": worst entries, "per_seed": {seed: entries}, "seconds": the recheck's}`` or
    ``{"failed": reason}`` when a run of it could not give its objectives (it is then no candidate)."""
    out = Path(runner.settings.out)
    rows = {}
    for trial in front_trials(study):
        per_seed = own_seeds(trial, runner.settings.seeds_per_trial)
        folder = out / "trials" / f"{trial.number:04d}"
        try:
            for seed in seeds:
                per_seed[str(seed)] = rechecked(runner, trial, seed, folder)
        except TrialFailed as failed:
            log.warning("recheck of %s", failed)
            rows[trial.number] = {"failed": str(failed)}
            continue
        worst_entries = {o.name: worst(o, [entries[o.name] for entries in per_seed.values()])
                         for o in runner.objectives}
        seconds = [json.loads((folder / f"recheck-seed-{seed}" / SECONDS_FILE).read_text(encoding="utf-8"))
                   for seed in seeds]
        rows[trial.number] = {"objectives": worst_entries, "per_seed": per_seed,
                              "seconds": {part: round(sum(s[part] for s in seconds), 1) for part in seconds[0]}}
        log.info("trial %d over seeds %s: %s", trial.number, ", ".join(per_seed),
                 ", ".join(f"{name} {entry['value']:.4g}" for name, entry in worst_entries.items()))
    return {"seeds": list(seeds), "trials": rows}


def own_seeds(trial: FrozenTrial, seeds: list[int]) -> dict[str, dict]:
    """The objectives the trial stored for each seed it ran (one seed: its objectives)."""
    if PER_SEED_ATTR in trial.user_attrs:
        return dict(trial.user_attrs[PER_SEED_ATTR])
    return {str(seeds[0]): trial.user_attrs[OBJECTIVES_ATTR]}


def rechecked(runner: TrialRunner, trial: FrozenTrial, seed: int, folder: Path) -> dict:
    """The trial's objectives with training ``seed``: read when an earlier recheck finished them, else run."""
    where = folder / f"recheck-seed-{seed}"
    done = where / DONE_FILE
    if done.is_file():
        return json.loads(done.read_text(encoding="utf-8"))
    log.info("recheck: trial %d with seed %d", trial.number, seed)
    seconds = {"forget": 0.0, "eval": 0.0}
    entries = runner.run_seed(trial.number, dict(trial.params), where, seed, seconds)
    atomic_write_json(where / SECONDS_FILE, {k: round(v, 1) for k, v in seconds.items()})
    atomic_write_json(done, entries)  # last: its presence says the run finished
    return entries
