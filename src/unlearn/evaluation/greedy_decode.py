"""Greedy decoding of a left-padded batch that retires each sequence at its EOS.

``transformers``' ``generate`` keeps every row of a batch until the last one finishes: a row that
has emitted EOS is fed pad tokens and still runs through every layer, and its key-value cache
still grows. When a few answers run to ``max_new_tokens`` and the rest stop early (the usual case
in an evaluation), most of the batch's compute goes to finished rows. Here a finished row leaves
the batch (its input, attention mask, positions and cache rows are dropped), so each step costs
only the rows still running, and the loop ends as soon as no row is left.

The arithmetic per row is ``generate``'s: the prompt runs once with the cache on; at step t each
running row is fed its token ``y_{t-1}`` at position ``p_{t-1} + 1`` (positions count real tokens
only, ``p = cumsum(mask) - 1``), attending to its real prompt tokens and its own earlier outputs;
``y_t = argmax_v logits_t[v]`` (fp32 argmax, ties to the lowest id, as ``generate``'s greedy
path). Rows never see each other, so only float rounding can depend on which rows share a batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# Generation-config fields that make ``generate`` change greedy logits (logits processors); a model
# whose config sets any of them away from the default is decoded by ``generate`` itself.
PROCESSOR_FIELDS = ("repetition_penalty", "encoder_repetition_penalty", "no_repeat_ngram_size",
                    "encoder_no_repeat_ngram_size", "bad_words_ids", "suppress_tokens", "begin_suppress_tokens",
                    "forced_bos_token_id", "forced_eos_token_id", "min_length", "min_new_tokens", "sequence_bias",
                    "exponential_decay_length_penalty", "renormalize_logits", "guidance_scale",
                    "watermarking_config", "logits_processor")


@dataclass
class DecodeCount:
    """What one decoding did: ``row_steps`` sums, over forward passes after the prompt, the rows
    that ran (the compute actually spent); ``new_tokens`` counts tokens kept (EOS included);
    ``at_limit`` the rows stopped by ``max_new_tokens`` without EOS; ``steps`` the passes;
    ``prompt_tokens`` and ``prompt_padding`` the real and padding positions of the prompt batches."""

    rows: int = 0
    new_tokens: int = 0
    row_steps: int = 0
    at_limit: int = 0
    steps: int = 0
    prompt_tokens: int = 0
    prompt_padding: int = 0

    def add(self, other: DecodeCount) -> None:
        for name in ("rows", "new_tokens", "row_steps", "at_limit", "steps", "prompt_tokens", "prompt_padding"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def retiring_supported(model) -> bool:
    """Whether ``model`` decodes greedily as a plain ``transformers`` causal LM: a ``PreTrainedModel``
    whose ``generate`` is the library's own (wrappers such as a LoRA ``PeftModel``, a combined-logits
    or guarded model define their own) and whose generation config adds no logits processor."""
    from transformers import GenerationConfig, PreTrainedModel
    from transformers.generation.utils import GenerationMixin

    if not isinstance(model, PreTrainedModel) or type(model).generate is not GenerationMixin.generate:
        return False
    config, default = getattr(model, "generation_config", None) or GenerationConfig(), GenerationConfig()
    return all(getattr(config, name, None) == getattr(default, name, None) for name in PROCESSOR_FIELDS)


@torch.no_grad()
def greedy_retiring(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, max_new_tokens: int,
                    eos_token_id: int | None) -> tuple[list[list[int]], DecodeCount]:
    """New token ids per row (ending with EOS where one was produced; at most ``max_new_tokens``)
    of the left-padded batch ``input_ids``/``attention_mask``, and what the decoding did."""
    from transformers import DynamicCache

    rows = input_ids.shape[0]
    count = DecodeCount(rows=rows)
    outputs: list[list[int]] = [[] for _ in range(rows)]
    if rows == 0 or max_new_tokens < 1:
        return outputs, count
    mask = attention_mask.long()
    positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)
    cache = DynamicCache(config=model.config)
    logits = model(input_ids=input_ids, attention_mask=mask, position_ids=positions, cache=cache, use_cache=True,
                   logits_to_keep=1).logits[:, -1]
    running = torch.arange(rows, device=input_ids.device)
    last = positions[:, -1]
    for step in range(max_new_tokens):
        tokens = logits.float().argmax(-1)
        for row, token in zip(running.tolist(), tokens.tolist()):
            outputs[row].append(token)
        keep = tokens != eos_token_id if eos_token_id is not None else torch.ones_like(tokens, dtype=torch.bool)
        if step == max_new_tokens - 1:
            count.at_limit += int(keep.sum())
            break
        if not keep.any():
            break
        if not keep.all():
            kept = keep.nonzero().squeeze(-1)
            cache.batch_select_indices(kept)
            running, tokens, mask, last = running[kept], tokens[kept], mask[kept], last[kept]
        mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=-1)
        last = last + 1
        logits = model(input_ids=tokens.unsqueeze(-1), attention_mask=mask, position_ids=last.unsqueeze(-1),
                       cache=cache, use_cache=True).logits[:, -1]
        count.row_steps += len(running)
        count.steps += 1
    count.new_tokens = sum(len(o) for o in outputs)
    return outputs, count
