"""MUSE's metrics (Shi et al. 2024): verbatim memorization, knowledge memorization, privacy leakage.

- **VerbMem**: the model continues the opening of a forget text (``prompt``) greedily for 128
  tokens; ROUGE-L F1 (stemmer off) against the first 128 tokens of the true continuation (``gt``).
- **KnowMem**: the in-context pairs as ``Question: {q}\\nAnswer: {a}\\n\\n``, then ``Question:
  {q}\\nAnswer: ``; greedy, 32 tokens, cut before the first blank line or ``Question``; ROUGE-L F1
  against the answer. On the forget questions it should fall; on the retain ones it is utility.
- **PrivLeak**: every text's Min-K% score, k = 0.4, over all its tokens; the AUC of telling the
  forget texts (members) from the holdout texts; ``(AUC - AUC_retrained) / AUC_retrained``.

As MUSE's code, prompts are raw text (no chat template) tokenized with the tokenizer's special
tokens. Generation goes through the batched greedy decoder (left padding, stop at EOS), which
gives the unbatched greedy tokens (tested in ``test_generation_and_facts.py``).
"""

from __future__ import annotations

import math

from unlearn.evaluation.generation import generate_greedy
from unlearn.evaluation.likelihood import text_token_logprobs
from unlearn.metrics.privacy import auc, min_k_score, priv_leak
from unlearn.metrics.text import rouge_l_f1
from unlearn.metrics.uncertainty import bootstrap_interval, mean_interval

STOPS = ("\n\n", "\nQuestion", "Question:")  # where a KnowMem answer ends (MUSE's cut)
VERBMEM_TOKENS, KNOWMEM_TOKENS, MIN_K = 128, 32, 0.4


def knowmem_prompt(question: str, icl: list[tuple[str, str]]) -> str:
    """The in-context pairs, then the question: ``Question: {q}\\nAnswer: {a}\\n\\n...Question: {q}\\nAnswer: ``."""
    shots = "".join(f"Question: {q}\nAnswer: {a}\n\n" for q, a in icl)
    return f"{shots}Question: {question}\nAnswer: "


def cut_answer(generation: str, stops: tuple[str, ...] = STOPS) -> str:
    """The generation before the first of ``stops``: the model's answer, not the next question it invents."""
    for stop in stops:
        generation = generation.split(stop)[0]
    return generation


def verbmem(model, tokenizer, records: list[dict], max_new_tokens: int = VERBMEM_TOKENS, batch_size: int = 16,
            **interval_options) -> dict:
    """Mean ROUGE-L F1 of each prompt's greedy continuation against its truncated ``gt``."""
    prompts = tokenizer([r["prompt"] for r in records], add_special_tokens=True)["input_ids"]
    generations = generate_greedy(model, tokenizer, prompts, max_new_tokens, batch_size, progress=False)
    references = [tokenizer.decode(ids[:max_new_tokens], skip_special_tokens=True)
                  for ids in tokenizer([r["gt"] for r in records], add_special_tokens=False)["input_ids"]]
    examples = [{"prompt": r["prompt"], "gt": reference, "generation": g, "rougeL_f1": rouge_l_f1(g, reference)}
                for r, g, reference in zip(records, generations, references)]
    return _mean_of(examples, "rougeL_f1", interval_options)


def knowmem(model, tokenizer, records: list[dict], icl: list[dict], max_new_tokens: int = KNOWMEM_TOKENS,
            batch_size: int = 16, **interval_options) -> dict:
    """Mean ROUGE-L F1 of each question's in-context answer against its ``answer``."""
    shots = [(r["question"], r["answer"]) for r in icl]
    texts = [knowmem_prompt(r["question"], shots) for r in records]
    prompts = tokenizer(texts, add_special_tokens=True)["input_ids"]
    generations = generate_greedy(model, tokenizer, prompts, max_new_tokens, batch_size, progress=False)
    examples = []
    for record, generation in zip(records, generations):
        answer = cut_answer(generation)
        examples.append({"question": record["question"], "answer": record["answer"], "generation": answer,
                         "rougeL_f1": rouge_l_f1(answer, record["answer"])})
    return _mean_of(examples, "rougeL_f1", interval_options)


def privleak(model, tokenizer, members: list[dict], holdout: list[dict], max_length: int,
             retrained_auc: float | None, k: float = MIN_K, batch_size: int = 8, **interval_options) -> dict:
    """The Min-K% AUC of forget texts against holdout texts, and PrivLeak against the retrained
    model's AUC (not computed, with the reason, when that AUC is not given)."""
    scores = [min_k_score(lp, k) if lp else math.nan for lp in
              text_token_logprobs(model, tokenizer, [r["text"] for r in members + holdout], max_length, batch_size)]
    member_scores, holdout_scores = scores[:len(members)], scores[len(members):]
    value = auc(member_scores, holdout_scores)
    found = bootstrap_interval([member_scores, holdout_scores], auc, **interval_options)
    result = {"auc": value, "auc_interval": list(found) if found else None,
              "min_k": k, "members": len(members), "holdout": len(holdout), "retrained_auc": retrained_auc,
              "member_scores": member_scores, "holdout_scores": holdout_scores}
    if retrained_auc is None or retrained_auc == 0:
        reason = ("no retrained model's AUC (--muse-retrained-auc, or --retain-eval of a MUSE evaluation of the "
                  "retrained model)" if retrained_auc is None else "the retrained model's AUC is 0, which PrivLeak "
                  "divides by")
        result.update(priv_leak=None, priv_leak_interval=None, not_computed=reason)
    else:
        interval = result["auc_interval"]
        result.update(priv_leak=priv_leak(value, retrained_auc),
                      priv_leak_interval=[priv_leak(x, retrained_auc) for x in interval] if interval else None)
    return result


def _mean_of(examples: list[dict], key: str, interval_options: dict) -> dict:
    values = [e[key] for e in examples]
    mean = sum(values) / len(values) if values else math.nan
    return {"mean": mean, "interval": mean_interval(values, **interval_options), "examples": examples}


# each metric and the splits it reads, named as MUSE's Hub configs and splits (CONFIG.SPLIT)
MUSE_SPLITS = {"verbmem_f": ("verbmem.forget",),
               "knowmem_f": ("knowmem.forget_qa", "knowmem.forget_qa_icl"),
               "knowmem_r": ("knowmem.retain_qa", "knowmem.retain_qa_icl"),
               "privleak": ("privleak.forget", "privleak.holdout")}
MUSE_KINDS = {"verbmem.forget": "continuation", "privleak.forget": "text", "privleak.holdout": "text"}


def load_muse_splits(benchmark) -> tuple[dict[str, list[dict]], dict[str, str]]:
    """The records of every MUSE split the benchmark has (checked to be of the right kind), and
    for each metric whose splits are missing, the reason it will not be computed."""
    from unlearn.errors import UserError

    available = set(benchmark.split_names())
    records, missing = {}, {}
    for metric, names in MUSE_SPLITS.items():
        absent = [n for n in names if n not in available and n.partition(".")[0] not in available]
        if absent:
            missing[metric] = f"the benchmark has no split {', '.join(absent)}"
            continue
        for name in names:
            if name not in records:
                kind = benchmark.split_kind(name)
                if kind != MUSE_KINDS.get(name, "qa"):
                    raise UserError(f"MUSE split '{name}' holds {kind} records, not {MUSE_KINDS.get(name, 'qa')} ones")
                records[name] = benchmark.records(name)
    return records, missing


def evaluate_muse(model, tokenizer, records: dict[str, list[dict]], missing: dict[str, str], *, max_length: int,
                  retrained_auc: float | None, verbmem_tokens: int = VERBMEM_TOKENS,
                  knowmem_tokens: int = KNOWMEM_TOKENS, min_k: float = MIN_K, batch_size: int = 16,
                  generation_batch_size: int = 16, **interval_options) -> dict[str, dict]:
    """Every MUSE metric whose splits are there: ``{metric: result}``; a missing one is
    ``{"not_computed": reason}``."""
    results: dict[str, dict] = {metric: {"not_computed": reason} for metric, reason in missing.items()}
    if "verbmem_f" not in missing:
        results["verbmem_f"] = verbmem(model, tokenizer, records["verbmem.forget"], verbmem_tokens,
                                       generation_batch_size, **interval_options)
    for metric, side in (("knowmem_f", "forget"), ("knowmem_r", "retain")):
        if metric not in missing:
            results[metric] = knowmem(model, tokenizer, records[f"knowmem.{side}_qa"],
                                      records[f"knowmem.{side}_qa_icl"], knowmem_tokens, generation_batch_size,
                                      **interval_options)
    if "privleak" not in missing:
        results["privleak"] = privleak(model, tokenizer, records["privleak.forget"], records["privleak.holdout"],
                                       max_length, retrained_auc, min_k, batch_size, **interval_options)
    return {metric: results[metric] for metric in MUSE_SPLITS}
