"""The one Trainer: ``transformers.Trainer`` whose loss is ``a * forget_term + b * regularizer``.

Everything else (accumulation, mixed precision, checkpoints, ``report_to``, DDP/FSDP/DeepSpeed
through accelerate) is the Trainer's own. A loss that is not finite stops the run at once (and
``training.common.train`` stops any run whose gradients are not), so the last saved checkpoint
stays the last good one.

The forget term is back-propagated before the regularizer's forward pass (``_backward_early``),
so the activations of the forget streams are freed before those of the retain streams exist:
the gradient is the same sum, the step's activation peak is one stream's instead of both.
"""

from __future__ import annotations

import math

import torch
from accelerate.utils import DistributedType
from transformers import Trainer, TrainerCallback

from unlearn.objectives import losses
from unlearn.training.common import NonFiniteLoss
from unlearn.training.step_context import StepContext


class EpochPairing(TrainerCallback):
    """Tells a forget/retain dataset which epoch starts, so each epoch meets new retain items."""

    def __init__(self, dataset):
        self.dataset = dataset

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.dataset.set_epoch(math.floor(state.epoch + 1e-9))  # fractional when resuming mid-epoch


class UnlearningTrainer(Trainer):
    """``reference`` (a ``FrozenReference`` or None) and ``cached_logprobs`` (``{stream: tensor[N]}``
    by dataset index, or None) are what the reference contributes, as ``reference.prepare_reference``
    made them before training; they stay unchanged on the trainer while it trains."""

    def __init__(self, *args, method, settings, forget_weight: float, regularizer_weight: float,
                 reference=None, cached_logprobs=None, hidden_layer=None, steering_direction=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.model_accepts_loss_kwargs = False  # our loss is a batch mean: let the Trainer scale it for accumulation
        if hasattr(self.train_dataset, "set_epoch"):
            self.add_callback(EpochPairing(self.train_dataset))
        self.method = method
        self.settings = settings
        self.forget_weight = forget_weight
        self.regularizer_weight = regularizer_weight
        self.reference = reference
        self.cached_logprobs = cached_logprobs
        self.hidden_layer = hidden_layer
        self.steering_direction = steering_direction
        self._component_sums = dict.fromkeys(("forget_term", "regularizer") if method.regularizer else
                                             ("forget_term",), 0.0)
        self._component_count = 0

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        context = StepContext(model, inputs, self.settings, self.reference, self.cached_logprobs,
                              self.hidden_layer, self.steering_direction, self._chunk_tokens())
        forget_term = self.method.forget.loss(context)
        loss = self.forget_weight * forget_term
        regularizer = None
        if self.method.regularizer is not None:
            if self._backward_early(model, return_outputs) and torch.isfinite(loss):
                self.accelerator.backward(loss / self.current_gradient_accumulation_steps)
                loss = loss.detach()  # its gradient is in place; the Trainer's backward adds the regularizer's
                context.release(self.method.forget.streams)
            regularizer = self.method.regularizer.loss(context)
            loss = loss + self.regularizer_weight * regularizer
            if self._dual_moves(model):  # PDU: b is a dual variable
                dual = self.settings.args_of("dual")
                self.regularizer_weight = losses.dual_ascent(self.regularizer_weight, regularizer.item(),
                                                             dual.epsilon, dual.step)
        if not torch.isfinite(loss):
            raise NonFiniteLoss(
                f"loss became {loss.item()} at step {self.state.global_step + 1} (method {self.method.name}: "
                f"forget term {forget_term.item():.4g}"
                + (f", regularizer {regularizer.item():.4g}" if regularizer is not None else "")
                + f"); stopped; the last good checkpoint is kept in {self.args.output_dir}")
        self._component_sums["forget_term"] += forget_term.item()
        if regularizer is not None:
            self._component_sums["regularizer"] += regularizer.item()
        self._component_count += 1
        return (loss, {}) if return_outputs else loss

    def _dual_moves(self, model) -> bool:
        """PDU's dual update runs after each training batch once its ``warmup_epochs`` have passed
        (open-unlearning enables it at the end of that epoch, so it starts with the next one)."""
        return (self.settings.dual_bound is not None and model.training
                and (self.state.epoch or 0.0) >= self.settings.args_of("dual").warmup_epochs - 1e-9)

    def _chunk_tokens(self) -> int:
        """``loss_chunk_tokens``, or 0 (the model's own logits) under FSDP and DeepSpeed, whose sharded
        parameters are gathered only inside the model's forward."""
        if self.accelerator.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED):
            return 0
        return self.settings.loss_chunk_tokens

    def _backward_early(self, model, return_outputs: bool) -> bool:
        """Whether the forget term can be back-propagated on its own now: a training step in one
        process (DDP and DeepSpeed expect one backward per forward), streams disjoint from the
        regularizer's (else they would be computed twice)."""
        return (model.training and torch.is_grad_enabled() and not return_outputs
                and self.accelerator.num_processes == 1
                and self.accelerator.distributed_type != DistributedType.DEEPSPEED
                and not set(self.method.forget.streams) & set(self.method.regularizer.streams))

    def log(self, logs: dict, *args, **kwargs) -> None:
        if "loss" in logs and self._component_count:
            for name, total in self._component_sums.items():
                logs[name] = round(total / self._component_count, 4)
            if self.settings.dual_bound is not None:
                logs["dual_multiplier"] = round(self.regularizer_weight, 4)
            self._component_sums = dict.fromkeys(self._component_sums, 0.0)
            self._component_count = 0
        super().log(logs, *args, **kwargs)
