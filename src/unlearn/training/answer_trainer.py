"""Supervised fine-tuning whose loss projects only the answer positions onto the vocabulary.

``transformers.Trainer`` computes the causal-LM loss from the logits of every position, prompt and
padding included. The loss is the same sum over answer tokens, so here it is computed from the
answer positions alone, ``loss_chunk_tokens`` at a time (``StepContext``), with the Trainer's own
normalization: the summed NLL divided by ``num_items_in_batch`` (the answer tokens of the whole
accumulated batch) when the Trainer passes it, else the batch's token mean.
"""

from __future__ import annotations

from transformers import Trainer

from unlearn.objectives import per_token
from unlearn.training.step_context import StepContext


class AnswerLossTrainer(Trainer):
    def __init__(self, *args, chunk_tokens: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self.chunk_tokens = chunk_tokens

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if return_outputs:  # evaluation asking for logits: the Trainer's own path
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        chunk = 0 if self.is_fsdp_enabled or self.is_deepspeed_enabled else self.chunk_tokens
        logp, mask = StepContext(model, {"batch": inputs}, None, chunk_tokens=chunk).token_values(
            "batch", per_token.logprob)
        if num_items_in_batch is None or not self.model_accepts_loss_kwargs:
            return -(logp * mask).sum() / mask.sum().clamp(min=1)
        loss = -(logp * mask).sum() / num_items_in_batch
        if self.args.average_tokens_across_devices:  # as Trainer.compute_loss: the count is global
            loss = loss * self.accelerator.num_processes
        return loss
