"""Continual scenario: a sequence of forget requests, each unlearned from the previous model.

The requests are the forget split's ``task_id`` groups, in order. After request k the model is
evaluated on everything forgotten so far (so each request's numbers can be read separately
from the per-example ``task_id``) and on the utility splits. The reference of NPO/DPO/KL is
the original target model or the previous request's model (``continual_reference``).
"""

from __future__ import annotations

from pathlib import Path

from unlearn.evaluation.splits import default_holdout
from unlearn.scenarios.common import data_step, eval_step, forget_step
from unlearn.scenarios.experiment import ExperimentSettings
from unlearn.scenarios.fictitious import anchors, needed_splits, tofu_protocol_notes
from unlearn.scenarios.steps import Steps


def run(settings: ExperimentSettings, steps: Steps) -> dict:
    data = data_step(settings, steps, needed_splits(settings), requests=True)
    target, retain_eval, rows = anchors(settings, steps, data)
    count = len(list(data.glob("request[0-9]*.jsonl")))
    holdout = default_holdout(settings.forget)
    sequence = []
    for entry in settings.methods:
        previous: str | Path = target
        for k in range(1, count + 1):
            # None: the model before this request (for the first request, that is the target itself)
            reference = target if settings.continual_reference == "original" and k > 1 else None
            model = forget_step(settings, steps, previous, data, entry, f"request{k:02d}",
                                f"forget-{entry.name}-request{k:02d}", reference=reference)
            evaluated = eval_step(settings, steps, model, data, f"eval-{entry.name}-request{k:02d}", retain_eval,
                                  forget=f"requests_upto{k:02d}", holdout=holdout or "none")
            sequence.append({"label": entry.name, "request": k, "model": model, "eval": evaluated})
            previous = model
        rows.append({"label": entry.name, "role": "method", "model": previous, "eval": sequence[-1]["eval"]})
    return {"models": rows, "continual": sequence, "requests": count, "notes": tofu_protocol_notes(settings, data)}
