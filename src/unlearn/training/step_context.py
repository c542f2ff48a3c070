"""Everything an objective term may ask for during one training step, computed at most once.

Terms that read logits ask for a ``per_token`` function's values at a set of positions
(``token_values``): the answer positions for NLL, GA, NPO, KL, UNDIAL, ...; every real token for ME.
Only those positions are ever projected onto the vocabulary. With ``chunk_tokens > 0`` the model's
forward stops at the final hidden states and the projection runs ``chunk_tokens`` positions at a
time (``chunked_logits``), so no tensor of all positions' logits exists; with 0 the model's own
forward computes the logits of exactly those positions (``logits_to_keep``), the path kept for
FSDP and DeepSpeed, which gather parameters only inside the model's forward. Terms that read
activations only (RMU) never project more than one position.
"""

from __future__ import annotations

import torch

from unlearn.objectives import per_token
from unlearn.objectives.losses import adaptive_steering_coefficient
from unlearn.objectives.sequence import ANSWER, ATTENDED, answer_lengths, position_mask, to_grid
from unlearn.training.chunked_logits import output_head, project_in_chunks, projects_plainly

HIDDEN = "hidden"  # a forward that keeps every layer's hidden states and projects one position


class StepContext:
    """Lazy, memoized forward passes of the model (and the reference) on a batch's streams."""

    def __init__(self, model, batch: dict, settings, reference=None, cached_logprobs=None,
                 hidden_layer: int | None = None, steering_direction: torch.Tensor | None = None,
                 chunk_tokens: int = 0):
        self.model = model
        self.batch = batch
        self.settings = settings
        self.reference = reference
        self.cached_logprobs = cached_logprobs or {}
        self.hidden_layer = hidden_layer
        self.steering_direction = steering_direction
        self.chunk_tokens = chunk_tokens
        self._outputs: dict[tuple, object] = {}
        self._values: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def _forward(self, stream: str, keep: str, frozen: bool = False):
        """The model's (or with ``frozen`` the reference's) output on ``stream``: with ``keep`` = HIDDEN
        all hidden states and one position's logits, else the logits of that position set (flat, [N, V])."""
        key = (stream, keep, frozen)
        if key not in self._outputs:
            inputs = self.batch[stream]
            hidden = keep == HIDDEN
            to_keep = 1 if hidden else position_mask(keep, inputs["labels"], inputs["attention_mask"])[0]
            if frozen:
                self._outputs[key] = self.reference(inputs, hidden_states=hidden, logits_to_keep=to_keep)
            else:
                self._outputs[key] = self.model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                                                output_hidden_states=hidden, logits_to_keep=to_keep)
        return self._outputs[key]

    def release(self, streams) -> None:
        """Drop the outputs of ``streams`` (after their loss was back-propagated)."""
        for store in (self._outputs, self._values):
            for key in [k for k in store if k[0] in streams]:
                del store[key]

    def _chunked(self, stream: str, frozen: bool) -> bool:
        if self.chunk_tokens <= 0:
            return False
        model = self.reference.model if frozen else self.model
        return projects_plainly(model, lambda: self._forward(stream, HIDDEN, frozen))

    def token_values(self, stream: str, function, where: str = ANSWER,
                     with_reference: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """``function(logits_t, target_t, reference_logits_t)`` at the positions ``where`` of ``stream``,
        as ``(values [B, T], mask [B, T])`` rows (see ``sequence.to_grid``)."""
        key = (stream, function, where, with_reference)
        if key in self._values:
            return self._values[key]
        inputs = self.batch[stream]
        mask, targets = position_mask(where, inputs["labels"], inputs["attention_mask"])
        if self._chunked(stream, False) and (not with_reference or self._chunked(stream, True)):
            hidden = self._forward(stream, HIDDEN).hidden_states[-1][mask]
            reference_hidden = self._forward(stream, HIDDEN, True).hidden_states[-1][mask] if with_reference else None
            values = project_in_chunks(output_head(self.model), function, hidden, targets[mask], self.chunk_tokens,
                                       reference_hidden, self.reference.project if with_reference else None)
        else:
            reference = self._forward(stream, where, True).logits if with_reference else None
            values = function(self._forward(stream, where).logits, targets[mask], reference)
        self._values[key] = to_grid(values, mask)
        return self._values[key]

    def logprob(self, stream: str) -> torch.Tensor:
        """``log p(y|x)`` of each sequence's answer, [B]."""
        values, _ = self.token_values(stream, per_token.logprob)
        return values.sum(-1)

    def lengths(self, stream: str) -> torch.Tensor:
        return answer_lengths(self.batch[stream]["labels"])

    def reference_logprob(self, stream: str) -> torch.Tensor:
        values = self.cached_logprobs[stream][self.batch["index"].cpu()]
        return values.to(self.batch[stream]["input_ids"].device)

    def hidden(self, stream: str, where: str = ATTENDED) -> tuple[torch.Tensor, torch.Tensor]:
        """Output of decoder layer ``hidden_layer`` (``hidden_states[layer + 1]``) and the mask of the
        positions ``where`` (every real token by default)."""
        hidden_states = self._forward(stream, HIDDEN).hidden_states
        return hidden_states[self.hidden_layer + 1], self._positions(stream, where)

    def reference_hidden(self, stream: str, where: str = ATTENDED) -> tuple[torch.Tensor, torch.Tensor]:
        output = self._forward(stream, HIDDEN, True)
        return output.hidden_states[self.hidden_layer + 1], self._positions(stream, where)

    def _positions(self, stream: str, where: str) -> torch.Tensor:
        inputs = self.batch[stream]
        return position_mask(where, inputs["labels"], inputs["attention_mask"])[0]

    def rmu_target(self, hidden: torch.Tensor, steering: float, adaptive_beta: float | None,
                   where: str = ATTENDED) -> torch.Tensor:
        """``c * u`` at every position: c is ``steering``, or (adaptive RMU) ``adaptive_beta`` times the
        frozen model's mean activation norm at the positions ``where`` of this forget batch."""
        coefficient = steering
        if adaptive_beta is not None:
            coefficient = adaptive_steering_coefficient(*self.reference_hidden("forget", where), adaptive_beta)
        return (coefficient * self.steering_direction.to(hidden.device, hidden.dtype)).expand_as(hidden)
