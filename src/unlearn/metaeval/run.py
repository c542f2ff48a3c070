"""``unlearn meta-eval``: build or read the pool, evaluate and attack it, score every forget metric, write the files.

Order of work: the settings, the pool file and the experiment's sections are checked before any model loads; the
pool is built (the recipe) or read; every model is evaluated and every unlearned model attacked, each a hash-keyed
step under ``OUT/steps`` (a rerun reuses what finished, a killed one resumes); every evaluation is checked to be
on the same forget questions; then the rows are scored (``table.py``) and written (``outputs.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from unlearn.config import validate_settings
from unlearn.data.benchmark import read_split_file
from unlearn.errors import UserError
from unlearn.metaeval.measure import attack_pool, evaluate_pool
from unlearn.metaeval.outputs import write_outputs
from unlearn.metaeval.pool import PoolModel, read_pool
from unlearn.metaeval.recipe import build_pool, recipe_sections
from unlearn.metaeval.settings import MetaEvalSettings, check_eval_section
from unlearn.metaeval.table import meta_rows
from unlearn.metaeval.values import ATTACKS, Evaluation, forget_metrics, read_attacks, read_evaluation
from unlearn.scenarios.common import data_step
from unlearn.scenarios.experiment import ExperimentSettings, check_experiment
from unlearn.scenarios.steps import Steps

NAME = "meta-eval"


def meta_evaluate(settings: MetaEvalSettings, progress: Callable[[str], None] = print) -> dict:
    """Run the meta-evaluation of ``settings``; returns what ``meta_eval.json`` holds, with ``files`` (the paths)."""
    check_eval_section(settings)
    pool = None if settings.builtin else read_pool(settings.pool)
    experiment = experiment_of(settings)
    check_experiment(experiment, NAME)
    out = Path(settings.out)
    steps = Steps(out, progress)
    if pool is None:
        data, pool = build_pool(experiment, settings, steps)
    else:
        forget = settings.forget_split
        data = data_step(experiment, steps, [forget, f"{forget}_perturbed"])
    evaluations = {i: read_evaluation(f, i) for i, f in evaluate_pool(experiment, steps, data, pool).items()}
    check_same_questions(evaluations, forget_questions(data, settings.forget_split))
    attack_folders = attack_pool(experiment, steps, data, pool, {i: e.folder for i, e in evaluations.items()})
    attacks = {i: read_attacks(folder, i) for i, folder in attack_folders.items()}
    rows = meta_rows(pool, {i: e.values for i, e in evaluations.items()},
                     {i: e.reasons for i, e in evaluations.items()}, attacks)
    result = {"rows": rows, "pool_sizes": {role: sum(m.role == role for m in pool)
                                           for role in ("knows", "never_saw", "unlearned")},
              "metrics": [m.name for m in forget_metrics()], "attacks": ATTACKS,
              "pool": [_listed(m, evaluations, attack_folders) for m in pool],
              "settings": settings.model_dump(mode="json")}
    files = write_outputs(out, result)
    return {**result, "files": files}


def experiment_of(settings: MetaEvalSettings) -> ExperimentSettings:
    """The experiment whose steps build, evaluate and attack the pool: the recipe's on its built-in benchmark, or
    the pool file's benchmark and forget split. Its ``attacks`` section is relearning and 4-bit quantization, with
    every forget metric measured before and after."""
    common = {"name": NAME, "out": settings.out, "device": settings.device, "threads": settings.threads,
              "eval": settings.eval_values(),
              "attacks": {"attacks": ATTACKS, "attack_args": {"relearn": settings.relearn},
                          "recovery_metrics": [m.name for m in forget_metrics()]}}
    if settings.builtin:
        sections = recipe_sections(settings)
        methods = settings.recipe.methods
        return validate_settings(ExperimentSettings, {**common, **sections, **({"methods": methods} if methods
                                                                                else {})}, "the built-in recipe")
    return validate_settings(ExperimentSettings, {**common, "data": settings.data, "forget": settings.forget_split},
                             f"pool file {settings.pool}")


def forget_questions(data: Path, forget: str) -> list[str]:
    """The forget split's questions in order, as ``unlearn eval`` reads it (its ``_perturbed`` version if present)."""
    path = data / f"{forget}_perturbed.jsonl"
    path = path if path.is_file() else data / f"{forget}.jsonl"
    if not path.is_file():
        raise UserError(f"the benchmark has no forget split '{forget}' (give --forget)")
    return [r["question"] for r in read_split_file(path)]


def check_same_questions(evaluations: dict[str, Evaluation], questions: list[str]) -> None:
    """Every model evaluated on the benchmark's forget questions, in order: a pool scored on different questions
    would compare the questions, not the models (and the attacks pair the folders row by row)."""
    for model_id, evaluation in evaluations.items():
        if evaluation.questions != questions:
            raise UserError(f"pool model '{model_id}': {evaluation.folder} was evaluated on other forget questions "
                            f"than the benchmark's forget split ({len(evaluation.questions)} vs {len(questions)}); "
                            "evaluate it with the same --data and --forget")


def _listed(model: PoolModel, evaluations: dict[str, Evaluation], attacks: dict[str, str | Path]) -> dict:
    """A pool model as ``meta_eval.json`` lists it: its role, sources and the folders its numbers came from."""
    listed = {"id": model.id, "role": model.role, "model": str(model.model) if model.model is not None else None,
              "eval": str(evaluations[model.id].folder)}
    if model.role == "unlearned":
        listed.update(target=model.target, retain=model.retain, attack=str(attacks[model.id]))
    return listed
