"""The built-in pool: models that know the forget data, models that never saw it, and unlearned ones, made from
the fictitious scenario's own steps (``scenarios/common.py``) so that a rerun reuses every finished step.

On the built-in benchmark of invented people: for every training seed and fine-tuning length a target (fine-tuned
on every fact: knows the forget data) and a retain model (on the retain facts only: never saw it); then each
method unlearns the longest-trained target of every seed, with that setting's retain model as its control. The
fine-tuning and unlearning settings are the demo's (``scenarios/demo.py``), so the pool's models are the kind of
models the demo reports on; the shorter fine-tuning makes targets that know the facts less well, which a faithful
metric must still tell apart from retain models.
"""

from __future__ import annotations

from pathlib import Path

from unlearn.metaeval.pool import PoolModel
from unlearn.metaeval.settings import MetaEvalSettings
from unlearn.scenarios.common import data_step, finetune_step, forget_step
from unlearn.scenarios.demo import FINETUNE, UNLEARN
from unlearn.scenarios.experiment import ExperimentSettings, MethodEntry
from unlearn.scenarios.fictitious import builtin_data, needed_splits
from unlearn.scenarios.steps import Steps


def build_pool(experiment: ExperimentSettings, settings: MetaEvalSettings,
               steps: Steps) -> tuple[Path, list[PoolModel]]:
    """The benchmark folder and the pool's models, trained (or reused) step by step."""
    recipe = settings.recipe
    data = data_step(experiment, steps, needed_splits(experiment), builtin_data(experiment))
    pool: list[PoolModel] = []
    for seed in recipe.seeds:
        targets = {}
        for epochs in recipe.finetune_epochs:
            tag = f"s{seed}-e{epochs:g}"
            trained = experiment.model_copy(update={"finetune": {**experiment.finetune, "epochs": epochs}})
            trained = trained.with_seed(seed)
            targets[epochs] = target = finetune_step(trained, steps, data, "full", f"finetune-target-{tag}")
            retain = finetune_step(trained, steps, data, experiment.retain, f"finetune-retain-{tag}")
            pool += [PoolModel(f"target-{tag}", "knows", target), PoolModel(f"retain-{tag}", "never_saw", retain)]
        tag = f"s{seed}-e{recipe.finetune_epochs[-1]:g}"
        for method in recipe.methods:
            entry = MethodEntry(method=method, settings={"learning_rate": recipe.unlearn_learning_rate})
            model = forget_step(experiment.with_seed(seed), steps, targets[recipe.finetune_epochs[-1]], data, entry,
                                experiment.forget, f"forget-{method}-{tag}")
            pool.append(PoolModel(f"{method}-{tag}", "unlearned", model, target=f"target-{tag}",
                                  retain=f"retain-{tag}"))
    return data, pool


def recipe_sections(settings: MetaEvalSettings) -> dict:
    """The recipe's part of the experiment the steps read: its benchmark, base model, splits and the demo's
    fine-tuning and unlearning settings."""
    recipe = settings.recipe
    forget = settings.forget_split
    return {"scenario_args": {"people": recipe.people, "qa_per_person": recipe.qa_per_person,
                              "data_seed": recipe.data_seed},
            "model": settings.model, "forget": forget, "retain": f"retain{100 - int(forget[len('forget'):]):02d}",
            "finetune": dict(FINETUNE), "unlearn": dict(UNLEARN)}
