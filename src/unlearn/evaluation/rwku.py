"""RWKU's probes (Jin et al. 2024): is real-world knowledge about a target still there?

Each probe is answered greedily (30 new tokens, cut at the first newline) and scored by the
ROUGE-L recall of its answer as RWKU's code scores it: the ``rouge`` package (pltrdy), whose
words are split at spaces with case and punctuation kept (``metrics.text.rwku_rouge_l_recall``),
not ``rouge_score``, which lowercases and drops punctuation. The prompt, as RWKU's code writes it, is the
instruction inside the chat template, then ``Answer:``:

- level 1, fill-in-the-blank: ``Please complete the blank in the following question.\\nQuestion: {query}\\n``;
- level 2 (questions) and 3 (adversarial): ``Please briefly answer the following question.\\nQuestion: {query}\\n``,
  except two adversarial types: ``affirmative suffix`` ends at the query with no ``Answer:``
  (the query itself ends in the affirmation), and ``incontext learning`` puts the query (which
  holds its own examples) without ``Question:``.

A tokenizer without a chat template gets the instruction as plain text.

The membership sets (``mia_forget``: texts about the target, ``mia_retain``: other texts) get
RWKU's four scores of each whole text (``eval_mia.py``), all oriented as the paper's LOSS (higher:
less likely the model still holds the text): ``loss`` the token-mean NLL, ``zlib`` that NLL over
the text's zlib-compressed length, ``mink`` Min-K% and ``mink++`` Min-K%++ at k = 20%.
RWKU's code stores them as log-likelihoods (the opposite sign), and its summary's ``mink20`` is
``mink++`` here (Min-K%++, not Min-K%). The paper's tables print LOSS (times 100).

The utility set (MMLU, fluency, ...) is scored by ``rwku_utility``.
"""

from __future__ import annotations

import torch

from unlearn.data.rwku import UTILITY, read_utility
from unlearn.evaluation.generation import generate_greedy
from unlearn.evaluation.likelihood import _token_score
from unlearn.evaluation.rwku_utility import chat_prompt, evaluate_utility
from unlearn.metrics.privacy import min_k_plus_plus_score, min_k_score, zlib_score
from unlearn.metrics.text import rwku_rouge_l_recall
from unlearn.metrics.uncertainty import mean_interval

FILL_IN = "Please complete the blank in the following question.\nQuestion: {query}\n"
BRIEF = "Please briefly answer the following question.\nQuestion: {query}\n"
PROBE_SPLITS = ("forget_level1", "forget_level2", "forget_level3", "neighbor_level1", "neighbor_level2")
MIA_SPLITS = ("mia_forget", "mia_retain")
NEW_TOKENS = 30


def probe_prompt(tokenizer, probe: dict) -> str:
    """The text RWKU's code gives the model for ``probe`` (see the module docstring)."""
    level, kind, query = probe.get("level"), probe.get("type", ""), probe["query"]
    content, suffix = BRIEF.format(query=query), "Answer:"
    if level == "1":
        content = FILL_IN.format(query=query)
    elif level == "3" and kind == "affirmative suffix":
        content, suffix = f"Please briefly answer the following question.\nQuestion: {query}", ""
    elif level == "3" and kind == "incontext learning":
        content = f"Please briefly answer the following question.\n{query}\n"
    return chat_prompt(tokenizer, content, suffix)


def first_line(generation: str) -> str:
    """The answer before the first newline (RWKU stops generation there)."""
    return generation.strip().split("\n")[0].strip()


def evaluate_probes(model, tokenizer, records: list[dict], max_new_tokens: int = NEW_TOKENS, batch_size: int = 16,
                    **interval_options) -> dict:
    """Mean ROUGE-L recall of the probes' answers, overall and per adversarial type."""
    texts = [probe_prompt(tokenizer, r) for r in records]
    chat = getattr(tokenizer, "chat_template", None) is not None
    prompts = tokenizer(texts, add_special_tokens=not chat)["input_ids"]  # a chat template writes its own
    generations = generate_greedy(model, tokenizer, prompts, max_new_tokens, batch_size, progress=False)
    examples = []
    for record, prompt, generation in zip(records, texts, generations):
        answer = first_line(generation)
        examples.append({**record, "prompt": prompt, "generation": answer,
                         "rougeL_recall": rwku_rouge_l_recall(answer, record["answer"])})
    values = [e["rougeL_recall"] for e in examples]
    by_type: dict[str, list[float]] = {}
    for example in examples:
        if example.get("type"):
            by_type.setdefault(example["type"], []).append(example["rougeL_recall"])
    return {"mean": sum(values) / len(values), "interval": mean_interval(values, **interval_options),
            "probes": len(values), "by_type": {kind: sum(v) / len(v) for kind, v in sorted(by_type.items())},
            "examples": examples}


MIA_SCORES = ("loss", "zlib", "mink", "mink++")
MIA_K = 0.2


def membership_scores(score, text: str, k: float = MIA_K) -> dict[str, float]:
    """RWKU's four scores of one text from its per-token numbers (``SequenceScore``), oriented as
    LOSS: ``loss`` = mean NLL, ``zlib`` = mean NLL / zlib length, ``mink`` = Min-K%,
    ``mink++`` = Min-K%++ (RWKU's ``mink20``), k = 20%."""
    nll = score.nll_mean
    return {"loss": nll, "zlib": zlib_score(nll, text), "mink": min_k_score(score.token_logprobs, k),
            "mink++": min_k_plus_plus_score(score.token_logprobs, score.vocab_logprob_means,
                                            score.vocab_logprob_stds, k)}


@torch.no_grad()
def text_scores(model, tokenizer, texts: list[str], batch_size: int = 8) -> list:
    """Per-token numbers (``SequenceScore``) of each whole text as the tokenizer encodes it,
    special tokens included, every token after the first scored (RWKU does not cut its texts;
    only the model's context window does here)."""
    from unlearn.data.collate import pad_batch

    window = getattr(model.config, "max_position_embeddings", None)
    encoded = [ids[:window] if window else ids for ids in tokenizer(texts, add_special_tokens=True)["input_ids"]]
    order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    scores = [None] * len(texts)
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        features = [{"input_ids": encoded[i], "attention_mask": [1] * len(encoded[i])} for i in chunk]
        batch = {k: v.to(device) for k, v in pad_batch(features, tokenizer.pad_token_id).items()}
        logits = model(**batch).logits
        for row, i in enumerate(chunk):
            length = len(encoded[i])
            scores[i] = _token_score(logits[row, :length - 1], batch["input_ids"][row, 1:length])
    model.train(was_training)
    return scores


def evaluate_membership(model, tokenizer, records: list[dict], batch_size: int = 8, k: float = MIA_K,
                        **interval_options) -> dict:
    """Mean of each of RWKU's membership scores over a set's texts (``MIA_SCORES``), with intervals."""
    texts = [r["text"] for r in records]
    per_text = [membership_scores(s, t, k) if s.valid else None for s, t in zip(text_scores(model, tokenizer, texts,
                                                                                         batch_size), texts)]
    result = {"texts": len(records), "k": k}
    for name in MIA_SCORES:
        values = [v[name] for v in per_text if v is not None]
        result[name] = sum(values) / len(values) if values else None
        result[f"{name}_interval"] = mean_interval(values, **interval_options) if values else None
    unscored = len(per_text) - sum(v is not None for v in per_text)
    if unscored:
        result["unscored_texts"] = unscored  # a text of one token has nothing to score
    return result


def load_rwku_splits(benchmark, suffix: str = "") -> tuple[dict[str, list[dict]], dict[str, str], dict]:
    """Records of each RWKU split the benchmark has (named ``<split><suffix>``, e.g. ``.test`` on
    the Hub), checked to be probes or texts; the reason for each one missing; the utility parts'
    records (None for a part the benchmark lacks)."""
    from unlearn.errors import UserError

    available = set(benchmark.split_names())
    records, missing = {}, {}
    for split in (*PROBE_SPLITS, *MIA_SPLITS):
        name = split + suffix
        if name not in available and name.partition(".")[0] not in available:
            missing[split] = f"the benchmark has no split {name}"
            continue
        wanted = "probe" if split in PROBE_SPLITS else "text"
        kind = benchmark.split_kind(name)
        if kind != wanted:
            raise UserError(f"RWKU split '{name}' holds {kind} records, not {wanted} ones")
        records[split] = benchmark.records(name)
    utility = {part: read_utility(benchmark, part, suffix) for part in UTILITY}
    return records, missing, utility


def evaluate_rwku(model, tokenizer, records: dict[str, list[dict]], missing: dict[str, str], utility: dict,
                  *, where: str = "the benchmark", max_new_tokens: int = NEW_TOKENS, batch_size: int = 16,
                  generation_batch_size: int = 16, **interval_options) -> dict[str, dict]:
    results: dict[str, dict] = {split: {"not_computed": reason} for split, reason in missing.items()}
    for split in PROBE_SPLITS:
        if split in records:
            results[split] = evaluate_probes(model, tokenizer, records[split], max_new_tokens, generation_batch_size,
                                             **interval_options)
    for split in MIA_SPLITS:
        if split in records:
            results[split] = evaluate_membership(model, tokenizer, records[split], batch_size, **interval_options)
    ordered = {split: results[split] for split in (*PROBE_SPLITS, *MIA_SPLITS)}
    return {**ordered, **evaluate_utility(model, tokenizer, utility, where, generation_batch_size,
                                          **interval_options)}
