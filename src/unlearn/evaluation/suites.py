"""The benchmarks ``unlearn eval`` adds to the question-answer splits: multiple-choice splits
(WMDP, MMLU format), lm-eval-harness tasks, MUSE's metrics and RWKU's probes.

``prepare_suites`` reads and checks all of their data before the model loads (bad data fails
fast); ``run_suites`` computes them on the model; ``write_suites`` writes each one's
per-example file and returns the entries of ``summary.json`` (``multiple_choice``, ``lm_eval``,
``muse``, ``rwku``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from unlearn.errors import UserError
from unlearn.evaluation.choice import evaluate_choices
from unlearn.evaluation.downstream import check_tasks, run_lm_eval
from unlearn.evaluation.muse import (MUSE_SPLITS, RetrainedReference, evaluate_muse, load_muse_splits,
                                     read_retrained_reference)
from unlearn.evaluation.rwku import evaluate_rwku, load_rwku_splits
from unlearn.files import atomic_write_json
from unlearn.models.loading import fit_to_context

SUMMARY_FILE = "summary.json"
PER_EXAMPLE_KEYS = ("examples", "member_scores", "holdout_scores")  # in the suite files, not the summary


@dataclass
class PreparedSuites:
    choice: list[tuple[str, str, list[dict]]] = field(default_factory=list)  # (role, split, records)
    tasks: object | None = None  # lm-eval's task index, with the tasks checked
    muse: tuple[dict, dict] | None = None  # (records, reasons for the metrics not computed)
    rwku: tuple[dict, dict, dict] | None = None
    retrained: RetrainedReference | None = None  # MUSE PrivLeak's reference

    @property
    def empty(self) -> bool:
        return not (self.choice or self.tasks or self.muse or self.rwku)


def prepare_suites(benchmark, settings) -> PreparedSuites:
    """Every suite's records and checks, before any model loads."""
    prepared = PreparedSuites(choice=_choice_splits(benchmark, settings))
    if settings.lm_eval_tasks:
        prepared.tasks = check_tasks(settings.lm_eval_tasks, settings.lm_eval_include_path)
    if settings.muse:
        prepared.muse = load_muse_splits(benchmark)
        if len(prepared.muse[1]) == len(MUSE_SPLITS):
            raise UserError(f"--muse: {settings.data} has none of MUSE's splits (verbmem.forget, knowmem.forget_qa, "
                            "knowmem.forget_qa_icl, knowmem.retain_qa, knowmem.retain_qa_icl, privleak.forget, "
                            "privleak.holdout)")
        if settings.muse_retrained_auc is not None:
            prepared.retrained = RetrainedReference(settings.muse_retrained_auc)
        elif settings.retain_eval:
            prepared.retrained = read_retrained_reference(settings.retain_eval)
    if settings.rwku:
        prepared.rwku = load_rwku_splits(benchmark, settings.rwku_split_suffix)
        if not prepared.rwku[0]:
            raise UserError(f"--rwku: {settings.data} has none of RWKU's splits (forget_level1{settings.rwku_split_suffix}"
                            ", ..., mia_retain)")
    return prepared


def run_suites(model, tokenizer, prepared: PreparedSuites, settings) -> dict:
    """``{suite: results}`` for every prepared suite."""
    options = {"confidence": settings.confidence, "resamples": settings.bootstrap_resamples}
    max_length = fit_to_context(settings.max_length, model)
    results = {}
    if prepared.choice:
        results["multiple_choice"] = {name: {"role": role, **evaluate_choices(
            model, tokenizer, records, name, settings.batch_size, max_length, settings.choice_format, **options)}
            for role, name, records in prepared.choice}
    if prepared.muse:
        results["muse"] = evaluate_muse(
            model, tokenizer, *prepared.muse, max_length=max_length, retrained=prepared.retrained,
            verbmem_tokens=settings.muse_verbmem_tokens, knowmem_tokens=settings.muse_knowmem_tokens,
            min_k=settings.muse_min_k, batch_size=settings.batch_size,
            generation_batch_size=settings.generation_batch_size, **options)
    if prepared.rwku:
        results["rwku"] = evaluate_rwku(model, tokenizer, *prepared.rwku, where=str(settings.data),
                                        max_new_tokens=settings.rwku_new_tokens, batch_size=settings.batch_size,
                                        generation_batch_size=settings.generation_batch_size, **options)
    if prepared.tasks:
        results["lm_eval"] = run_lm_eval(model, tokenizer, settings.lm_eval_tasks, prepared.tasks, settings.batch_size,
                                         max_length, settings.lm_eval_limit, settings.lm_eval_num_fewshot)
    return results


def write_suites(out: Path, results: dict) -> dict:
    """Write ``<suite>_<part>.json`` with every per-example value; return the summary entries."""
    summary = {}
    for suite, parts in results.items():
        if suite == "lm_eval":
            summary[suite] = parts
            continue
        prefix = "choice" if suite == "multiple_choice" else suite
        for part, result in parts.items():
            if set(result) != {"not_computed"}:
                atomic_write_json(out / f"{prefix}_{part}.json", result)
        summary[suite] = {part: {k: v for k, v in result.items() if k not in PER_EXAMPLE_KEYS}
                          for part, result in parts.items()}
    return summary


def _choice_splits(benchmark, settings) -> list[tuple[str, str, list[dict]]]:
    chosen = [("forget", name) for name in settings.choice_forget] + [("utility", n) for n in settings.choice_utility]
    loaded = []
    for role, name in chosen:
        if benchmark.split_kind(name) != "choice":
            raise UserError(f"--choice-{role} {name}: split '{name}' does not hold multiple-choice records "
                            "(question, choices, answer)")
        loaded.append((role, name, benchmark.records(name)))
    return loaded
