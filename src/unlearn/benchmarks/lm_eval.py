"""lm-eval-harness tasks (MMLU, WMDP, TruthfulQA, any task it knows) run on the model in memory
(``evaluation/downstream.py``); lm-eval downloads each task's data.

One registration (``BENCHMARK``, registered by ``builtin.py``): a suite, reached as ``--suites lm-eval
--lm-eval.tasks mmlu,wmdp_bio``.
"""

from __future__ import annotations

from pydantic import Field, NonNegativeInt, PositiveFloat, field_validator

from unlearn.benchmarks.registry import BenchmarkSpec, Suite, SuiteContext
from unlearn.config import PartSettings, comma_list, none_word


class LmEvalSettings(PartSettings):
    """Which tasks lm-eval runs, and how many of their examples."""

    tasks: list[str] = Field([], description="lm-eval-harness tasks (mmlu, wmdp_bio, ...; needs the lm-eval extra)")
    include_path: str | None = Field(None, description="folder of extra lm-eval task YAML files (local tasks)")
    limit: PositiveFloat | None = Field(None, description="at most this many examples per task (below 1: a fraction)")
    num_fewshot: NonNegativeInt | None = Field(None, description="few-shot examples (default: each task's own)")

    _comma_lists = field_validator("tasks", mode="before")(comma_list)

    _none_words = field_validator("include_path", mode="before")(none_word)


def load(source, settings, args: LmEvalSettings):
    """lm-eval's task index, once every task is one it knows (before any model loads)."""
    from unlearn.errors import UserError
    from unlearn.evaluation.downstream import check_tasks

    if not args.tasks:
        raise UserError("--suites lm-eval: name its tasks with --lm-eval.tasks (e.g. mmlu)")
    return check_tasks(args.tasks, args.include_path)


def run(model, tokenizer, manager, context: SuiteContext) -> dict:
    from unlearn.evaluation.downstream import run_lm_eval

    args = context.args
    return run_lm_eval(model, tokenizer, args.tasks, manager, context.settings.batch_size, context.max_length,
                       args.limit, args.num_fewshot)


def values(entry: dict) -> dict[str, tuple]:
    """``lm_eval.<task>.<metric>``: every number lm-eval reports (no interval: its stderr is a metric)."""
    found = {}
    for task, metrics in (entry.get("results") or {}).items():
        found.update({f"lm_eval.{task}.{name}": (value, None) for name, value in metrics.items()
                      if isinstance(value, (int, float)) and not isinstance(value, bool)})
    return found


def tables(results) -> list:
    from unlearn.report.tables import model_name

    tasks = list(dict.fromkeys(task for model in results.models
                               for task in ((model.summary.get("lm_eval") or {}).get("results") or {})))
    if not tasks:
        return []
    rows = [[model_name(model, results.seeds)] + [_task_cell(model.summary, task) for task in tasks]
            for model in results.models]
    return [("lm-eval-harness tasks (its own metrics; ± its standard error)", ["model", *tasks], rows)]


def _task_cell(summary: dict, task: str) -> str:
    metrics = ((summary.get("lm_eval") or {}).get("results") or {}).get(task)
    if not metrics:
        return "n/c"
    shown = [(name, value) for name, value in metrics.items() if not name.endswith("_stderr")
             and isinstance(value, (int, float)) and not isinstance(value, bool) and name != "sample_len"]
    return "; ".join(f"{name} {value:.3f}" + (f" ± {metrics[name + '_stderr']:.3f}"
                                               if isinstance(metrics.get(name + "_stderr"), float) else "")
                     for name, value in shown) or "n/c"


BENCHMARK = BenchmarkSpec(
    name="lm-eval", description="lm-eval-harness's own tasks on the model in memory (needs the lm-eval extra and "
                                "the Hub for the tasks' data)",
    kinds=(), hub="each task's own dataset, downloaded by lm-eval",
    suite=Suite(description="every metric lm-eval reports for each task, with its standard error",
                summary_key="lm_eval", load=load, run=run, values=values, tables=tables, settings=LmEvalSettings,
                intervals=False))
