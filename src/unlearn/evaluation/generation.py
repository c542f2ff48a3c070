"""Batched greedy generation: left padding, length-sorted batches, per-sequence stop at EOS."""

from __future__ import annotations

import logging

import torch
from tqdm.auto import tqdm

from unlearn.data.collate import pad_batch

log = logging.getLogger(__name__)


def fit_new_tokens(max_new_tokens: int, longest_prompt: int, context: int | None) -> int:
    """``max_new_tokens`` capped at the context left after the longest prompt (at least 1): positions
    past the context are undefined, and a huge cap would decode without end on a model with no EOS."""
    if not context or longest_prompt + max_new_tokens <= context:
        return max_new_tokens
    room = max(1, context - longest_prompt)
    log.warning("max_new_tokens %d does not fit the model's context of %d tokens after a prompt of %d; using %d",
                max_new_tokens, context, longest_prompt, room)
    return room


@torch.no_grad()
def generate_greedy(model, tokenizer, prompts: list[list[int]], max_new_tokens: int = 64,
                    batch_size: int = 16, progress: bool = True, sort_by_length: bool = True) -> list[str]:
    """Decode each prompt (token ids) greedily; returns the answers in the input order.

    Prompts are sorted by length so a batch carries little padding; ``generate`` stops each
    sequence at its EOS and pads the finished ones, which decoding then skips.
    """
    order = list(range(len(prompts)))
    if sort_by_length:
        order.sort(key=lambda i: len(prompts[i]))
    answers: list[str] = [""] * len(prompts)
    if not prompts:
        return answers
    max_new_tokens = fit_new_tokens(max_new_tokens, max(len(p) for p in prompts),
                                    getattr(model.config, "max_position_embeddings", None))
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    batches = range(0, len(order), batch_size)
    for start in tqdm(batches, desc="generating", disable=not progress, unit="batch"):
        chunk = order[start:start + batch_size]
        features = [{"input_ids": prompts[i], "attention_mask": [1] * len(prompts[i])} for i in chunk]
        batch = {k: v.to(device) for k, v in pad_batch(features, tokenizer.pad_token_id, side="left").items()}
        output = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                                pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
        new_tokens = output[:, batch["input_ids"].shape[1]:]
        for i, ids in zip(chunk, new_tokens):
            answers[i] = tokenizer.decode(ids, skip_special_tokens=True).strip()
    model.train(was_training)
    return answers


def generate_answers(model, tokenizer, fmt, questions: list[str], max_new_tokens: int = 64,
                     batch_size: int = 16, progress: bool = True, sort_by_length: bool = True) -> list[str]:
    """Greedy answers to ``questions`` prompted with ``fmt`` (chat or plain template)."""
    prompts = fmt.prompt_ids(tokenizer, questions)
    return generate_greedy(model, tokenizer, prompts, max_new_tokens, batch_size, progress, sort_by_length)
