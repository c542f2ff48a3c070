"""Fictitious scenario (TOFU): fine-tune on invented facts, unlearn a forget split, compare.

Anchors: the target model (fine-tuned on everything) and the retain model (fine-tuned on the
retain split only, the model unlearning aims at, and the reference of forget quality).
"""

from __future__ import annotations

import re
from pathlib import Path

from unlearn.data.fictitious import DEFAULT_FORGET_PERCENTS, MAX_FORGET_PERCENT
from unlearn.evaluation.splits import default_holdout
from unlearn.objectives.registry import reads_retain
from unlearn.scenarios.common import (UTILITY_SPLITS, Generated, attack_step, builtin_benchmark, data_step, eval_step,
                                      finetune_step, forget_step, training_overlap_notes)
from unlearn.scenarios.experiment import ExperimentSettings
from unlearn.scenarios.selection_refs import Anchors
from unlearn.scenarios.steps import Steps


def needed_splits(settings: ExperimentSettings) -> list[str]:
    holdout = default_holdout(settings.forget)
    tuned = [entry.tune["forget"] for entry in settings.methods if (entry.tune or {}).get("forget")]
    return ["full", settings.forget, f"{settings.forget}_perturbed", settings.retain, "retain_perturbed",
            *UTILITY_SPLITS, *([holdout] if holdout else []),
            *(f"{split}{end}" for split in tuned for end in ("", "_perturbed"))]


def builtin_data(settings: ExperimentSettings) -> Generated:
    """The built-in benchmark (the registered generator's) of the scenario's settings (people,
    qa_per_person, data_seed), with the experiment's own forgetNN split where TOFU's three lack it."""
    own = settings.scenario_settings
    percents = builtin_percents(settings.forget)
    key = {"builtin": [own.people, own.qa_per_person, own.data_seed]}
    if percents != DEFAULT_FORGET_PERCENTS:
        key["forget_percents"] = list(percents)
    return builtin_benchmark(settings, key, seed=own.data_seed, people=own.people, qa_per_person=own.qa_per_person,
                             forget_percents=percents)


def builtin_percents(forget: str) -> tuple[int, ...]:
    """TOFU's 1/5/10 % forget splits, plus the experiment's own forgetNN when it is another one."""
    match = re.fullmatch(r"forget(\d\d)", forget)
    extra = int(match.group(1)) if match else None
    if extra is None or extra in DEFAULT_FORGET_PERCENTS or not 1 <= extra <= MAX_FORGET_PERCENT:
        return DEFAULT_FORGET_PERCENTS
    return tuple(sorted({*DEFAULT_FORGET_PERCENTS, extra}))


def anchors(settings: ExperimentSettings, steps: Steps, data: Path) -> tuple[str | Path, Path, list[dict]]:
    """Target and retain models with their evaluations: ``(target, retain_eval, rows)``."""
    target = settings.target_model or finetune_step(settings, steps, data, "full", "finetune-target")
    retain = settings.retain_model or finetune_step(settings, steps, data, settings.retain, "finetune-retain")
    retain_eval = eval_step(settings, steps, retain, data, "eval-retain-model")
    target_eval = eval_step(settings, steps, target, data, "eval-target", retain_eval)
    rows = [{"label": "target", "role": "anchor", "model": target, "eval": target_eval},
            {"label": "retain model", "role": "anchor", "model": retain, "eval": retain_eval}]
    return target, retain_eval, rows


def selection_anchors(target: str | Path, retain_eval: Path | None, rows: list[dict]) -> Anchors:
    """What a selection rule compares with: the target, and the retain model of the anchors' ``rows``."""
    retain = next((row["model"] for row in rows if row["label"] == "retain model"), None)
    return Anchors(target, retain, retain_eval)


def run(settings: ExperimentSettings, steps: Steps) -> dict:
    data = data_step(settings, steps, needed_splits(settings), builtin_data(settings),
                     settings.scenario_settings.utility_records)
    target, retain_eval, rows = anchors(settings, steps, data)
    references = selection_anchors(target, retain_eval, rows)
    for entry in settings.methods:
        model = forget_step(settings, steps, target, data, entry, settings.forget, f"forget-{entry.name}",
                            anchors=references)
        evaluated = eval_step(settings, steps, model, data, f"eval-{entry.name}", retain_eval)
        row = {"label": entry.name, "role": "method", "model": model, "eval": evaluated}
        if settings.attacks is not None:
            row["attacks"] = attack_step(settings, steps, model, data, f"attack-{entry.name}", target, evaluated,
                                         rows[0]["eval"], retain_eval, control=rows[1]["model"],
                                         control_eval=retain_eval)
        rows.append(row)
    return {"models": rows, "notes": tofu_protocol_notes(settings, data)}


def tofu_protocol_notes(settings: ExperimentSettings, data: Path) -> list[str]:
    """TOFU measures retain utility on retain_perturbed, part of the retain split that the
    regularizers (and the retain model) train on; the report says so."""
    regularized = [m.name for m in settings.methods if reads_retain(m.method)]
    trained = {"the retain model" + (f" and the regularizers of {', '.join(regularized)}" if regularized else ""):
               settings.retain}
    notes = training_overlap_notes(data, trained, {"retain": "retain_perturbed"})
    return [f"{note} (TOFU's own protocol)" for note in notes]
