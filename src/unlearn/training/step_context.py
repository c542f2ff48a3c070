"""Everything an objective term may ask for during one training step, computed at most once."""

from __future__ import annotations

import torch

from unlearn.objectives.sequence import answer_lengths, sequence_logprob


class StepContext:
    """Lazy, memoized forward passes of the model (and the reference) on a batch's streams."""

    def __init__(self, model, batch: dict, settings, reference=None, cached_logprobs=None,
                 hidden_layer: int | None = None, steering_target: torch.Tensor | None = None):
        self.model = model
        self.batch = batch
        self.settings = settings
        self.reference = reference
        self.cached_logprobs = cached_logprobs or {}
        self.hidden_layer = hidden_layer
        self.steering_target = steering_target
        self._outputs: dict[str, object] = {}
        self._reference_outputs: dict[str, object] = {}

    def _output(self, stream: str):
        if stream not in self._outputs:
            inputs = self.batch[stream]
            self._outputs[stream] = self.model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                                               output_hidden_states=self.hidden_layer is not None)
        return self._outputs[stream]

    def _reference_output(self, stream: str):
        if stream not in self._reference_outputs:
            self._reference_outputs[stream] = self.reference(self.batch[stream],
                                                             hidden_states=self.hidden_layer is not None)
        return self._reference_outputs[stream]

    def logits(self, stream: str) -> torch.Tensor:
        return self._output(stream).logits

    def logits_labels(self, stream: str) -> tuple[torch.Tensor, torch.Tensor]:
        return self.logits(stream), self.batch[stream]["labels"]

    def logprob(self, stream: str) -> torch.Tensor:
        return sequence_logprob(self.logits(stream), self.batch[stream]["labels"])

    def lengths(self, stream: str) -> torch.Tensor:
        return answer_lengths(self.batch[stream]["labels"])

    def reference_logprob(self, stream: str) -> torch.Tensor:
        values = self.cached_logprobs[stream][self.batch["index"].cpu()]
        return values.to(self.batch[stream]["input_ids"].device)

    def reference_logits(self, stream: str) -> torch.Tensor:
        return self._reference_output(stream).logits

    def hidden(self, stream: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Output of decoder layer ``hidden_layer`` (``hidden_states[layer + 1]``) and the attention mask."""
        return self._output(stream).hidden_states[self.hidden_layer + 1], self.batch[stream]["attention_mask"]

    def reference_hidden(self, stream: str) -> tuple[torch.Tensor, torch.Tensor]:
        output = self._reference_output(stream)
        return output.hidden_states[self.hidden_layer + 1], self.batch[stream]["attention_mask"]

    def rmu_target(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.steering_target.to(hidden.device, hidden.dtype).expand_as(hidden)
