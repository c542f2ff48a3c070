"""One teacher-forced pass per distinct (question, answer) sequence, in length-sorted batches.

Every likelihood metric (probability, truth ratio, MIA scores, memorization) is derived from
the numbers kept here, so an answer that several metrics need is scored once.

A question is usually scored with several answers (the answer, its paraphrase, five wrong
ones), and its prompt (with a chat template's system message) is most of each sequence. So the
prompt runs once, its key-value cache is repeated for each answer, and only the answer tokens
run on top of it: the same numbers (to float rounding) for about a third of the work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from tqdm.auto import tqdm

from unlearn.data.collate import pad_batch
from unlearn.data.formatting import encode_pairs, warn_truncated
from unlearn.evaluation.batching import length_sorted_batches
from unlearn.models.modes import evaluating


@dataclass(frozen=True)
class SequenceScore:
    """Per answer token: log-probability, whether the argmax was the token, and the mean and
    standard deviation of log p over the vocabulary under the model's distribution (Min-K%++)."""

    token_logprobs: tuple[float, ...]
    argmax_tokens: tuple[int, ...]
    answer_tokens: tuple[int, ...]
    vocab_logprob_means: tuple[float, ...]
    vocab_logprob_stds: tuple[float, ...]

    @property
    def nll_sum(self) -> float:
        return -math.fsum(self.token_logprobs)

    @property
    def nll_mean(self) -> float:
        return self.nll_sum / max(1, len(self.token_logprobs))

    @property
    def valid(self) -> bool:
        return bool(self.token_logprobs) and all(math.isfinite(v) for v in self.token_logprobs)


@torch.no_grad()
def score_sequences(model, tokenizer, fmt, pairs: list[tuple[str, str]], batch_size: int = 16,
                    max_length: int = 512, side: Literal["right", "left"] = "left",
                    progress: bool = True, sort_by_length: bool = True,
                    share_prompts: bool = True) -> dict[tuple[str, str], SequenceScore]:
    """Score each distinct pair once; returns ``{(question, answer): SequenceScore}``.

    ``share_prompts``: each question's prompt runs once for all its answers (see the module
    docstring); sequences longer than ``max_length`` take the whole-sequence path below, which
    truncates them as training does. Otherwise each sequence runs whole: with left padding every
    answer ends at the last position, so the output layer runs only on the last ``longest answer
    + 1`` positions (``logits_to_keep``). ``sort_by_length=False`` keeps the input order (the naive
    baseline of the speed benchmark)."""
    distinct = list(dict.fromkeys(pairs))
    if share_prompts:
        scores, rest = _score_sharing_prompts(model, tokenizer, fmt, distinct, batch_size, max_length, progress)
        if rest:
            scores.update(score_sequences(model, tokenizer, fmt, rest, batch_size, max_length, side, progress,
                                          sort_by_length, share_prompts=False))
        return scores
    columns = encode_pairs(tokenizer, fmt, [q for q, _ in distinct], [a for _, a in distinct], max_length)
    warn_truncated("scoring", sum(columns["truncated"]), len(distinct), max_length)
    encoded = [dict(zip(columns, values)) for values in zip(*columns.values())]
    length = (lambda i: len(encoded[i]["input_ids"])) if sort_by_length else None
    batches = list(length_sorted_batches(len(distinct), batch_size, length))
    device = next(model.parameters()).device
    scores: dict[tuple[str, str], SequenceScore] = {}
    with evaluating(model):
        for chunk in tqdm(batches, desc="scoring", unit="batch", disable=not progress):
            batch = {k: v.to(device) for k, v in pad_batch([encoded[i] for i in chunk], tokenizer.pad_token_id,
                                                              side).items()}
            # Positions count real tokens only, so left padding scores exactly like no padding.
            positions = (batch["attention_mask"].cumsum(-1) - 1).clamp(min=0)
            inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"],
                      "position_ids": positions}
            if side == "left":
                inputs["logits_to_keep"] = int((batch["labels"] != -100).sum(-1).max()) + 1
            logits = model(**inputs).logits
            for row, index in enumerate(chunk):
                scores[distinct[index]] = _row_score(logits[row], batch["labels"][row])
    return scores


def _score_sharing_prompts(model, tokenizer, fmt, pairs: list[tuple[str, str]], batch_size: int,
                           max_length: int, progress: bool) -> tuple[dict, list[tuple[str, str]]]:
    """Scores of the pairs that fit in ``max_length``, and the pairs left for the whole-sequence path.

    Per chunk of questions (at most ``batch_size`` answers): the left-padded prompts run once with
    the cache on; the cache is repeated per answer; the right-padded answers run on top of it, at
    positions that continue each prompt's own. The last prompt position predicts the first
    answer token, the answer's own positions the rest."""
    questions = list(dict.fromkeys(q for q, _ in pairs))
    prompts = dict(zip(questions, fmt.prompt_ids(tokenizer, questions)))
    answers = dict(zip(pairs, fmt.answer_ids(tokenizer, [a for _, a in pairs])))
    by_question: dict[str, list[tuple[str, str]]] = {}
    rest = []
    for pair in pairs:
        if len(prompts[pair[0]]) + len(answers[pair]) <= max_length and answers[pair]:
            by_question.setdefault(pair[0], []).append(pair)
        else:
            rest.append(pair)
    order = sorted(by_question, key=lambda q: len(prompts[q]))
    chunks, chunk, rows = [], [], 0
    for question in order:
        if chunk and rows + len(by_question[question]) > batch_size:
            chunks.append(chunk)
            chunk, rows = [], 0
        chunk.append(question)
        rows += len(by_question[question])
    if chunk:
        chunks.append(chunk)
    device = next(model.parameters()).device
    scores: dict[tuple[str, str], SequenceScore] = {}
    with evaluating(model):
        for chunk in tqdm(chunks, desc="scoring", unit="batch", disable=not progress):
            features = [{"input_ids": prompts[q], "attention_mask": [1] * len(prompts[q])} for q in chunk]
            prompt_batch = pad_batch(features, tokenizer.pad_token_id, "left")
            prompt_mask = prompt_batch["attention_mask"].to(device)
            prompt_lengths = prompt_mask.sum(-1)
            out = model(input_ids=prompt_batch["input_ids"].to(device), attention_mask=prompt_mask,
                        position_ids=(prompt_mask.cumsum(-1) - 1).clamp(min=0), use_cache=True, logits_to_keep=1)
            rows_of = [(b, pair) for b, q in enumerate(chunk) for pair in by_question[q]]
            index = torch.tensor([b for b, _ in rows_of], device=device)
            # transformers 5.x calls the key-value cache `cache` (in and out); earlier, `past_key_values`
            name = "cache" if "cache" in out else "past_key_values"
            cache = out[name]
            cache.batch_select_indices(index)
            answer_batch = pad_batch([{"input_ids": answers[p], "attention_mask": [1] * len(answers[p])}
                                      for _, p in rows_of], tokenizer.pad_token_id, "right")
            answer_ids = answer_batch["input_ids"].to(device)
            answer_mask = answer_batch["attention_mask"].to(device)
            positions = prompt_lengths[index].unsqueeze(-1) + torch.arange(answer_ids.shape[1], device=device)
            logits = model(input_ids=answer_ids, attention_mask=torch.cat([prompt_mask[index], answer_mask], -1),
                           position_ids=positions, use_cache=False, **{name: cache}).logits
            first = out.logits[:, -1]
            for row, (b, pair) in enumerate(rows_of):
                n = len(answers[pair])
                stacked = torch.cat([first[b:b + 1], logits[row, :n - 1]])
                scores[pair] = _token_score(stacked, answer_ids[row, :n])
    return scores, rest


def _row_score(logits: torch.Tensor, labels: torch.Tensor) -> SequenceScore:
    """``logits`` are those of the last K positions (K = sequence length without ``logits_to_keep``);
    the logits at position p predict the token at p + 1."""
    labels = labels[len(labels) - len(logits) + 1:]
    scored = (labels != -100).nonzero().squeeze(-1)
    return _token_score(logits[:-1][scored], labels[scored])


def _token_score(logits: torch.Tensor, targets: torch.Tensor) -> SequenceScore:
    """The numbers kept for answer tokens ``targets``, from the logits that predict each of them."""
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    token_logprobs = log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    probs = log_probs.exp()
    means = (probs * log_probs).sum(-1)
    stds = ((probs * log_probs.pow(2)).sum(-1) - means.pow(2)).clamp(min=0).sqrt()
    return SequenceScore(tuple(token_logprobs.tolist()), tuple(log_probs.argmax(-1).tolist()),
                         tuple(targets.tolist()), tuple(means.tolist()), tuple(stds.tolist()))

