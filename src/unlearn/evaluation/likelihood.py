"""One teacher-forced pass per distinct (question, answer) sequence, in length-sorted batches.

Every likelihood metric (probability, truth ratio, MIA scores, memorization) is derived from
the numbers kept here, so an answer that several metrics need is scored once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from tqdm.auto import tqdm

from unlearn.data.collate import pad_batch
from unlearn.data.formatting import encode_pairs, warn_truncated


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
                    progress: bool = True, sort_by_length: bool = True) -> dict[tuple[str, str], SequenceScore]:
    """Score each distinct pair once; returns ``{(question, answer): SequenceScore}``.

    With left padding every answer ends at the last position, so the output layer runs only on
    the last ``longest answer + 1`` positions (``logits_to_keep``) instead of the whole prompt:
    the vocabulary projection is the largest single cost of a small model's forward pass.
    ``sort_by_length=False`` keeps the input order (the naive baseline of the speed benchmark)."""
    distinct = list(dict.fromkeys(pairs))
    columns = encode_pairs(tokenizer, fmt, [q for q, _ in distinct], [a for _, a in distinct], max_length)
    warn_truncated("scoring", sum(columns["truncated"]), len(distinct), max_length)
    encoded = [dict(zip(columns, values)) for values in zip(*columns.values())]
    order = list(range(len(distinct)))
    if sort_by_length:
        order.sort(key=lambda i: len(encoded[i]["input_ids"]))
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    scores: dict[tuple[str, str], SequenceScore] = {}
    for start in tqdm(range(0, len(order), batch_size), desc="scoring", unit="batch", disable=not progress):
        chunk = order[start:start + batch_size]
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
    model.train(was_training)
    return scores


def _row_score(logits: torch.Tensor, labels: torch.Tensor) -> SequenceScore:
    """``logits`` are those of the last K positions (K = sequence length without ``logits_to_keep``);
    the logits at position p predict the token at p + 1."""
    labels = labels[len(labels) - len(logits) + 1:]
    scored = (labels != -100).nonzero().squeeze(-1)
    log_probs = torch.log_softmax(logits[:-1][scored].float(), dim=-1)
    targets = labels[scored]
    token_logprobs = log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    probs = log_probs.exp()
    means = (probs * log_probs).sum(-1)
    stds = ((probs * log_probs.pow(2)).sum(-1) - means.pow(2)).clamp(min=0).sqrt()
    return SequenceScore(tuple(token_logprobs.tolist()), tuple(log_probs.argmax(-1).tolist()),
                         tuple(targets.tolist()), tuple(means.tolist()), tuple(stds.tolist()))
