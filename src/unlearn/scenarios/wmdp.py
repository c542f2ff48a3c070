"""WMDP scenario: unlearn knowledge from a corpus of raw text, measure it by multiple choice.

The target model (given, or fine-tuned on ``target_split``: the built-in benchmark's
facts are invented, so a model must first learn them) is unlearned by each method on the forget
corpus, the regularizers reading the retain corpus. Every model is evaluated on the
multiple-choice splits in lm-eval's zero-shot format: the forget ones (WMDP's bio and cyber
questions) should fall to chance, the utility ones (MMLU format) should stay: the scenario's registered
suite (``choice``) scores the splits its ``choice_forget`` and ``choice_utility`` name. Any suite of the
``eval`` section (``suites: [lm-eval]`` with ``suite_args: {lm-eval: {tasks: [mmlu]}}``) runs on every model
as well.

The real benchmark keeps its questions (``cais/wmdp``: ``wmdp-bio.test``, ``wmdp-cyber.test``, ...)
and its corpora (``cais/wmdp-corpora``: ``cyber-forget-corpus``, ``cyber-retain-corpus``, ...) in two
Hub datasets: ``data`` names the first, ``scenario_args: {corpora: ...}`` the second.
"""

from __future__ import annotations

from unlearn.scenarios.common import builtin_benchmark, data_step, eval_step, finetune_step, forget_step, suite_splits
from unlearn.scenarios.experiment import ExperimentSettings
from unlearn.scenarios.selection_refs import Anchors
from unlearn.scenarios.steps import Steps


def run(settings: ExperimentSettings, steps: Steps) -> dict:
    own = settings.scenario_settings
    forget, retain = settings.forget, settings.retain  # default: the built-in corpora's names
    suite_args = {"choice": {"forget": own.choice_forget, "utility": own.choice_utility}}  # the scenario's suite
    needed = [forget, retain, *suite_splits(settings, suite_args)]
    if not settings.target_model:
        needed.append(own.target_split)
    builtin = builtin_benchmark(settings, {"builtin_wmdp": [own.entities, own.data_seed]}, by_content=True,
                                seed=own.data_seed, entities=own.entities)
    if own.corpora:  # WMDP keeps its questions and its corpora in two Hub datasets
        data = data_step(settings, steps, [n for n in needed if n not in (forget, retain)], builtin)
        corpora_data = data_step(settings.model_copy(update={"data": own.corpora}), steps, [forget, retain], builtin)
    else:
        data = corpora_data = data_step(settings, steps, needed, builtin)
    only_choices = {"forget": None, "retain_split": None, "real_authors": None, "world_facts": None,
                    "holdout": None, "suite_args": suite_args}
    target = settings.target_model or finetune_step(settings, steps, data, own.target_split, "finetune-target")
    rows = [{"label": "target", "role": "anchor", "model": target,
             "eval": eval_step(settings, steps, target, data, "eval-target", **only_choices)}]
    for entry in settings.methods:
        model = forget_step(settings, steps, target, corpora_data, entry, forget, f"forget-{entry.name}",
                            retain=retain, anchors=Anchors(target), evaluation=only_choices, eval_data=data)
        rows.append({"label": entry.name, "role": "method", "model": model,
                     "eval": eval_step(settings, steps, model, data, f"eval-{entry.name}", **only_choices)})
    return {"models": rows, "notes": [f"Unlearned on the raw text of '{forget}' (regularizers: '{retain}'); "
                                      "multiple-choice accuracy is scored as lm-eval-harness scores WMDP and MMLU "
                                      "zero-shot (the likeliest of the letters A-D after 'Answer:')."]}
