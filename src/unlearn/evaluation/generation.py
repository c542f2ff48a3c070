"""Batched greedy generation: left padding, length-sorted batches, per-sequence stop at EOS.

A plain ``transformers`` model is decoded by ``greedy_decode.greedy_retiring``, which drops each
finished sequence from its batch (``generate`` keeps computing it until the batch's last sequence
ends); other models (LoRA, combined-logits, guarded) by their own ``generate``. Both give the same
greedy tokens up to float rounding between batch shapes (measured in ``benchmarks/eval_speed.py``)."""

from __future__ import annotations

import logging

import torch
from tqdm.auto import tqdm

from unlearn.data.collate import pad_batch
from unlearn.evaluation.batching import length_sorted_batches
from unlearn.evaluation.greedy_decode import DecodeCount, greedy_retiring, retiring_supported
from unlearn.models.modes import evaluating

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
                    batch_size: int = 16, progress: bool = True, sort_by_length: bool = True,
                    retire_finished: bool = True, count: DecodeCount | None = None) -> list[str]:
    """Decode each prompt (token ids) greedily; returns the answers in the input order.

    Prompts are sorted by length so a batch carries little padding. Each sequence stops at its EOS;
    with ``retire_finished`` (and a plain ``transformers`` model) it also leaves the batch there,
    otherwise ``generate`` pads it until the batch ends. ``count``, if given, adds up what the
    decoding did (prompt tokens and padding, rows computed per step, answers at the limit).
    """
    answers: list[str] = [""] * len(prompts)
    if not prompts:
        return answers
    max_new_tokens = fit_new_tokens(max_new_tokens, max(len(p) for p in prompts),
                                    getattr(model.config, "max_position_embeddings", None))
    device = next(model.parameters()).device
    retire = retire_finished and retiring_supported(model)
    length = (lambda i: len(prompts[i])) if sort_by_length else None
    batches = list(length_sorted_batches(len(prompts), batch_size, length))
    with evaluating(model):
        for chunk in tqdm(batches, desc="generating", disable=not progress, unit="batch"):
            features = [{"input_ids": prompts[i], "attention_mask": [1] * len(prompts[i])} for i in chunk]
            batch = {k: v.to(device) for k, v in pad_batch(features, tokenizer.pad_token_id, side="left").items()}
            if retire:
                new_tokens, done = greedy_retiring(model, batch["input_ids"], batch["attention_mask"], max_new_tokens,
                                                   tokenizer.eos_token_id)
            else:
                output = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                                        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
                new_tokens = output[:, batch["input_ids"].shape[1]:].tolist()
                done = _generate_count(new_tokens, tokenizer.eos_token_id, max_new_tokens)
            if count is not None:
                count.add(done)
                count.prompt_tokens += int(batch["attention_mask"].sum())
                count.prompt_padding += int((batch["attention_mask"] == 0).sum())
            for i, ids in zip(chunk, new_tokens):
                answers[i] = tokenizer.decode(ids, skip_special_tokens=True).strip()
    return answers


def _generate_count(new_tokens: list[list[int]], eos_token_id: int | None, max_new_tokens: int) -> DecodeCount:
    """What ``generate`` did for one batch: every row runs each pass after the prompt."""
    width = len(new_tokens[0]) if new_tokens else 0
    count = DecodeCount(rows=len(new_tokens), row_steps=len(new_tokens) * max(0, width - 1), steps=max(0, width - 1))
    for ids in new_tokens:
        if eos_token_id in ids:
            count.new_tokens += ids.index(eos_token_id) + 1
        else:
            count.new_tokens += len(ids)
            count.at_limit += len(ids) == max_new_tokens
    return count


def generate_answers(model, tokenizer, fmt, questions: list[str], max_new_tokens: int = 64,
                     batch_size: int = 16, progress: bool = True, sort_by_length: bool = True) -> list[str]:
    """Greedy answers to ``questions`` prompted with ``fmt`` (chat or plain template)."""
    prompts = fmt.prompt_ids(tokenizer, questions)
    return generate_greedy(model, tokenizer, prompts, max_new_tokens, batch_size, progress, sort_by_length)
