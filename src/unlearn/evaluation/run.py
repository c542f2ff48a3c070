"""``unlearn eval``: evaluate a model on a benchmark and write per-split files and a summary.

Output folder: ``<role>.json`` per evaluated split (every per-example value and the split's
averages), ``summary.json`` (all averages and model-level numbers; written last, so its
presence means the evaluation finished), ``eval_timing.json`` (seconds and date, kept apart
so that ``summary.json`` is identical for identical inputs).
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from unlearn.data.benchmark import Benchmark
from unlearn.data.formatting import PromptFormat
from unlearn.data.kinds import KIND_NAMES, record_kind
from unlearn.errors import UserError
from unlearn.evaluation.eval_settings import EvalSettings
from unlearn.evaluation.evaluator import EvalOptions, SemanticModels, SplitResult, evaluate_splits
from unlearn.evaluation.semantic import MetricUnavailable, load_embedder, load_nli
from unlearn.evaluation.splits import EvalSplit, default_holdout
from unlearn.evaluation.suites import SUMMARY_FILE, prepare_suites, run_suites, write_suites
from unlearn.evaluation.summary import (FORGET_QUALITY_MIN_EXAMPLES, RetainModelEval, forget_quality_examples,
                                       model_intervals, summarize)
from unlearn.evaluation.vllm_generation import VllmGenerator, check_vllm
from unlearn.files import atomic_write_json
from unlearn.metrics.uncertainty import METHOD_DESCRIPTION, SEED
from unlearn.models.loading import ensure_pad_token, fit_to_context, load_model
from unlearn.training.run_folder import check_run_folder, record_run_settings

log = logging.getLogger(__name__)

# Raised when a metric's definition changes, so that an experiment reruns its finished evaluations
# instead of mixing old and new numbers. 2: zlib on the mean NLL, Min-K% counting max(1, int(k n)).
# 3: RWKU's probes scored with its rouge package, its membership scores on whole texts.
METRICS_VERSION = 3


def evaluate_model(settings: EvalSettings, in_memory: tuple | None = None) -> dict:
    """Evaluate, write the output folder, return the summary. ``in_memory``: a ``(model, tokenizer)``
    already in memory, evaluated as it is (``settings.model`` then only names it; device, dtype and
    the loading settings do not apply)."""
    started = time.time()
    benchmark = Benchmark(settings.data, answer_field=settings.answer_field)
    splits = load_splits(benchmark, settings)  # bad data fails before the model loads
    check_question_answer(splits)
    suites = prepare_suites(benchmark, settings)
    if not splits and suites.empty:
        raise UserError("nothing to evaluate: no forget or utility split, and no --choice-forget, --choice-utility, "
                        "--lm-eval-tasks, --muse or --rwku")
    has_forget = bool(splits) and splits[0].role == "forget"
    forget_questions = [r["question"] for r in splits[0].records] if has_forget else []
    retain_model = (read_retain_model_eval(settings.retain_eval, forget_questions)
                    if settings.retain_eval and has_forget else None)
    if settings.retain_eval and not has_forget and not settings.muse:
        raise UserError("--retain-eval needs a forget split (forget quality, PrivLeak) or --muse (PrivLeak)")
    if settings.generation_backend == "vllm":
        check_vllm(None if in_memory else settings.model)
    # the default backend is left out, so folders written before the option existed stay reusable
    recorded = settings.model_dump(exclude={"overwrite", "threads"} | (
        {"generation_backend"} if settings.generation_backend == "hf" else set()))
    out = check_run_folder(settings.out, recorded, settings.overwrite)
    record_run_settings(out, recorded)
    (out / SUMMARY_FILE).unlink(missing_ok=True)  # a summary only ever describes a finished evaluation

    if settings.threads:
        torch.set_num_threads(settings.threads)
    if in_memory:
        model, tokenizer = in_memory[0], ensure_pad_token(in_memory[1], settings.model)
        was_training = model.training
    else:
        model, tokenizer = load_model(settings.model, settings.dtype, settings.device, settings.trust_remote_code,
                                      settings.allow_pickle)
    fmt = prompt_format(settings, tokenizer)
    device = str(next(model.parameters()).device)
    # the embedder and the NLI model score question-answer splits only
    semantic = load_semantic_models(settings.embedder, settings.nli_model, device) if splits else SemanticModels()
    loaded = time.time()
    generator = None
    if settings.generation_backend == "vllm":
        generator = VllmGenerator(settings.model, tokenizer, next(model.parameters()).dtype,
                                  getattr(model.config, "max_position_embeddings", None))
    results = (evaluate_splits(model, tokenizer, fmt, splits, semantic, eval_options(settings, model, generator))
               if splits else {})
    suite_results = run_suites(model, tokenizer, suites, settings)
    if in_memory:
        model.train(was_training)  # a model in a notebook goes back to the mode it was in
    seconds = {"load_seconds": round(loaded - started, 1), "evaluate_seconds": round(time.time() - loaded, 1)}
    return write_evaluation(out, settings, results, retain_model, seconds, suite_results)


def prompt_format(settings: EvalSettings, tokenizer) -> PromptFormat:
    return PromptFormat.for_tokenizer(tokenizer, settings.prompt_template, settings.plain_template)


def eval_options(settings: EvalSettings, model, generator: VllmGenerator | None = None) -> EvalOptions:
    """The evaluator's options; ``generator``: the vLLM backend, built by ``unlearn eval`` only (other
    commands evaluate models held in memory, which vLLM cannot load)."""
    if settings.generation_backend == "vllm" and generator is None:
        raise UserError("--generation-backend vllm is supported by unlearn eval only (this command evaluates models "
                        "held in memory); use --generation-backend hf")
    return EvalOptions(fit_to_context(settings.max_length, model), settings.max_new_tokens, settings.batch_size,
                       settings.generation_batch_size, settings.min_k, confidence=settings.confidence,
                       bootstrap_resamples=settings.bootstrap_resamples, generator=generator)


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
    finished = datetime.now(timezone.utc).isoformat(timespec="seconds")
    atomic_write_json(out / "eval_timing.json", {"finished_at": finished, **(seconds or {})})
    atomic_write_json(out / SUMMARY_FILE, summary)
    return summary


def load_semantic_models(embedder: str | None, nli_model: str | None, device: str) -> SemanticModels:
    """Load what is available; an unavailable model leaves its metric not computed, with the reason.
    ``None`` skips a model on purpose; ``embedder="packaged"`` is the packaged all-MiniLM-L6-v2."""
    semantic = SemanticModels()
    if embedder is None:
        semantic.embedder_missing = "disabled (--embedder none)"
    else:
        try:
            source = None if embedder == "packaged" else embedder
            semantic.embedder, semantic.embedder_missing = load_embedder(source, device), None
        except MetricUnavailable as error:
            semantic.embedder_missing = str(error)
            log.warning("cosine similarity will not be computed: %s", error)
    if nli_model is None:
        semantic.nli_missing = "disabled (--nli-model none)"
        return semantic
    try:
        semantic.nli, semantic.nli_missing = load_nli(nli_model, device), None
    except MetricUnavailable as error:
        semantic.nli_missing = str(error)
        log.warning("entailment score will not be computed: %s", error)
    return semantic


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


def load_splits(benchmark: Benchmark, settings: EvalSettings) -> list[EvalSplit]:
    """The QA splits to evaluate; the forget split, when there is one, comes first."""
    settings = _without_absent_defaults(benchmark, settings)
    if settings.forget is None:
        chosen = [("retain", settings.retain_split), ("real_authors", settings.real_authors),
                  ("world_facts", settings.world_facts)]
        return _qa_splits(benchmark, chosen)
    available = set(benchmark.split_names())
    forget = f"{settings.forget}_perturbed" if f"{settings.forget}_perturbed" in available else settings.forget
    holdout = settings.holdout
    if holdout == "auto":
        holdout = default_holdout(settings.forget)
        if holdout not in available:
            log.warning("no holdout split for %s: membership inference will not be computed", settings.forget)
            holdout = None
    chosen = [("forget", forget), ("retain", settings.retain_split), ("real_authors", settings.real_authors),
              ("world_facts", settings.world_facts), ("holdout", holdout)]
    return _qa_splits(benchmark, chosen)


ROLE_FLAGS = {"forget": "--forget", "retain": "--retain-split", "real_authors": "--real-authors",
              "world_facts": "--world-facts", "holdout": "--holdout"}
# What evaluates a split of another kind than question-answer records.
OTHER_KIND_USE = {"continuation": "MUSE's VerbMem scores continuations: pass --muse",
                  "text": "raw text is trained on, not asked; evaluate a split of its questions, or pass --muse "
                          "for MUSE's corpora",
                  "choice": "score multiple-choice questions with --choice-forget or --choice-utility",
                  "probe": "score RWKU's probes with --rwku"}


def _qa_splits(benchmark: Benchmark, chosen: list[tuple[str, str | None]]) -> list[EvalSplit]:
    return [EvalSplit(role, name, benchmark.records(name)) for role, name in chosen if name]


def check_question_answer(splits: list[EvalSplit]) -> None:
    """The TOFU metrics ask each split's questions: a split of another kind is refused with what reads it."""
    for split in splits:
        kind = record_kind(split.records[0])
        if kind != "qa":
            raise UserError(f"{ROLE_FLAGS[split.role]} {split.split}: split '{split.split}' holds {KIND_NAMES[kind]} "
                            f"records, not question-answer records; {OTHER_KIND_USE[kind]}")


def _without_absent_defaults(benchmark: Benchmark, settings: EvalSettings) -> EvalSettings:
    """With a suite asked for (``--muse``, ``--rwku``, ``--choice-*``, ``--lm-eval-tasks``), a TOFU split
    left at its default name and absent from the benchmark is skipped instead of refused: a MUSE
    or WMDP folder has no ``forget10``. A split named on purpose must exist."""
    suites = settings.muse or settings.rwku or settings.choice_forget or settings.choice_utility or settings.lm_eval_tasks
    if not suites:
        return settings
    available = set(benchmark.split_names())
    available |= {name.removesuffix("_perturbed") for name in available}  # forget10 is read as forget10_perturbed
    absent = {name: None for name in ("forget", "retain_split", "real_authors", "world_facts")
              if name not in settings.model_fields_set and getattr(settings, name) is not None
              and getattr(settings, name) not in available}
    return settings.model_copy(update=absent)


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
