"""The study's result: the Pareto front, the trial a selection rule chooses, and its settings as YAML.

The front is Optuna's: the completed trials no other completed trial beats in every objective
(``study.best_trials``). The chosen trial comes from a checkpoint selection rule (``unlearn.selection``)
applied to the completed trials as if they were checkpoints of one curve, the step being the trial's
number. The default rule, ``utility-floor``, picks the best forget score (the first objective) among the
trials whose utility (the second) is at least 0.9 x the target's; the objectives and the target's
numbers fill its settings where ``select_args`` does not.

Written into the study folder: ``pareto.csv`` (one row per front trial, each objective with its interval,
then the sampled settings), ``pareto.json`` (the same, every trial with its state and reason, the target,
the space and the choice), ``pareto.png`` and ``best.yaml``, the forget settings of the chosen trial that
``unlearn forget --config best.yaml`` runs as they are.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import yaml
from optuna.trial import FrozenTrial, TrialState

from unlearn.files import atomic_write_json, atomic_write_text
from unlearn.selection import Checkpoint, select
from unlearn.selection.registry import rule
from unlearn.tuning.objectives import OBJECTIVES_ATTR, PER_SEED_ATTR, Objective, stored_interval
from unlearn.tuning.settings import TuneSettings
from unlearn.tuning.space import apply

BEST_FILE = "best.yaml"


def rule_args(settings: TuneSettings, objectives: list[Objective], target: dict[str, float]) -> dict:
    """The selection rule's settings: those given, over what the objectives and the target imply for the
    rule's settings of those names (the forget and utility metrics, their directions, the target's utility)."""
    implied: dict = {}
    if len(objectives) >= 2:
        forget, utility = objectives[0], objectives[1]
        implied = {"forget_metric": forget.name, "better": "lower" if forget.direction == "minimize" else "higher",
                   "utility_metric": utility.name, "target_utility": target[utility.name], "metric": forget.name}
    accepted = rule(settings.select).settings.model_fields
    given = settings.select_args.get(settings.select, {})
    return {**{k: v for k, v in implied.items() if k in accepted}, **given}


def check_rule(settings: TuneSettings, objectives: list[Objective], target: dict[str, float]) -> None:
    """Run the rule on no trials, so a setting it needs and cannot get fails before the first trial."""
    select(settings.select, [], rule_args(settings, objectives, target))


def as_checkpoint(trial: FrozenTrial, objectives: list[Objective]) -> Checkpoint:
    intervals = {o.name: tuple(i) for o in objectives if (i := stored_interval(trial, o.name))}
    return Checkpoint(trial.number, None, dict(zip([o.name for o in objectives], trial.values)), intervals)


def rechecked_checkpoint(number: int, entries: dict, objectives: list[Objective]) -> Checkpoint:
    """A re-checked trial (``recheck.py``) as the rule sees it: each objective's worst seed."""
    intervals = {o.name: tuple(entries[o.name]["interval"]) for o in objectives if entries[o.name]["interval"]}
    return Checkpoint(number, None, {o.name: entries[o.name]["value"] for o in objectives}, intervals)


def candidates(study, objectives: list[Objective], rechecked: dict | None = None) -> list[Checkpoint]:
    """The completed trials as the rule's checkpoints: a re-checked one at its worst seed, one whose recheck
    failed left out, the others as they ran."""
    rows = (rechecked or {}).get("trials", {})
    found = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        row = rows.get(trial.number)
        if row is None:
            found.append(as_checkpoint(trial, objectives))
        elif "objectives" in row:
            found.append(rechecked_checkpoint(trial.number, row["objectives"], objectives))
    return found


def choose(study, settings: TuneSettings, objectives: list[Objective], target: dict[str, float],
           rechecked: dict | None = None) -> dict:
    """The chosen trial's number (None when no trial qualifies) and the rule's reason, in trial words. With
    ``rechecked`` (``recheck.recheck``'s result), its trials count at their worst seed."""
    args = rule_args(settings, objectives, target)
    chosen = select(settings.select, candidates(study, objectives, rechecked), args)
    number = chosen.checkpoint.step if chosen.checkpoint else None
    reason = chosen.reason
    if chosen.checkpoint is not None:
        reason = reason.replace(chosen.checkpoint.label, f"trial {number}", 1)
    for objective in objectives:  # the rule compared a toward objective's distances: say so
        if objective.toward is not None:
            reason = re.sub(rf"{re.escape(objective.name)}\b", objective.label, reason)
    reason = reason.replace("checkpoint", "trial")
    if rechecked is not None and rechecked["trials"]:
        seeds = ", ".join(map(str, [*settings.seeds_per_trial, *rechecked["seeds"]]))
        count = len(rechecked["trials"])
        reason += (f" (trial{'s' if count != 1 else ''} {', '.join(map(str, sorted(rechecked['trials'])))} "
                   f"re-checked, each objective at its worst of seeds {seeds})")
    return {"rule": settings.select, "args": args, "trial": number, "reason": reason}


def trial_row(trial: FrozenTrial, objectives: list[Objective]) -> dict:
    """A trial as ``pareto.json`` lists it: state, objectives with intervals, sampled settings, reason."""
    stored = trial.user_attrs.get(OBJECTIVES_ATTR, {})
    row = {"trial": trial.number, "state": trial.state.name.lower(),
           "objectives": {o.name: stored.get(o.name) for o in objectives} if stored else None,
           "params": dict(trial.params)}
    for key in ("worker", "fail_reason", "pruned_step", "pruned_reason", "seconds", PER_SEED_ATTR):
        if key in trial.user_attrs:
            row[key] = trial.user_attrs[key]
    if "failed_trial" in trial.system_attrs:
        row["retry_of"] = trial.system_attrs["failed_trial"]
    return row


def csv_text(front: list[FrozenTrial], objectives: list[Objective], params: list[str]) -> str:
    """One row per front trial: its number, each objective with its interval's ends (a toward objective's
    distance, then its measured value), its settings."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["trial", *[column for o in objectives for column in
                                [f"{o.label}{end}" for end in ("", "_low", "_high")]
                                + ([o.name] if o.toward is not None else [])], *params])
    for trial in front:
        cells: list = [trial.number]
        for objective, value in zip(objectives, trial.values):
            cells += [value, *(stored_interval(trial, objective.name) or ["", ""])]
            if objective.toward is not None:
                stored = (trial.user_attrs.get(OBJECTIVES_ATTR) or {}).get(objective.name) or {}
                cells.append(stored.get("measured", ""))
        writer.writerow([*cells, *(trial.params.get(p, "") for p in params)])
    return buffer.getvalue()


def best_settings(settings: TuneSettings, trial: FrozenTrial) -> dict:
    """The chosen trial's forget settings: those every trial shared, its sampled ones, a model folder."""
    values = apply(settings.forget_values(), dict(trial.params), settings.method, settings.mask)
    return {**values, "out": str(Path(settings.out) / "best-model")}


def write_best(path: Path, settings: TuneSettings, trial: FrozenTrial, study_name: str, reason: str) -> None:
    header = (f"# unlearn forget settings chosen by unlearn tune: trial {trial.number} of study '{study_name}'\n"
              f"# {reason}\n"
              "# run: unlearn forget --config best.yaml (flags override it: --forget SPLIT --out FOLDER)\n")
    atomic_write_text(path, header + yaml.safe_dump(best_settings(settings, trial), sort_keys=False))


def export(study, settings: TuneSettings, objectives: list[Objective], target: dict, space: list[dict],
           rechecked: dict | None = None) -> dict:
    """Write the front, the plot, the choice and ``best.yaml`` into the study folder; returns pareto.json.
    ``target``: the target's ``values`` and ``intervals`` of the objectives; ``rechecked``: the trials re-checked
    over more seeds (``recheck.py``), which the rule counts at their worst seed."""
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    trials = study.get_trials(deepcopy=False)
    front = sorted(study.best_trials, key=lambda t: t.number) if any(
        t.state == TrialState.COMPLETE for t in trials) else []
    params = list(dict.fromkeys(p for t in front for p in t.params))
    choice = choose(study, settings, objectives, target["values"], rechecked)
    atomic_write_text(out / "pareto.csv", csv_text(front, objectives, params))
    summary = {
        "study": study.study_name, "objectives": [o.text for o in objectives],
        "target": target, "space": space,
        "counts": {state.name.lower(): sum(t.state == state for t in trials) for state in TrialState},
        "front": [trial_row(t, objectives) for t in front], "chosen": choice,
        "trials": [trial_row(t, objectives) for t in trials],
        **({"recheck": {"seeds": rechecked["seeds"], "trials": {str(n): row for n, row in rechecked["trials"].items()}}}
           if rechecked is not None else {}),
    }
    best = out / BEST_FILE
    if choice["trial"] is not None:
        chosen = next(t for t in trials if t.number == choice["trial"])
        write_best(best, settings, chosen, study.study_name, choice["reason"])
        summary["best_config"] = str(best)
    else:
        best.unlink(missing_ok=True)  # a choice from an earlier export no longer holds
    from unlearn.tuning.plot import front_plot

    plot = front_plot(trials, front, objectives, target["values"], choice["trial"], out / "pareto.png", rechecked)
    if plot is not None:
        summary["plot"] = str(plot)
    atomic_write_json(out / "pareto.json", summary)
    return summary
