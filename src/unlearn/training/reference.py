"""What the reference model contributes, at the least cost that is exact.

NPO and DPO only need ``log p_ref(y|x)`` per forget example: it is computed once, before
training, and kept as numbers (no second model in memory). KL, UNDIAL and RMU need the
reference's full outputs at every step: they keep a frozen model, which for a LoRA run is
the base model itself with the adapter switched off (no copy at all).

Both are the model before unlearning (unless ``--reference`` names another): the cache is taken
from the model as loaded, before the first step. Switching the adapter off gives that model only
when the adapter is the one this run added (zero at the start): a model loaded from an adapter
folder is base + that adapter, so with ``--lora`` (which trains the loaded adapter further) its
reference is a frozen copy, and without ``--lora`` the adapter is merged into the weights first
(``models.lora.full_weights``) and copied like any full model.
"""

from __future__ import annotations

import contextlib
import copy

import torch
from tqdm.auto import tqdm

from unlearn.models.loading import load_model
from unlearn.models.lora import disabling_gives_start
from unlearn.models.modes import evaluating
from unlearn.objectives import per_token
from unlearn.objectives.registry import Method
from unlearn.objectives.sequence import ANSWER, position_mask
from unlearn.training.chunked_logits import output_head
from unlearn.training.forget_settings import ForgetSettings


class FrozenReference:
    """A frozen model to query without gradients: a separate model, or a LoRA model's base."""

    def __init__(self, model, adapter_host=None):
        self.model = model
        self.adapter_host = adapter_host  # a peft model whose adapter is disabled while we query it

    @classmethod
    def copy_of(cls, model) -> FrozenReference:
        """``model`` as it is now, frozen: the model itself with its adapter off when that adapter was
        added by this run (still zero), otherwise a frozen deep copy (a loaded adapter included)."""
        if disabling_gives_start(model):
            return cls(model, adapter_host=model)
        frozen = copy.deepcopy(model).eval()
        for parameter in frozen.parameters():
            parameter.requires_grad_(False)
        return cls(frozen)

    @classmethod
    def separate(cls, model) -> FrozenReference:
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        return cls(model.eval())

    def _as_reference(self):
        return self.adapter_host.disable_adapter() if self.adapter_host is not None else contextlib.nullcontext()

    @torch.no_grad()
    def __call__(self, stream: dict, hidden_states: bool = False, logits_to_keep=0):
        with self._as_reference():
            return self.model(input_ids=stream["input_ids"], attention_mask=stream["attention_mask"],
                              output_hidden_states=hidden_states, logits_to_keep=logits_to_keep)

    @torch.no_grad()
    def project(self, hidden: torch.Tensor) -> torch.Tensor:
        """The frozen model's logits from its final hidden states (its output embeddings)."""
        with self._as_reference():
            return output_head(self.model)(hidden)


@torch.no_grad()
def cache_sequence_logprobs(forward, dataset, streams: tuple[str, ...], collator, batch_size: int,
                            device: torch.device) -> dict[str, torch.Tensor]:
    """``{stream: tensor[N]}`` of summed answer log-probabilities under ``forward`` for every item."""
    cache = {stream: torch.zeros(len(dataset), dtype=torch.float32) for stream in streams}
    starts = range(0, len(dataset), batch_size)
    for start in tqdm(starts, desc="reference log-probs", unit="batch"):
        batch = collator([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
        for stream in streams:
            inputs = {k: v.to(device) for k, v in batch[stream].items()}
            mask, targets = position_mask(ANSWER, inputs["labels"], inputs["attention_mask"])
            logp = per_token.logprob(forward(inputs, mask).logits, targets[mask])  # logits of answer positions only
            rows = mask.nonzero()[:, 0]
            sums = torch.zeros(mask.shape[0], device=logp.device).index_add(0, rows, logp.float())
            cache[stream][batch["index"]] = sums.cpu()
    return cache


def model_forward(model):
    """``forward(stream, logits_to_keep) -> output`` of ``model`` in eval mode (dropout off) for the cache."""

    def forward(stream, logits_to_keep=0):
        with evaluating(model):
            return model(input_ids=stream["input_ids"], attention_mask=stream["attention_mask"],
                         logits_to_keep=logits_to_keep)

    return forward


def prepare_reference(method: Method, model, dataset, collator, device, settings: ForgetSettings):
    """A frozen model only when a term needs full outputs; otherwise cached log-probs only.

    Both come from ``settings.reference`` when given, else from ``model`` as it is before the first
    step, the model being unlearned: with a fresh ``--lora`` adapter the frozen model is ``model``
    with that adapter off; a model that carries a loaded adapter (an adapter folder trained with
    ``--lora``) is copied, adapter included (see ``FrozenReference.copy_of``). The trainer keeps
    both (``trainer.reference``, ``trainer.cached_logprobs``)."""
    separate = None
    frozen = method.needs_frozen_model or (method.forget.name == "RMU"
                                           and settings.args_of("RMU").adaptive_beta is not None)
    if settings.reference and (frozen or method.reference_logprob_streams):
        separate, _ = load_model(settings.reference, settings.dtype, settings.device, settings.trust_remote_code,
                                 settings.allow_pickle)
    reference = None
    if frozen:
        reference = FrozenReference.separate(separate) if separate is not None else FrozenReference.copy_of(model)
    cached = None
    if method.reference_logprob_streams:
        forward = model_forward(separate) if separate is not None else model_forward(model)
        cached = cache_sequence_logprobs(forward, dataset, method.reference_logprob_streams, collator,
                                         settings.batch_size, device)
    return reference, cached  # a separate model used only for numbers is freed on return
