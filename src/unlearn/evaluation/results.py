"""An evaluation folder: writing it (``<role>.json`` per split, each suite's files, ``eval_timing.json``,
then ``summary.json``) and reading back the retain model's, which forget quality and PrivLeak compare
against.

``summary.json`` is written last, so its presence means the evaluation finished; ``eval_timing.json``
holds seconds and the date, kept apart so that ``summary.json`` is identical for identical inputs.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

from unlearn.errors import UserError
from unlearn.evaluation.eval_settings import EvalSettings
from unlearn.evaluation.evaluator import SplitResult
from unlearn.evaluation.suites import write_suites
from unlearn.evaluation.summary import (FORGET_QUALITY_MIN_EXAMPLES, RetainModelEval, forget_quality_examples,
                                       model_intervals, summarize)
from unlearn.files import atomic_write_json
from unlearn.metrics.uncertainty import METHOD_DESCRIPTION, SEED

log = logging.getLogger(__name__)

# Raised when a metric's definition changes, so that an experiment reruns its finished evaluations
# instead of mixing old and new numbers. 2: zlib on the mean NLL, Min-K% counting max(1, int(k n)).
# 3: RWKU's probes scored with its rouge package, its membership scores on whole texts. 4: MUSE PrivLeak in
# MUSE's orientation and percent, multiple choice scored as lm-eval does, Clopper-Pearson / BCa intervals.
METRICS_VERSION = 4
SUMMARY_FILE = "summary.json"


def write_evaluation(out: Path, settings: EvalSettings, results: dict[str, SplitResult],
                     retain_model: RetainModelEval | None = None, seconds: dict | None = None,
                     suites: dict | None = None) -> dict:
    """Write the evaluation folder of ``results`` and the ``suites``' results (split files,
    ``seconds`` with the date, then the summary) and return the summary; ``out`` exists. Used
    by ``unlearn eval`` and by each attack."""
    interval_options = {"confidence": settings.confidence, "resamples": settings.bootstrap_resamples}
    overall, overall_reasons = summarize(results, retain_model)
    intervals = model_intervals(results, overall, retain_model, interval_options)
    quality_examples = forget_quality_examples(results, retain_model)
    if quality_examples and not quality_examples["enough"]:
        log.warning("forget quality rests on %d forget examples (retain model: %d): below %d, a KS test can hardly "
                    "tell a model that forgot from one that did not", quality_examples["model"],
                    quality_examples["retain_model"], FORGET_QUALITY_MIN_EXAMPLES)
    for role, result in results.items():
        atomic_write_json(out / f"{role}.json", _split_file(result))
    summary = _summary(settings, results, overall, overall_reasons, intervals, quality_examples)
    summary.update(write_suites(out, suites or {}))
    finished = datetime.now(UTC).isoformat(timespec="seconds")
    atomic_write_json(out / "eval_timing.json", {"finished_at": finished, **(seconds or {})})
    atomic_write_json(out / SUMMARY_FILE, summary)
    return summary


def read_retain_model_eval(folder: str | Path, forget_questions: list[str]) -> RetainModelEval:
    """The retain model's forget truth ratios and membership AUCs, checked to be on the same forget set.

    The retain eval may cover a larger forget set (the continual scenario evaluates it once on
    all requests): forget quality then uses its ratios for our questions, and PrivLeak, whose
    AUC depends on the whole member set, is not computed."""
    folder = Path(folder)
    summary_path, forget_path = folder / SUMMARY_FILE, folder / "forget.json"
    if not summary_path.is_file() or not forget_path.is_file():
        raise UserError(f"retain eval folder {folder} holds no finished evaluation ({SUMMARY_FILE} and forget.json); "
                        "run 'unlearn eval' on the retain model with --out pointing there")
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        examples = json.loads(forget_path.read_text(encoding="utf-8"))["examples"]
        by_question = {e["question"]: e for e in examples}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UserError(f"retain eval folder {folder}: unreadable evaluation files ({error})") from error
    missing = [q for q in forget_questions if q not in by_question]
    if missing:
        raise UserError(f"retain eval {forget_path} was made on a different forget set ({len(missing)} of "
                        f"{len(forget_questions)} questions are not in it); evaluate the retain model with the same "
                        "--data and --forget")
    ours = set(forget_questions)
    ratios = [by_question[q]["truth_ratio"] for q in by_question if q in ours and "truth_ratio" in by_question[q]]
    examples = {"forget": by_question, "holdout": _examples_by_question(folder / "holdout.json")}
    return RetainModelEval(ratios, summary.get("overall", {}), same_forget_set=len(by_question) == len(ours),
                           examples=examples)


def _examples_by_question(path: Path) -> dict[str, dict]:
    """A split file's examples by question (empty when the split was not evaluated), for PrivLeak's
    joint bootstrap."""
    try:
        return {e["question"]: e for e in json.loads(path.read_text(encoding="utf-8"))["examples"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _split_file(result: SplitResult) -> dict:
    return {"role": result.split.role, "split": result.split.split, "metrics": result.metrics,
            "intervals": result.intervals, "not_computed": result.not_computed, "examples": result.examples}


def _summary(settings: EvalSettings, results: dict[str, SplitResult], overall: dict, overall_reasons: dict,
             intervals: dict, quality_examples: dict | None) -> dict:
    not_computed = dict(overall_reasons)
    for role, result in results.items():
        not_computed.update({f"{role}.{name}": reason for name, reason in result.not_computed.items()})
    return {
        "model": settings.model,
        "data": settings.data,
        "metrics_version": METRICS_VERSION,
        "overall": overall,
        "overall_intervals": intervals,
        "forget_quality_examples": quality_examples,
        "intervals": {"confidence": settings.confidence, "method": METHOD_DESCRIPTION,
                      "resamples": settings.bootstrap_resamples, "seed": SEED},
        "splits": {role: {"split": r.split.split, "metrics": r.metrics, "intervals": r.intervals}
                   for role, r in results.items()},
        "not_computed": not_computed,
    }
