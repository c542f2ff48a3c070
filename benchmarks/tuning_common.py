"""Shared by the tuned benchmarks (``tuned_demo.py``, ``scenario_benchmarks.py --tuned``): tune each method
on a validation draw of an experiment, then run the experiment itself at the chosen settings.

The validation draw is the same experiment on another ``data_seed`` of its built-in benchmark (other
invented people, entities or articles, the same sizes), with its own target and retain model, so nothing
of the reported data is seen while choosing, and the study's trials get the retain model's evaluation
(forget quality and PrivLeak can be objectives).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

DEFAULT_TRIALS = 8


def revalidated(settings, updates: dict):
    """The experiment with ``updates``, checked as an experiment file would be."""
    from unlearn.scenarios.experiment import ExperimentSettings

    return ExperimentSettings(**{**settings.model_dump(exclude_unset=True), **updates})


def validation_experiment(settings, out: Path, methods: list[str], data_seed: int, tune: dict,
                          unlearn: dict | None = None, spaces: dict[str, dict] | None = None):
    """``settings`` on the benchmark drawn with ``data_seed``, into ``out``, with ``methods`` (``chosen_entries``)
    each with ``tune`` as its ``tune:`` section, its ``space`` updated by the method's own in ``spaces`` (by
    label); ``unlearn`` over its unlearn section."""
    def tune_of(label: str) -> dict:
        own = (spaces or {}).get(label)
        return {**tune, "space": {**tune.get("space", {}), **own}} if own else tune

    entries = [{**flat_entry(entry), "tune": tune_of(entry.name)} for entry in chosen_entries(settings, methods)]
    return revalidated(settings, {
        "name": f"{settings.name}-validation", "out": str(out),
        "scenario_args": {**settings.scenario_args, "data_seed": data_seed},
        "methods": entries, "unlearn": {**settings.unlearn, **(unlearn or {})}})


def with_entries(settings, entries: list[dict]):
    """``settings`` with more method ``entries`` (as an experiment file writes them) after its own."""
    return revalidated(settings, {"methods": [*map(flat_entry, settings.methods), *entries]})


def chosen_entries(settings, methods: list[str]) -> list:
    """The experiment's method entry of each label in ``methods``; a name that is no entry's label is a method
    run with the experiment's shared settings (the demo's GA+GD)."""
    from unlearn.scenarios.experiment import MethodEntry

    known = {entry.name: entry for entry in settings.methods}
    return [known.get(name) or MethodEntry(method=name) for name in methods]


def flat_entry(entry) -> dict:
    """A method entry as an experiment file writes it: method, label and its forget settings side by side."""
    return {"method": entry.method, **({"label": entry.label} if entry.label else {}), **entry.settings}


def chosen_settings(folder: Path, label: str, steps) -> dict:
    """The chosen trial of method ``label``'s tune step among the run's ``steps`` (``run_experiment``'s record
    of the steps it ran or reused; a folder may hold a stale study of other settings): its sampled settings,
    the rule's reason, how many trials ended how, the front, each finished trial's recorded seconds, and those
    of each re-checked trial (``recheck_seeds``)."""
    from unlearn.scenarios.steps import folder_stem

    def step_of(kind: str) -> list[Path]:
        step = re.compile(re.escape(folder_stem(f"{kind}-forget-{label}")) + r"-[0-9a-f]+")  # not RMU-adaptive's
        return [folder / "steps" / name / "pareto.json" for name in [*steps.ran, *steps.reused] if step.fullmatch(name)]

    found = step_of("recheck") or step_of("tune")  # a study re-checked over seeds chose in its recheck step
    if len(found) != 1:
        raise SystemExit(f"{folder}: {len(found)} tune steps of {label} in this run, not one")
    summary = json.loads(found[0].read_text(encoding="utf-8"))
    chosen = summary["chosen"]
    params = next((row["params"] for row in summary["trials"] if row["trial"] == chosen["trial"]), None)
    states: dict[str, int] = {}
    for row in summary["trials"]:
        states[row["state"]] = states.get(row["state"], 0) + 1
    seconds = [sum(row["seconds"].values()) for row in summary["trials"] if row.get("seconds")]
    finished = [sum(row["seconds"].values()) for row in summary["trials"]
                if row.get("seconds") and row["state"] == "complete"]
    recheck = summary.get("recheck")
    return {"trial": chosen["trial"], "params": params, "reason": chosen["reason"], "states": states,
            "front": [row["trial"] for row in summary.get("front", [])], "trial_seconds": seconds,
            "complete_seconds": finished,
            **({"recheck_seeds": recheck["seeds"],
                "recheck_seconds": [sum(row["seconds"].values()) for row in recheck["trials"].values()
                                    if "seconds" in row]} if recheck else {})}


def tuned_experiment(settings, out: Path, tuned: dict[str, dict], seeds: list[int]):
    """``settings`` into ``out`` over the training ``seeds``, each tuned method at its chosen trial's settings
    (labelled "LABEL tuned"); a method whose study chose no trial is left out."""
    entries = [tuned_entry(flat_entry(entry), tuned[entry.name]["params"], entry.name)
               for entry in chosen_entries(settings, list(tuned)) if tuned[entry.name]["params"] is not None]
    return revalidated(settings, {"name": f"{settings.name}-tuned", "out": str(out), "seeds": seeds,
                                  "methods": entries})


def tuned_entry(values: dict, params: dict, label: str) -> dict:
    """A method entry as an experiment file writes it (``values``) at a chosen trial's sampled settings,
    labelled "LABEL tuned"."""
    from unlearn.tuning.space import apply

    return {**apply(values, params, values["method"], values.get("mask", "none")), "label": f"{label} tuned"}


def search_cost(chosen: dict) -> str:
    """What the study cost, from its trials' own recorded seconds (training plus evaluation; a resumed
    run's wall time would undercount it). Studies before pruned trials recorded theirs count finished ones."""
    seconds, finished = chosen["trial_seconds"], sorted(chosen.get("complete_seconds", chosen["trial_seconds"]))
    if not seconds:
        return f"trials {chosen['states']}"
    counted = ("every trial that recorded its time" if "complete_seconds" in chosen
               else f"the {len(seconds)} finished, pruned trials not counted")
    median = f", a finished trial {finished[len(finished) // 2] / 60:.1f} min (median)" if finished else ""
    rechecked = chosen.get("recheck_seconds")
    recheck = (f"; {len(rechecked)} trial{'s' if len(rechecked) != 1 else ''} re-checked with seeds "
               f"{', '.join(map(str, chosen['recheck_seeds']))}: {sum(rechecked) / 60:.0f} min more"
               if rechecked is not None else "")
    return f"trials {chosen['states']}; {sum(seconds) / 60:.0f} min in all ({counted}){median}{recheck}"


def kept_runs(path: Path) -> list[dict]:
    """The runs a kept results file holds (``{"runs": [record, ...]}``; a file of one record is one run)."""
    if not path.is_file():
        return []
    kept = json.loads(path.read_text(encoding="utf-8"))
    return kept["runs"] if "runs" in kept else [kept]


def kept_choices(runs: list[dict]) -> dict[str, tuple[dict, dict]]:
    """Each method the kept ``runs`` tuned to a chosen trial: ``{label: (the run, its chosen settings)}`` (each
    method is in one run only, ``with_run``); a study that chose no trial is left out."""
    return {label: (run, chosen) for run in runs for label, chosen in run["tuned"].items()
            if chosen["params"] is not None}


def with_run(runs: list[dict], record: dict) -> list[dict]:
    """``runs`` with ``record`` last and the methods it tuned taken out of every earlier run (their rows, a
    scenario's per-seed models, checks and the notes that begin with their name); a run left with no method
    goes. Each method's numbers come from the last run that tuned it, and an earlier run's other methods stay (a
    study whose step key changed need not be run again for the methods it already reported)."""
    kept = [without_methods(run, set(record["tuned"])) for run in runs]
    return [run for run in kept if run["tuned"]] + [record]


def without_methods(run: dict, methods: set[str]) -> dict:
    """``run`` without ``methods``: their tuned settings, rows (the demo's), per-seed models (a scenario's), held
    checks and notes."""
    labels = {f"{method} tuned" for method in methods}
    kept = {"tuned": {m: chosen for m, chosen in run["tuned"].items() if m not in methods}}
    if "rows" in run:
        kept["rows"] = [row for row in run["rows"] if row["model"] not in labels]
    if "held" in run:
        kept["held"] = {label: held for label, held in run["held"].items() if label not in labels}
    if "seeds" in run:
        kept["seeds"] = {seed: {**one, "models": [m for m in one["models"] if m["label"] not in labels]}
                         for seed, one in run["seeds"].items()}
    if "notes" in run:
        kept["notes"] = [note for note in run["notes"] if not note.startswith(tuple(f"{m} " for m in methods))]
    return {**run, **kept}


def shown_params(params: dict | None) -> str:
    return "none" if params is None else ", ".join(f"{name} {value:.3g}" for name, value in params.items())


def shown_space(space: dict) -> str:
    """A ``space:`` section in words: ``learning_rate 1e-05 to 0.001 (log), rmu.steering left out``."""
    def one(name: str, dimension) -> str:
        if dimension is None:
            return f"{name} left out"
        if isinstance(dimension, list):
            return f"{name} in {dimension}"
        return f"{name} {dimension['low']:g} to {dimension['high']:g}" + (" (log)" if dimension.get("log") else "")

    return ", ".join(one(name, dimension) for name, dimension in space.items())


def shown_path(path: Path, root: Path) -> str:
    """``path`` as ``root`` (the repository) sees it, so a printed command runs from there."""
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return str(path)
