"""Continual scenario: a sequence of forget requests, each unlearned from the previous model.

The requests are the forget split's ``task_id`` groups, in numeric order (the seed paper's
``forget01.json`` with ``"task_id": "1"`` .. ``"10"`` gives its ten requests; a data folder of its
``data/tofu`` files runs as is, given ``target_model`` and ``retain_model``, and without
``holdoutNN`` split membership inference is not computed). After request k the model is
evaluated on everything forgotten so far (so each request's numbers can be read separately
from the per-example ``task_id``) and on the utility splits. The reference of NPO/DPO/KL is
the original target model or the previous request's model (``scenario_args: {reference: ...}``).
"""

from __future__ import annotations

from pathlib import Path

from unlearn.evaluation.splits import default_holdout
from unlearn.scenarios.common import data_step, eval_step, forget_step
from unlearn.scenarios.experiment import ExperimentSettings
from unlearn.scenarios.fictitious import anchors, builtin_data, needed_splits, selection_anchors, tofu_protocol_notes
from unlearn.scenarios.steps import Steps


def run(settings: ExperimentSettings, steps: Steps) -> dict:
    own = settings.scenario_settings
    data = data_step(settings, steps, needed_splits(settings), builtin_data(settings), own.utility_records,
                     requests=True, request_count=own.requests)
    target, retain_eval, rows = anchors(settings, steps, data)
    references = selection_anchors(target, retain_eval, rows)  # a rule compares with the original target
    count = len(list(data.glob("request[0-9]*.jsonl")))
    holdout = default_holdout(settings.forget)
    if holdout and not (data / f"{holdout}.jsonl").is_file():  # a folder without it (the seed paper's TOFU files)
        holdout = None
    sequence = []
    for entry in settings.methods:
        previous: str | Path = target
        for k in range(1, count + 1):
            reference = request_reference(own.reference, k, target)
            evaluation = {"forget": f"requests_upto{k:02d}", "holdout": holdout or "none"}
            model = forget_step(settings, steps, previous, data, entry, f"request{k:02d}",
                                f"forget-{entry.name}-request{k:02d}", reference=reference, anchors=references,
                                evaluation=evaluation)
            evaluated = eval_step(settings, steps, model, data, f"eval-{entry.name}-request{k:02d}", retain_eval,
                                  **evaluation)
            sequence.append({"label": entry.name, "request": k, "model": model, "eval": evaluated})
            previous = model
        rows.append({"label": entry.name, "role": "method", "model": previous, "eval": sequence[-1]["eval"]})
    return {"models": rows, "continual": sequence, "requests": count, "notes": tofu_protocol_notes(settings, data)}


def request_reference(choice: str, k: int, target: str | Path) -> str | Path | None:
    """``--reference`` of the k-th request's ``forget`` (k from 1), which starts from request k-1's model.

    None means the model the request starts from, i.e. the previous request's model (for the first
    request, the target itself); ``original`` names the target for every later request, so NPO/DPO
    cache the target's log-probs and KL/UNDIAL/RMU compare with the target."""
    return target if choice == "original" and k > 1 else None
