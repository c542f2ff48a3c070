"""MUSE's metrics (Shi et al. 2024): verbatim memorization, knowledge memorization, privacy leakage.

- **VerbMem**: the model continues the opening of a forget text (``prompt``) greedily for 128
  tokens; ROUGE-L F1 (stemmer off) against the first 128 tokens of the true continuation (``gt``).
- **KnowMem**: the in-context pairs as ``Question: {q}\\nAnswer: {a}\\n\\n``, then ``Question:
  {q}\\nAnswer: ``; greedy, 32 tokens, cut before the first blank line or ``Question``; ROUGE-L F1
  against the answer. On the forget questions it should fall; on the retain ones it is utility.
- **PrivLeak**: every text's Min-K% score, k = 0.4, over all its tokens (the whole text; one
  longer than the model's context is scored in overlapping windows, ``whole_text``); the AUC of
  forget (member) against holdout texts in MUSE's orientation (``P(holdout score < forget
  score)``: near 0 for a model that memorized its forget set, about 0.5 for one that never saw
  it); ``100 * (AUC - AUC_retrained) / AUC_retrained``, in percent: about -100 under-unlearned,
  0 ideal, positive over-unlearned.

As MUSE's code, prompts are raw text (no chat template) tokenized with the tokenizer's special
tokens. Generation goes through the batched greedy decoder (left padding, stop at EOS), which
gives the unbatched greedy tokens (tested in ``test_generation_and_facts.py``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from unlearn.errors import UserError
from unlearn.evaluation.generation import generate_greedy
from unlearn.evaluation.whole_text import whole_text_logprobs
from unlearn.metrics.privacy import auc_interval, min_k_score, muse_auc, priv_leak, priv_leak_interval
from unlearn.metrics.text import rouge_l_f1
from unlearn.metrics.uncertainty import mean_interval

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


AUC_ORIENTATION = "muse"  # stored with the AUC: P(holdout score < forget score), memorized -> 0


@dataclass(frozen=True)
class RetrainedReference:
    """The retrained model's PrivLeak reference: its AUC (MUSE's orientation) and, when its own
    evaluation is at hand, its per-text scores, so the interval can resample both models."""

    auc: float
    member_scores: list[float] | None = None
    holdout_scores: list[float] | None = None
    source: str = "--muse.retrained-auc"


def privleak(model, tokenizer, members: list[dict], holdout: list[dict], retrained: RetrainedReference | None,
             k: float = MIN_K, batch_size: int = 8, window: int = 2048, **interval_options) -> dict:
    """The Min-K% AUC of forget texts against holdout texts (MUSE's orientation), and PrivLeak in
    percent against the retrained model's AUC (not computed, with the reason, when it is not given)."""
    texts = [r["text"] for r in members + holdout]
    scores = [min_k_score(lp, k) if lp else math.nan
              for lp in whole_text_logprobs(model, tokenizer, texts, window, batch_size)]
    member_scores, holdout_scores = scores[:len(members)], scores[len(members):]
    value = muse_auc(member_scores, holdout_scores)
    found = auc_interval(member_scores, holdout_scores, muse=True, **interval_options)
    lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=True)["input_ids"]]
    result = {"auc": value, "auc_interval": list(found) if found else None, "auc_orientation": AUC_ORIENTATION,
              "min_k": k, "members": len(members), "holdout": len(holdout),
              "scored": f"whole texts (longest {max(lengths, default=0)} tokens); "
                        f"{sum(n > window for n in lengths)} longer than the {window}-token window ran in "
                        "overlapping windows",
              "retrained_auc": retrained.auc if retrained else None,
              "member_scores": member_scores, "holdout_scores": holdout_scores}
    if retrained is None or retrained.auc == 0:
        reason = ("no retrained model's AUC (--muse.retrained-auc, or --retain-eval of a MUSE evaluation of the "
                  "retrained model)" if retrained is None else "the retrained model's AUC is 0, which PrivLeak "
                  "divides by")
        result.update(priv_leak=None, priv_leak_interval=None, not_computed=reason)
        return result
    result["priv_leak"] = priv_leak(value, retrained.auc)
    result["priv_leak_unit"] = "percent"
    interval, how = _priv_leak_interval(member_scores, holdout_scores, retrained, found, interval_options)
    result.update(priv_leak_interval=interval, priv_leak_interval_kind=how)
    return result


def _priv_leak_interval(member_scores, holdout_scores, retrained: RetrainedReference, auc_found,
                        interval_options: dict) -> tuple[list[float] | None, str]:
    """PrivLeak's interval and how it was made: both models resampled when the retrained model's
    per-text scores are known; else its AUC is a constant and only ours varies."""
    if retrained.member_scores is None or retrained.holdout_scores is None:
        interval = [priv_leak(x, retrained.auc) for x in auc_found] if auc_found else None
        return interval, (f"the retrained model's AUC is a constant ({retrained.source}): the interval resamples "
                          "this model's texts only, not the retrained model's sampling error")
    paired = (len(retrained.member_scores), len(retrained.holdout_scores)) == (len(member_scores), len(holdout_scores))
    found = priv_leak_interval(member_scores, holdout_scores, retrained.member_scores, retrained.holdout_scores,
                               paired, **interval_options)
    how = ("joint bootstrap: each resample draws the forget and holdout texts once and recomputes both models' AUCs"
           if paired else "joint bootstrap: the retrained model's evaluation has other text counts, so its texts "
                          "are resampled independently of this model's")
    if found is None:
        how += ("; no interval: under 2 texts on a side, or PrivLeak undefined on some resamples (the retrained "
                "model's AUC 0 on them: too few texts)")
    return (list(found) if found else None), how


def read_retrained_reference(folder: str | Path) -> RetrainedReference:
    """The retrained model's PrivLeak AUC and per-text scores from its MUSE evaluation in ``folder``
    (``summary.json``'s ``muse.privleak`` and ``muse_privleak.json``)."""
    path = Path(folder) / "summary.json"
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))["muse"]["privleak"]
        value = entry["auc"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UserError(f"--retain-eval {folder}: no MUSE PrivLeak AUC in {path} ({type(error).__name__}); evaluate "
                        "the retrained model with --suites muse first, or give --muse.retrained-auc") from error
    if not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise UserError(f"--retain-eval {folder}: its PrivLeak AUC is {value!r}, not a number in [0, 1]")
    if entry.get("auc_orientation") != AUC_ORIENTATION:
        raise UserError(f"--retain-eval {folder}: its PrivLeak AUC was computed by an older llm-unlearn in the other "
                        "orientation (and on truncated texts); evaluate the retrained model with --suites muse again")
    try:
        scores = json.loads((Path(folder) / "muse_privleak.json").read_text(encoding="utf-8"))
        members, holdout = list(map(float, scores["member_scores"])), list(map(float, scores["holdout_scores"]))
    except (OSError, ValueError, KeyError, TypeError):
        members = holdout = None  # the AUC alone: the interval says it holds it fixed
    return RetrainedReference(float(value), members, holdout, source=f"--retain-eval {folder}")


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
                  retrained: RetrainedReference | None, verbmem_tokens: int = VERBMEM_TOKENS,
                  knowmem_tokens: int = KNOWMEM_TOKENS, min_k: float = MIN_K, batch_size: int = 16,
                  generation_batch_size: int = 16, **interval_options) -> dict[str, dict]:
    """Every MUSE metric whose splits are there: ``{metric: result}``; a missing one is
    ``{"not_computed": reason}``. PrivLeak's window is the model's context (``max_length`` only
    when the model states none): it scores whole texts, never cut at ``max_length``."""
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
        window = getattr(getattr(model, "config", None), "max_position_embeddings", None) or max_length
        results["privleak"] = privleak(model, tokenizer, records["privleak.forget"], records["privleak.holdout"],
                                       retrained, min_k, batch_size, window, **interval_options)
    return {metric: results[metric] for metric in MUSE_SPLITS}
