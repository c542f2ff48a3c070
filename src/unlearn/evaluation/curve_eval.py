"""What the evaluation during training scores, and one scoring of it: a point of the curve.

``plan_curve`` reads the splits once, before the model loads (a bad split name fails at once, not
after the first epoch), and draws a fixed seeded subset of each: every point of a run, and every run
with the same subset seed, scores the same questions, so points and runs compare. ``evaluate_point``
runs the fused evaluator of ``unlearn eval`` on that subset (likelihood metrics, short greedy answers)
and the model-level numbers the summary derives from them, under ``unlearn compare``'s flat names; a
number that cannot be computed here (cosine similarity and entailment need models the curve does not
load; forget quality needs the retain model's evaluation) is None, never 0.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

from unlearn.data.benchmark import Benchmark
from unlearn.evaluation.eval_settings import EvalSettings
from unlearn.evaluation.evaluator import SemanticModels, evaluate_splits
from unlearn.evaluation.flat_metrics import flat_metrics
from unlearn.evaluation.results import read_retain_model_eval
from unlearn.evaluation.run import eval_options, prompt_format
from unlearn.evaluation.selection import check_question_answer, load_splits
from unlearn.evaluation.splits import EvalSplit, default_holdout
from unlearn.evaluation.suites import PreparedSuites, prepare_suites, run_suites
from unlearn.evaluation.summary import RetainModelEval, model_intervals, summarize
from unlearn.training.curve_settings import CurveSettings

NOT_LOADED = "not computed during training (the curve loads no embedder or NLI model)"
SPLIT_FIELDS = ("retain_split", "real_authors", "world_facts")  # the utility splits, skipped where absent


@dataclass
class CurvePlan:
    """The subset each point scores, and how: ``subset`` names each split's records by position."""

    settings: EvalSettings
    splits: list[EvalSplit]
    subset: dict[str, dict]  # role -> {"split": name, "indices": [...]}
    suites: PreparedSuites = field(default_factory=PreparedSuites)
    retain_model: RetainModelEval | None = None


def curve_eval_settings(run, curve: CurveSettings) -> EvalSettings:
    """``unlearn eval``'s settings for the curve of a run with ``ForgetSettings`` ``run``: its data, prompt
    format and length, the curve's splits and answer length; no semantic models. ``unlearn eval`` with
    these settings on a folder of the subset's splits gives the same numbers as the curve's point."""
    forget = curve.forget if "forget" in curve.model_fields_set else run.forget
    return EvalSettings(model=run.model, data=run.data, prompt_template=run.prompt_template,
                        plain_template=run.plain_template, max_length=run.max_length, answer_field=run.answer_field,
                        forget=forget, retain_split=curve.retain_split, real_authors=curve.real_authors,
                        world_facts=curve.world_facts, holdout=curve.holdout, suites=curve.suites,
                        retain_eval=curve.retain_eval, out=run.out, max_new_tokens=curve.max_new_tokens,
                        batch_size=curve.batch_size, embedder=None, nli_model=None)


def plan_curve(run, curve: CurveSettings) -> CurvePlan:
    """Read and check the splits, draw the subset, read the retain model's evaluation; no model loads.
    A utility split or the holdout left at its default is skipped where the benchmark has none (a MUSE
    folder), without the warning of an ``auto`` holdout asked for; one named on purpose must exist."""
    settings = curve_eval_settings(run, curve)
    benchmark = Benchmark(settings.data, answer_field=settings.answer_field)
    available = set(benchmark.split_names())
    resolved = {name: None for name in SPLIT_FIELDS
              if name not in curve.model_fields_set and getattr(settings, name) not in available}
    if "holdout" not in curve.model_fields_set and settings.holdout == "auto" and settings.forget:
        found = default_holdout(settings.forget)
        resolved["holdout"] = found if found in available else None
    settings = settings.model_copy(update=resolved)
    splits = [subset_split(split, curve.examples, curve.subset_seed) for split in load_splits(benchmark, settings)]
    check_question_answer(splits)
    subset = {s.role: {"split": s.split, "indices": list(s.indices)} for s in splits}
    forget = next((s for s in splits if s.role == "forget"), None)
    retain_model = (read_retain_model_eval(settings.retain_eval, [r["question"] for r in forget.records])
                    if settings.retain_eval and forget else None)
    return CurvePlan(settings, splits, subset, prepare_suites(benchmark, settings), retain_model)


@dataclass(frozen=True)
class SubsetSplit(EvalSplit):
    indices: tuple[int, ...] = ()  # the positions of ``records`` in the whole split


def subset_split(split: EvalSplit, examples: int, seed: int) -> SubsetSplit:
    """``examples`` records of ``split`` drawn with ``seed`` (all of a smaller split), in the split's order."""
    count = len(split.records)
    picked = sorted(random.Random(seed).sample(range(count), examples)) if examples < count else list(range(count))
    return SubsetSplit(split.role, split.split, [split.records[i] for i in picked], tuple(picked))


def evaluate_point(plan: CurvePlan, model, tokenizer) -> tuple[dict[str, float | None], dict[str, tuple]]:
    """The flat metrics and intervals of ``model`` on the plan's subset (the caller sets eval mode and
    keeps the training's random state; scoring and greedy decoding run without gradients). The prompt
    format and evaluator options are ``unlearn eval``'s, without its progress bars."""
    settings = plan.settings
    options = replace(eval_options(settings, model), progress=False)
    semantic = SemanticModels(embedder_missing=NOT_LOADED, nli_missing=NOT_LOADED)
    results = (evaluate_splits(model, tokenizer, prompt_format(settings, tokenizer), plan.splits, semantic, options)
               if plan.splits else {})
    overall, _ = summarize(results, plan.retain_model, "no retain model's evaluation given (--curve.retain-eval)")
    intervals = model_intervals(results, overall, plan.retain_model, options.interval_options)
    summary = {"overall": overall, "overall_intervals": intervals,
               "splits": {role: {"metrics": r.metrics, "intervals": r.intervals} for role, r in results.items()},
               **run_suites(model, tokenizer, plan.suites, settings)}
    return flat_metrics(summary)
