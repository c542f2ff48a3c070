"""Score a model on its evaluation splits: every per-example value and each split's averages.

The work is fused across splits: every distinct (question, answer) sequence of every split is
scored in one length-sorted pass, every question is answered in one batched greedy pass, and
the embedder and NLI model each see all generations at once. Each split metric registered in
``metric_registry`` is then the mean of its per-example term over those numbers.

An example whose log-probabilities are not finite is marked invalid and counted; it is left
out of the likelihood averages, never averaged in.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from unlearn.data.refusals import refusal_markers
from unlearn.evaluation.generation import generate_answers
from unlearn.evaluation.likelihood import SequenceScore, score_sequences
from unlearn.evaluation.metric_registry import SplitMetric, split_metrics
from unlearn.evaluation.semantic import MetricUnavailable, cosine_similarities
from unlearn.evaluation.splits import EvalSplit, semantic_reference, truth_ratio_base
from unlearn.metrics.fact import contains_fact
from unlearn.metrics.likelihood import normalized_probability, probability, truth_ratio
from unlearn.metrics.privacy import (exact_memorization, extraction_strength, loss_score, min_k_plus_plus_score,
                                     min_k_score, zlib_score)
from unlearn.metrics.text import opens_with_refusal, refusal_openings, rouge_recall, token_entropy
from unlearn.metrics.uncertainty import CONFIDENCE, RESAMPLES, mean_interval


@dataclass(frozen=True)
class EvalOptions:
    max_length: int = 512
    max_new_tokens: int = 128
    batch_size: int = 16
    generation_batch_size: int = 64  # finished answers leave their batch, so a large one wastes nothing
    min_k: float = 0.2
    progress: bool = True
    confidence: float = CONFIDENCE
    bootstrap_resamples: int = RESAMPLES
    # answers to prompt token ids in place of the transformers generation: (prompts, max_new_tokens)
    # -> texts (the vLLM backend, ``vllm_generation.VllmGenerator``); None: ``generate_answers``
    generator: Callable[[list[list[int]], int], list[str]] | None = None
    # the openings the refusal rate counts; None: the packaged phrases and openings (``refusal_markers``)
    refusals: tuple[str, ...] | None = None

    @property
    def interval_options(self) -> dict:
        return {"confidence": self.confidence, "resamples": self.bootstrap_resamples}


@dataclass
class SemanticModels:
    """The sentence embedder and NLI model, or the reason each one is unavailable."""

    embedder: object | None = None
    embedder_missing: str | None = "no embedder given"
    nli: object | None = None
    nli_missing: str | None = "no NLI model given"


@dataclass
class SplitResult:
    split: EvalSplit
    examples: list[dict]
    metrics: dict[str, float | None] = field(default_factory=dict)
    not_computed: dict[str, str] = field(default_factory=dict)
    intervals: dict[str, list[float] | None] = field(default_factory=dict)  # metric -> [low, high]


def evaluate_splits(model, tokenizer, fmt, splits: list[EvalSplit], semantic: SemanticModels,
                    options: EvalOptions = EvalOptions()) -> dict[str, SplitResult]:
    """Per-example values and averages for each split, keyed by role."""
    return {result.split.role: result for result in evaluate_many(model, tokenizer, fmt, splits, semantic, options)}


def evaluate_many(model, tokenizer, fmt, splits: list[EvalSplit], semantic: SemanticModels,
                  options: EvalOptions = EvalOptions()) -> list[SplitResult]:
    """The results of ``splits`` in their order, from one fused pass; several splits may share a
    role (the prompt attacks evaluate one rewritten forget split each)."""
    scores = score_sequences(model, tokenizer, fmt, _pairs_to_score(splits), options.batch_size,
                             options.max_length, progress=options.progress)
    questions = list(dict.fromkeys(r["question"] for s in splits if s.generates for r in s.records))
    if options.generator is not None:
        generations = options.generator(fmt.prompt_ids(tokenizer, questions), options.max_new_tokens)
    else:
        generations = generate_answers(model, tokenizer, fmt, questions, options.max_new_tokens,
                                       options.generation_batch_size, options.progress)
    answers = dict(zip(questions, generations))
    openings = refusal_openings(options.refusals if options.refusals is not None else refusal_markers())
    examples = [[_likelihood_values(s, r, scores, options.min_k) for r in s.records] for s in splits]
    for s, rows in zip(splits, examples):
        if s.generates:
            for record, values in zip(s.records, rows):
                values.update(_generation_values(record, answers[record["question"]], tokenizer, openings))
    reasons = _semantic_values(splits, examples, semantic)
    return [aggregate(s, rows, reasons, options.interval_options) for s, rows in zip(splits, examples)]


def _pairs_to_score(splits: list[EvalSplit]) -> list[tuple[str, str]]:
    pairs = []
    for s in splits:
        for r in s.records:
            pairs.append((r["question"], r["answer"]))
            if s.generates and r.get("perturbed_answer"):
                pairs.append((r["question"], truth_ratio_base(r)))
                pairs.extend((r["question"], p) for p in r["perturbed_answer"])
    return pairs


def _likelihood_values(split: EvalSplit, record: dict, scores: dict, min_k: float) -> dict:
    question = record["question"]
    answer: SequenceScore = scores[(question, record["answer"])]
    values: dict = {"question": question, "answer": record["answer"]}
    if "task_id" in record:
        values["task_id"] = record["task_id"]  # the continual scenario reports per forget request
    perturbed = [scores[(question, p)] for p in record.get("perturbed_answer") or []] if split.generates else []
    base = scores[(question, truth_ratio_base(record))] if perturbed else None
    invalid = [s for s in [answer, base, *perturbed] if s is not None and not s.valid]
    if invalid:
        values["likelihood_valid"] = False
        return values
    values.update(likelihood_valid=True, answer_tokens=len(answer.token_logprobs), answer_nll=answer.nll_mean,
                  answer_probability=probability(answer.nll_mean))
    if perturbed:
        values["paraphrased_nll"] = base.nll_mean
        values["perturbed_nll"] = [p.nll_mean for p in perturbed]
        values["truth_ratio"] = truth_ratio(base.nll_mean, values["perturbed_nll"])
        if split.probability_form == "normalized":
            values["normalized_probability"] = normalized_probability(answer.nll_mean, values["perturbed_nll"])
    if split.membership:
        values.update(
            mia_loss=loss_score(answer.nll_mean),
            mia_zlib=zlib_score(answer.nll_mean, record["answer"]),
            mia_min_k=min_k_score(answer.token_logprobs, min_k),
            mia_min_k_plus_plus=min_k_plus_plus_score(answer.token_logprobs, answer.vocab_logprob_means,
                                                      answer.vocab_logprob_stds, min_k))
    if split.generates:
        values["exact_memorization"] = exact_memorization(answer.argmax_tokens, answer.answer_tokens)
        values["extraction_strength"] = extraction_strength(answer.argmax_tokens, answer.answer_tokens)
    return values


def _generation_values(record: dict, generation: str, tokenizer, openings: tuple[str, ...]) -> dict:
    values = {"generation": generation, **rouge_recall(generation, record["answer"]),
              "token_entropy": token_entropy(tokenizer(generation, add_special_tokens=False)["input_ids"]),
              "refuses": opens_with_refusal(generation, openings)}
    if record.get("fact"):
        values["fact"] = record["fact"]
        values["fact_in_generation"] = contains_fact(generation, record["fact"])
    return values


def _semantic_values(splits: list[EvalSplit], examples: list[list[dict]], semantic: SemanticModels) -> dict[str, str]:
    """Add cosine similarity and NLI labels to every generated example (one batched call each);
    returns ``{need: reason}`` for a model that is unavailable (``metric_registry.NEEDS``)."""
    rows = [(s, r, v) for s, split_rows in zip(splits, examples) if s.generates for r, v in zip(s.records, split_rows)]
    generations = [v["generation"] for _, _, v in rows]
    references = [semantic_reference(r) for _, r, _ in rows]
    reasons = {}
    if semantic.embedder is None:
        reasons["embedder"] = semantic.embedder_missing
    else:
        for (_, _, values), cosine in zip(rows, cosine_similarities(semantic.embedder, generations, references)):
            values["cosine_similarity"] = cosine
    if semantic.nli is None:
        reasons["nli"] = semantic.nli_missing
    else:
        pairs = [(g, ref) if s.premise_is_generation else (ref, g)
                 for (s, _, _), g, ref in zip(rows, generations, references)]
        premises, hypotheses = [p for p, _ in pairs], [h for _, h in pairs]
        try:
            labels = semantic.nli.entails(premises, hypotheses)
        except MetricUnavailable as error:
            reasons["nli"] = str(error)
        else:
            for (_, _, values), entailed in zip(rows, labels):
                values["entailed"] = entailed
    return reasons


def aggregate(split: EvalSplit, examples: list[dict], reasons: dict[str, str],
              interval_options: dict | None = None) -> SplitResult:
    """A split's averages from its per-example values (also used on subsets, e.g. one forget
    request), with their intervals (``uncertainty.mean_interval``: exact for proportions, BCa
    bootstrap otherwise) unless ``interval_options`` is None. ``reasons``: ``{need: why}`` for what the
    pass could not provide, shown for each metric that needs it."""
    result = SplitResult(split, examples)
    valid_count = sum(1 for v in examples if v["likelihood_valid"])
    result.metrics["examples"] = len(examples)
    result.metrics["invalid_examples"] = len(examples) - valid_count
    for metric, column in _columns(split, examples):
        name = metric.name
        _set(result, name, finite_mean(column), _reason(metric, reasons))
        if interval_options is not None and metric.interval and result.metrics[name] is not None:
            interval = mean_interval(column, **interval_options)
            result.intervals[name] = list(interval) if interval else None
    if result.metrics["invalid_examples"]:
        result.not_computed["invalid_examples"] = (f"{result.metrics['invalid_examples']} examples had non-finite "
                                                   "log-probabilities and were left out of the likelihood metrics")
    return result


def _reason(metric: SplitMetric, reasons: dict[str, str]) -> str:
    """Why ``metric`` is not computed: a model it needs is unavailable, else its own reason."""
    return next((reasons[need] for need in metric.needs if reasons.get(need)), metric.missing)


def metric_columns(split: EvalSplit, examples: list[dict]) -> dict[str, np.ndarray]:
    """Per-example terms whose mean is each registered split metric; nan where an example does not
    count (an invalid likelihood, no fact, no options). Intervals are computed from these."""
    return {metric.name: column for metric, column in _columns(split, examples)}


def _columns(split: EvalSplit, examples: list[dict]) -> list[tuple[SplitMetric, np.ndarray]]:
    if not split.generates:
        return []
    return [(m, np.array([m.term(v, split) for v in examples], dtype=float)) for m in split_metrics()]


def finite_mean(values) -> float:
    """Mean of the finite values (nan when there are none)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return math.fsum(finite) / len(finite) if finite else math.nan


def _set(result: SplitResult, name: str, value: float, reason: str | None = None) -> None:
    if math.isfinite(value):
        result.metrics[name] = value
    else:
        result.metrics[name] = None
        result.not_computed[name] = reason or "no valid example"
