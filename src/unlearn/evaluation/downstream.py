"""Downstream utility through lm-eval-harness: MMLU, WMDP, TruthfulQA and any task it knows.

The model already in memory is wrapped in lm-eval's ``HFLM`` and handed to
``lm_eval.simple_evaluate``, so the numbers are lm-eval's own, computed as every paper that
reports these tasks computes them; nothing here re-implements a task. Tasks that download
their datasets need internet; a task defined on a local file (``include_path``, a folder of
task YAML files) runs offline. lm-eval is an optional extra: ``pip install 'llm-unlearn[lm-eval]'``.
"""

from __future__ import annotations

import difflib
import logging

from unlearn.errors import UserError

log = logging.getLogger(__name__)


def _lm_eval():
    try:
        import lm_eval
        from lm_eval.tasks import TaskManager
    except ImportError as error:
        raise UserError("--suites lm-eval needs lm-eval-harness: pip install 'llm-unlearn[lm-eval]'") from error
    return lm_eval, TaskManager


def task_manager(include_path: str | None):
    """lm-eval's task index, with the tasks of ``include_path`` added."""
    _, TaskManager = _lm_eval()
    return TaskManager(include_path=include_path)


def check_tasks(tasks: list[str], include_path: str | None):
    """The task index, once every name in ``tasks`` is one lm-eval knows (before any model loads)."""
    manager = task_manager(include_path)
    known = set(manager.all_tasks)
    for name in tasks:
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            where = f" or in {include_path}" if include_path else ""
            raise UserError(f"--lm-eval.tasks: lm-eval has no task '{name}'{where}{hint}")
    return manager


def run_lm_eval(model, tokenizer, tasks: list[str], manager, batch_size: int, max_length: int,
                limit: float | None = None, num_fewshot: int | None = None, seed: int = 0) -> dict:
    """lm-eval's results per task (every metric it reports, stderr included) and the settings."""
    lm_eval, _ = _lm_eval()
    from lm_eval.models.huggingface import HFLM

    was_training = model.training
    wrapped = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, max_length=max_length,
                   device=str(next(model.parameters()).device))
    output = lm_eval.simple_evaluate(model=wrapped, tasks=tasks, num_fewshot=num_fewshot, limit=limit,
                                     task_manager=manager, log_samples=False, random_seed=seed,
                                     numpy_random_seed=seed, torch_random_seed=seed, fewshot_random_seed=seed)
    model.train(was_training)
    results = {task: {name.replace(",none", ""): value for name, value in metrics.items() if name != "alias"}
               for task, metrics in output["results"].items()}
    return {"version": lm_eval.__version__, "limit": limit, "num_fewshot": num_fewshot,
            "samples": output.get("n-samples"), "results": results}
