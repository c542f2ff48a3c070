"""Everything an objective term may ask for during one training step, computed at most once.

Answer-scored terms (NLL, GA, NPO, KL, UNDIAL, ...) read logits only where a label is scored:
the model's own forward is asked for those positions alone (``logits_to_keep``, see
``sequence.scored_positions``), so the vocabulary projection, its log-softmax and its gradient
cover the answer tokens instead of the whole padded batch. Terms that read every position (ME)
ask for ``full_logits``; terms that read activations only (RMU) project a single position.
"""

from __future__ import annotations

import torch

from unlearn.objectives.losses import adaptive_steering_coefficient
from unlearn.objectives.sequence import answer_lengths, scored_positions, sequence_logprob

FULL, ANSWER, HIDDEN_ONLY = "full", "answer", "hidden"


class StepContext:
    """Lazy, memoized forward passes of the model (and the reference) on a batch's streams."""

    def __init__(self, model, batch: dict, settings, reference=None, cached_logprobs=None,
                 hidden_layer: int | None = None, steering_direction: torch.Tensor | None = None):
        self.model = model
        self.batch = batch
        self.settings = settings
        self.reference = reference
        self.cached_logprobs = cached_logprobs or {}
        self.hidden_layer = hidden_layer
        self.steering_direction = steering_direction
        self._outputs: dict[tuple[str, str], object] = {}
        self._reference_outputs: dict[tuple[str, str], object] = {}
        self._positions: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def _scored(self, stream: str) -> tuple[torch.Tensor, torch.Tensor]:
        if stream not in self._positions:
            self._positions[stream] = scored_positions(self.batch[stream]["labels"])
        return self._positions[stream]

    def _keep(self, stream: str, scope: str):
        return {FULL: 0, ANSWER: self._scored(stream)[0], HIDDEN_ONLY: 1}[scope]

    def _output(self, stream: str, scope: str):
        if (stream, scope) not in self._outputs:
            inputs = self.batch[stream]
            self._outputs[stream, scope] = self.model(
                input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                output_hidden_states=self.hidden_layer is not None, logits_to_keep=self._keep(stream, scope))
        return self._outputs[stream, scope]

    def _reference_output(self, stream: str, scope: str):
        if (stream, scope) not in self._reference_outputs:
            self._reference_outputs[stream, scope] = self.reference(
                self.batch[stream], hidden_states=self.hidden_layer is not None,
                logits_to_keep=self._keep(stream, scope))
        return self._reference_outputs[stream, scope]

    def release(self, streams) -> None:
        """Drop the outputs of ``streams`` (after their loss was back-propagated)."""
        for store in (self._outputs, self._reference_outputs):
            for key in [k for k in store if k[0] in streams]:
                del store[key]

    def full_logits(self, stream: str) -> torch.Tensor:
        """Logits at every position, [B, L, V]."""
        return self._output(stream, FULL).logits

    def logits_labels(self, stream: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits at the scored positions and their compact labels: every answer-scored loss gives on
        these what it gives on the full logits and labels."""
        return self._output(stream, ANSWER).logits, self._scored(stream)[1]

    def reference_logits(self, stream: str) -> torch.Tensor:
        """The frozen model's logits at the same positions as ``logits_labels``."""
        return self._reference_output(stream, ANSWER).logits

    def logprob(self, stream: str) -> torch.Tensor:
        return sequence_logprob(*self.logits_labels(stream))

    def lengths(self, stream: str) -> torch.Tensor:
        return answer_lengths(self.batch[stream]["labels"])

    def reference_logprob(self, stream: str) -> torch.Tensor:
        values = self.cached_logprobs[stream][self.batch["index"].cpu()]
        return values.to(self.batch[stream]["input_ids"].device)

    def hidden(self, stream: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Output of decoder layer ``hidden_layer`` (``hidden_states[layer + 1]``) and the attention mask."""
        hidden_states = self._output(stream, HIDDEN_ONLY).hidden_states
        return hidden_states[self.hidden_layer + 1], self.batch[stream]["attention_mask"]

    def reference_hidden(self, stream: str) -> tuple[torch.Tensor, torch.Tensor]:
        output = self._reference_output(stream, HIDDEN_ONLY)
        return output.hidden_states[self.hidden_layer + 1], self.batch[stream]["attention_mask"]

    def rmu_target(self, hidden: torch.Tensor) -> torch.Tensor:
        """``c * u`` at every position: c is ``rmu_steering``, or (adaptive RMU) ``rmu_adaptive_beta``
        times the frozen model's mean activation norm on this forget batch."""
        coefficient = self.settings.rmu_steering
        if self.settings.rmu_adaptive_beta is not None:
            coefficient = adaptive_steering_coefficient(*self.reference_hidden("forget"),
                                                        self.settings.rmu_adaptive_beta)
        return (coefficient * self.steering_direction.to(hidden.device, hidden.dtype)).expand_as(hidden)
