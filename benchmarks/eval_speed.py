"""Fused evaluator vs a naive per-metric evaluation, on the same model and data.

The fused evaluator (``unlearn eval``) scores every distinct sequence once in length-sorted
batches, generates all questions in one length-sorted batched pass and embeds all texts in
one call. The naive evaluation does what many frameworks do: per split and per metric its
own pass in file order (probability, truth ratio's paraphrase and wrong answers, the
normalized probability, each membership attack, each memorization measure), generation per
split in file order, and the embedder one text at a time. Same batch sizes, same pure metric
functions; the script checks that both give the same per-example numbers.

    python benchmarks/eval_speed.py --threads 2
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import torch

from benchmarks_common import update_section

SECTION = "## Evaluation speed: fused vs per-metric"
ROLES_SPLITS = [("forget", "forget10_perturbed"), ("retain", "retain_perturbed"),
                ("real_authors", "real_authors_perturbed"), ("world_facts", "world_facts_perturbed"),
                ("holdout", "holdout10")]
COMPARED = ("answer_nll", "truth_ratio", "normalized_probability", "mia_loss", "mia_zlib", "mia_min_k",
            "mia_min_k_plus_plus", "exact_memorization", "extraction_strength", "rougeL_recall", "token_entropy",
            "cosine_similarity")


class Timer:
    """Wraps functions to add up the seconds spent in them, by label."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    def wrap(self, label, function):
        def timed(*args, **kwargs):
            began = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - began
        return timed


def fused(model, tokenizer, fmt, splits, semantic, options):
    from unlearn.evaluation import evaluator

    timer = Timer()
    originals = evaluator.score_sequences, evaluator.generate_answers, evaluator.cosine_similarities
    evaluator.score_sequences = timer.wrap("scoring", originals[0])
    evaluator.generate_answers = timer.wrap("generation", originals[1])
    evaluator.cosine_similarities = timer.wrap("embedding", originals[2])
    try:
        began = time.perf_counter()
        results = evaluator.evaluate_splits(model, tokenizer, fmt, splits, semantic, options)
        total = time.perf_counter() - began
    finally:
        evaluator.score_sequences, evaluator.generate_answers, evaluator.cosine_similarities = originals
    return {role: r.examples for role, r in results.items()}, total, timer.seconds


def naive(model, tokenizer, fmt, splits, semantic, options):
    """One pass per metric and split, in file order; values computed with the same metric functions."""
    from unlearn.evaluation.generation import generate_answers
    from unlearn.evaluation.likelihood import score_sequences
    from unlearn.evaluation.splits import semantic_reference, truth_ratio_base
    from unlearn.metrics.likelihood import normalized_probability, truth_ratio
    from unlearn.metrics.privacy import (exact_memorization, extraction_strength, loss_score,
                                         min_k_plus_plus_score, min_k_score, zlib_score)
    from unlearn.metrics.semantic import cosine_score
    from unlearn.metrics.text import rouge_recall, token_entropy

    timer = Timer()
    score = timer.wrap("scoring", lambda pairs: score_sequences(
        model, tokenizer, fmt, pairs, options.batch_size, options.max_length, progress=False, sort_by_length=False,
        share_prompts=False))
    generate = timer.wrap("generation", lambda questions: generate_answers(
        model, tokenizer, fmt, questions, options.max_new_tokens, options.generation_batch_size, progress=False,
        sort_by_length=False))
    embed = timer.wrap("embedding", lambda text: semantic.embedder.encode(text, show_progress_bar=False))
    began = time.perf_counter()
    out = {}
    for s in splits:
        rows = [{"question": r["question"]} for r in s.records]
        answers = [(r["question"], r["answer"]) for r in s.records]
        if s.generates:
            prob = score(answers)
            for row, pair in zip(rows, answers):
                row["answer_nll"] = prob[pair].nll_mean
            para = score([(r["question"], truth_ratio_base(r)) for r in s.records])
            pert = score([(r["question"], p) for r in s.records for p in r["perturbed_answer"]])
            for row, r in zip(rows, s.records):
                row["truth_ratio"] = truth_ratio(para[(r["question"], truth_ratio_base(r))].nll_mean,
                                                 [pert[(r["question"], p)].nll_mean for p in r["perturbed_answer"]])
            if s.probability_form == "normalized":
                true, wrong = score(answers), score([(r["question"], p) for r in s.records
                                                     for p in r["perturbed_answer"]])
                for row, r in zip(rows, s.records):
                    row["normalized_probability"] = normalized_probability(
                        true[(r["question"], r["answer"])].nll_mean,
                        [wrong[(r["question"], p)].nll_mean for p in r["perturbed_answer"]])
            for name, measure in (("exact_memorization", exact_memorization),
                                  ("extraction_strength", extraction_strength)):
                passed = score(answers)
                for row, pair in zip(rows, answers):
                    row[name] = measure(passed[pair].argmax_tokens, passed[pair].answer_tokens)
            generations = generate([r["question"] for r in s.records])
            for row, r, g in zip(rows, s.records, generations):
                row["rougeL_recall"] = rouge_recall(g, r["answer"])["rougeL_recall"]
                row["token_entropy"] = token_entropy(tokenizer(g, add_special_tokens=False)["input_ids"])
                row["cosine_similarity"] = cosine_score(embed(g), embed(semantic_reference(r)))
                row["generation"] = g
        if s.membership:
            attacks = {
                "mia_loss": lambda sc, r: loss_score(sc.nll_mean),
                "mia_zlib": lambda sc, r: zlib_score(sc.nll_sum, r["answer"]),
                "mia_min_k": lambda sc, r: min_k_score(sc.token_logprobs, options.min_k),
                "mia_min_k_plus_plus": lambda sc, r: min_k_plus_plus_score(
                    sc.token_logprobs, sc.vocab_logprob_means, sc.vocab_logprob_stds, options.min_k)}
            for name, attack in attacks.items():
                passed = score(answers)
                for row, pair, r in zip(rows, answers, s.records):
                    row[name] = attack(passed[pair], r)
        out[s.role] = rows
    return out, time.perf_counter() - began, timer.seconds


def compare(fused_rows, naive_rows) -> tuple[float, str, int, int]:
    """Largest relative difference ``|a - b| / max(1, |b|)`` over every compared per-example value
    (truth ratios and zlib scores can be large), the metric where it occurred, values compared,
    and the number of generations that differ."""
    worst, where, compared, differing = 0.0, "", 0, 0
    for role, rows in naive_rows.items():
        for mine, theirs in zip(fused_rows[role], rows):
            for name in COMPARED:
                if name in theirs and name in mine:
                    difference = abs(mine[name] - theirs[name]) / max(1.0, abs(theirs[name]))
                    if difference > worst:
                        worst, where = difference, f"{role} {name}"
                    compared += 1
            differing += "generation" in theirs and mine["generation"] != theirs["generation"]
    return worst, where, compared, differing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--write", default="BENCHMARKS.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from unlearn.data.benchmark import Benchmark, write_benchmark
    from unlearn.data.fictitious import generate_fictitious
    from unlearn.data.formatting import PromptFormat
    from unlearn.evaluation.evaluator import EvalOptions
    from unlearn.evaluation.run import load_semantic_models
    from unlearn.evaluation.splits import EvalSplit
    from unlearn.models.loading import load_model

    model, tokenizer = load_model(args.model, device="cpu")
    fmt = PromptFormat.for_tokenizer(tokenizer)
    semantic = load_semantic_models("packaged", None, "cpu")
    options = EvalOptions(max_length=256, max_new_tokens=args.max_new_tokens, progress=False)
    with tempfile.TemporaryDirectory() as scratch:
        write_benchmark(generate_fictitious(), Path(scratch))
        benchmark = Benchmark(scratch)
        splits = [EvalSplit(role, name, benchmark.records(name)) for role, name in ROLES_SPLITS]
    naive_rows, naive_seconds, naive_parts = naive(model, tokenizer, fmt, splits, semantic, options)
    fused_rows, fused_seconds, fused_parts = fused(model, tokenizer, fmt, splits, semantic, options)
    worst, where, compared, differing = compare(fused_rows, naive_rows)
    generated = [row["generation"] for role in fused_rows for row in fused_rows[role] if "generation" in row]
    new_tokens = sum(len(tokenizer(g, add_special_tokens=False)["input_ids"]) for g in generated)
    sizes = ", ".join(f"{role} {len(s.records)}" for role, s in zip(fused_rows, splits))

    def parts(seconds):
        return ", ".join(f"{k} {v:.0f} s" for k, v in sorted(seconds.items()))

    table = "\n".join([
        SECTION, "",
        f"`python benchmarks/eval_speed.py --model {args.model} --threads {args.threads}`: fp32, CPU, {args.threads} "
        f"threads, built-in benchmark (seed 0; records: {sizes}), max {args.max_new_tokens} new tokens, "
        f"scoring batch {options.batch_size}, generation batch {options.generation_batch_size}; "
        "entailment not included (no NLI model offline).", "",
        "| evaluation | total (s) | where the time went |", "|---|---|---|",
        f"| fused (`unlearn eval`) | {fused_seconds:.0f} | {parts(fused_parts)} |",
        f"| naive per-metric | {naive_seconds:.0f} | {parts(naive_parts)} |", "",
        f"- Speed-up: **{naive_seconds / fused_seconds:.2f}x** (target: at least 2x).",
        f"- Same numbers: {compared} per-example values compared, largest relative difference {worst:.1e} "
        f"({where}; batches differ in padding and composition, so float sums differ in the last digits); "
        f"{differing} of {len(generated)} greedy generations differ between the two batchings.",
        f"- Generation throughput (fused): {len(generated) / fused_parts['generation']:.2f} answers/s, "
        f"{new_tokens / fused_parts['generation']:.1f} new tokens/s ({new_tokens} tokens).", ""])
    print(table)
    update_section(Path(args.write), table, SECTION)
    assert math.isfinite(worst)


if __name__ == "__main__":
    main()
