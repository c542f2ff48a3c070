"""Token log-probs of whole texts, however long (MUSE's PrivLeak scores every token of a text).

A text that fits the window (the model's context) runs in one pass, as MUSE's code runs it. A
longer one runs in overlapping windows: every token after the first is scored exactly once, and
each one past the first window sees at least half a window of the text before it. Nothing is cut.
"""

from __future__ import annotations

import torch

from unlearn.data.collate import pad_batch
from unlearn.evaluation.batching import length_sorted_batches
from unlearn.models.modes import evaluating

MAX_BATCH_TOKENS = 8192  # padded tokens per forward pass: bounds the logits' memory for long texts


def windows(length: int, window: int) -> list[tuple[int, int, int]]:
    """``(begin, end, first)`` per pass over a text of ``length`` tokens: run tokens
    ``begin..end-1`` and keep the log-probs of the tokens ``first..end-1`` (positions in the text).
    Each later window begins half a window before its first scored token."""
    if window < 2:
        raise ValueError("a window needs at least 2 tokens")
    spans, begin, first = [], 0, 1
    while True:
        end = min(begin + window, length)
        spans.append((begin, end, first))
        if end >= length:
            return spans
        first, begin = end, end - window // 2


@torch.no_grad()
def whole_text_logprobs(model, tokenizer, texts: list[str], window: int, batch_size: int = 8) -> list[list[float]]:
    """``log p(token | the text before it)`` for every token of each text after the first (the text
    as the tokenizer encodes it, special tokens included), in ``windows`` of at most ``window`` tokens."""
    encoded = tokenizer(texts, add_special_tokens=True)["input_ids"]
    pieces = [(i, *span) for i, ids in enumerate(encoded) if len(ids) > 1 for span in windows(len(ids), window)]
    device = next(model.parameters()).device
    values: list[list[float]] = [[] for _ in pieces]
    batches = length_sorted_batches(len(pieces), batch_size, lambda p: pieces[p][2] - pieces[p][1], MAX_BATCH_TOKENS)
    with evaluating(model):
        for chunk in batches:
            features = [{"input_ids": encoded[i][begin:end], "attention_mask": [1] * (end - begin)}
                        for i, begin, end, _ in (pieces[p] for p in chunk)]
            batch = {k: v.to(device) for k, v in pad_batch(features, tokenizer.pad_token_id).items()}
            logits = model(**batch).logits
            for row, p in enumerate(chunk):
                _, begin, end, first = pieces[p]
                log_probs = torch.log_softmax(logits[row, first - begin - 1:end - begin - 1].float(), dim=-1)
                targets = batch["input_ids"][row, first - begin:end - begin]
                values[p] = log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1).tolist()
    result: list[list[float]] = [[] for _ in texts]
    for (i, *_), piece in zip(pieces, values):
        result[i].extend(piece)
    return result
