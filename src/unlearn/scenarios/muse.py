"""MUSE scenario: unlearn news articles from raw text; VerbMem, KnowMem and PrivLeak after.

Anchors: the target model (given, or fine-tuned on ``raw.full``, the forget and retain
articles) and the retrained model (given as ``retain_model``, or fine-tuned on ``raw.retain1``
only: the model unlearning aims at, whose Min-40% AUC PrivLeak is relative to). Each method
unlearns ``raw.forget`` with ``raw.retain1`` as its retain set, as MUSE's baselines do; every
model gets MUSE's metrics on the same splits, plus any lm-eval task of the ``eval`` section.
MUSE's choice of checkpoint (the first whose forget KnowMem is at or below the retrained
model's) is made by a method entry with ``select: muse`` and ``curve: {suites: [muse], forget: none}``,
the retrained model's KnowMem read from it on the curve's data (``selection_refs.py``); the others run
all their epochs.

``scenario_args: {protocol: ...}`` adds MUSE's two other protocols: scalability unlearns each of the nested
``scal.forget_1..4`` from the target separately; sustainability unlearns ``sust.forget_1..4`` one
after another, each from the previous model. Every model is evaluated, so KnowMem on the retain
questions (what both protocols report) can be read against the amount forgotten.
"""

from __future__ import annotations

from unlearn.scenarios.common import builtin_benchmark, data_step, eval_step, finetune_step, forget_step, suite_splits
from unlearn.scenarios.experiment import ExperimentSettings
from unlearn.scenarios.selection_refs import Anchors
from unlearn.scenarios.steps import Steps

FULL = "raw.full"
FOLDS = 4
# the question-answer splits are not MUSE's: the scenario's registered suite is what every model is evaluated by
MUSE_ONLY = {"forget": None, "retain_split": None, "real_authors": None, "world_facts": None, "holdout": None}


def run(settings: ExperimentSettings, steps: Steps) -> dict:
    own = settings.scenario_settings
    forget, retain = settings.forget, settings.retain
    requests = _requests(own.protocol, forget)
    needed = [*dict.fromkeys([*requests, retain, *suite_splits(settings)])]
    if not settings.target_model:
        needed.append(FULL)
    builtin = builtin_benchmark(settings, {"builtin_muse": [own.people, own.qa_per_person, own.data_seed]},
                                by_content=True, seed=own.data_seed, people=own.people,
                                qa_per_person=own.qa_per_person)
    data = data_step(settings, steps, needed, builtin)
    target = settings.target_model or finetune_step(settings, steps, data, FULL, "finetune-target")
    rows, retrained = [], None
    if own.retrained_auc is not None and not settings.retain_model:
        retrained_eval, anchor = None, {"suite_args": {"muse": {"retrained_auc": own.retrained_auc}}}
    else:
        retrained = settings.retain_model or finetune_step(settings, steps, data, retain, "finetune-retrained")
        retrained_eval = eval_step(settings, steps, retrained, data, "eval-retrained", **MUSE_ONLY)
        anchor = {}
        rows.append({"label": "retrained", "role": "anchor", "model": retrained, "eval": retrained_eval})
    rows.insert(0, {"label": "target", "role": "anchor", "model": target,
                    "eval": eval_step(settings, steps, target, data, "eval-target", retrained_eval, **MUSE_ONLY,
                                      **anchor)})
    references = Anchors(target, retrained, retrained_eval, retain_label="retrained model")
    for entry in settings.methods:
        model = target
        for split in requests:
            label = entry.name if own.protocol == "standard" else f"{entry.name} {split}"
            start = model if own.protocol == "sustainability" else target
            model = forget_step(settings, steps, start, data, entry, split, f"forget-{label}",
                                retain=retain, anchors=references, evaluation={**MUSE_ONLY, **anchor})
            rows.append({"label": label, "role": "method", "model": model,
                         "eval": eval_step(settings, steps, model, data, f"eval-{label}", retrained_eval,
                                           **MUSE_ONLY, **anchor)})
    return {"models": rows, "notes": [f"Unlearned on the raw text of '{forget}' (regularizers: '{retain}'); "
                                      "PrivLeak is relative to the retrained model's Min-40% AUC. MUSE picks the "
                                      "first checkpoint whose forget KnowMem reaches the retrained model's; here a "
                                      "method does so only with select: muse, else it runs all its epochs."]}


def _requests(protocol: str, forget: str) -> list[str]:
    """The forget splits each method unlearns, in order, for the chosen protocol."""
    if protocol == "scalability":
        return [f"scal.forget_{k}" for k in range(1, FOLDS + 1)]
    if protocol == "sustainability":
        return [f"sust.forget_{k}" for k in range(1, FOLDS + 1)]
    return [forget]
