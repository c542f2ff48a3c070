"""``unlearn eval``: evaluate a model on a benchmark and write per-split files and a summary.

The steps, each in its own module: the settings (``eval_settings.py``), the question-answer splits
(``selection.py``), the benchmark suites (``suites.py``, as the benchmark registry declares them),
the models (``loading.py``), the fused evaluation pass (``evaluator.py``) and the output folder
(``results.py``: ``<role>.json`` per split, the suites' files, ``eval_timing.json``, then
``summary.json``). This module runs them in order: every check before any model loads.
"""

from __future__ import annotations

import time

import torch

from unlearn.benchmarks.registry import suites as registered_suites
from unlearn.data.benchmark import Benchmark
from unlearn.data.formatting import PromptFormat
from unlearn.data.refusals import load_refusals
from unlearn.errors import UserError
from unlearn.evaluation.eval_settings import EvalSettings
from unlearn.evaluation.evaluator import EvalOptions, SemanticModels, evaluate_splits
from unlearn.evaluation.loading import evaluated_model, load_semantic_models
from unlearn.evaluation.results import METRICS_VERSION, SUMMARY_FILE, read_retain_model_eval, write_evaluation
from unlearn.evaluation.selection import check_question_answer, load_splits
from unlearn.evaluation.suites import prepare_suites, run_suites
from unlearn.evaluation.vllm_generation import VllmGenerator, check_vllm
from unlearn.models.loading import fit_to_context
from unlearn.training.run_folder import check_run_folder, record_run_settings

__all__ = ["METRICS_VERSION", "SUMMARY_FILE", "EvalSettings", "eval_options", "evaluate_model", "load_semantic_models",
           "load_splits", "prompt_format", "read_retain_model_eval", "write_evaluation"]


def evaluate_model(settings: EvalSettings, in_memory: tuple | None = None) -> dict:
    """Evaluate, write the output folder, return the summary. ``in_memory``: a ``(model, tokenizer)``
    already in memory, evaluated as it is (``settings.model`` then only names it; device, dtype and
    the loading settings do not apply)."""
    started = time.time()
    benchmark = Benchmark(settings.data, answer_field=settings.answer_field)
    splits = load_splits(benchmark, settings)  # bad data fails before the model loads
    check_question_answer(splits)
    if settings.refusals:
        load_refusals(settings.refusals)  # an unreadable phrase file too
    suites = prepare_suites(benchmark, settings)
    if not splits and suites.empty:
        raise UserError("nothing to evaluate: no forget or utility split, and no --suites (see --list-benchmarks)")
    has_forget = bool(splits) and splits[0].role == "forget"
    forget_questions = [r["question"] for r in splits[0].records] if has_forget else []
    retain_model = (read_retain_model_eval(settings.retain_eval, forget_questions)
                    if settings.retain_eval and has_forget else None)
    if settings.retain_eval and not has_forget and not any(s.suite.reads_retain_eval for s in suites.specs):
        readers = ", ".join(name for name, spec in registered_suites().items() if spec.suite.reads_retain_eval)
        raise UserError(f"--retain-eval needs a forget split (forget quality, PrivLeak) or a suite that reads it "
                        f"(--suites {readers or '...'})")
    if settings.generation_backend == "vllm":
        check_vllm(None if in_memory else settings.model)
    recorded = settings.model_dump(exclude={"overwrite", "threads"} | {
        name for name, default in EvalSettings.ADDED_LATER.items() if getattr(settings, name) == default})
    out = check_run_folder(settings.out, recorded, settings.overwrite)
    record_run_settings(out, recorded)
    (out / SUMMARY_FILE).unlink(missing_ok=True)  # a summary only ever describes a finished evaluation

    if settings.threads:
        torch.set_num_threads(settings.threads)
    model, tokenizer = evaluated_model(settings, in_memory)
    was_training = model.training
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
                       bootstrap_resamples=settings.bootstrap_resamples, generator=generator,
                       refusals=tuple(load_refusals(settings.refusals)) if settings.refusals else None)
