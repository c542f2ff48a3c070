"""Steps every training command shares: model preparation, a resumable ``train()``, saving and cleanup."""

from __future__ import annotations

from typing import TYPE_CHECKING

import math
import shutil
from collections.abc import Callable
from pathlib import Path

import torch
from transformers import TrainerCallback

from unlearn.data.formatting import PromptFormat
from unlearn.errors import UserError
from unlearn.files import STORAGE_ERRORS
from unlearn.models.loading import fit_to_context, load_model, save_model
from unlearn.models.lora import apply_lora, full_weights
from unlearn.models.unlearned import with_trainable
from unlearn.training.sharding import gathered_weights

if TYPE_CHECKING:
    from unlearn.training.finetune_settings import FinetuneSettings
    from unlearn.training.forget_settings import ForgetSettings


def prepare_model(settings: ForgetSettings | FinetuneSettings):
    """Threads, seed and subnormal flushing, then ``(model, tokenizer, prompt format, max length)``, LoRA
    applied if asked.

    The max length is ``settings.max_length`` capped at the model's context. Subnormal floats (below fp32's
    smallest normal, 1.2e-38) are flushed to zero on the CPU for the rest of the process: a saturated loss
    term (NPO's log-sigmoid far out) sends subnormal gradients through the whole backward pass, and x86
    CPUs compute on them tens of times slower (37x a pass of the default model, ``benchmarks/subnormal_step.py``);
    at that size they change no sum of normal numbers."""
    if settings.threads:
        torch.set_num_threads(settings.threads)
    torch.set_flush_denormal(True)  # CPU only; False (and nothing changes) where the CPU cannot
    torch.manual_seed(settings.seed)
    model, tokenizer = load_model(settings.model, settings.dtype, settings.device, settings.trust_remote_code,
                                  settings.allow_pickle)
    # an adapter folder: with --lora its adapter trains further; without, it is merged and every weight trains
    # a manifest model (two models combined, a prompted model) trains its main part only
    model = with_trainable(model, (lambda part: apply_lora(part, settings.lora_r, settings.lora_alpha,
                                                           settings.lora_dropout)) if settings.lora else full_weights)
    fmt = PromptFormat.for_tokenizer(tokenizer, settings.prompt_template, settings.plain_template)
    return model, tokenizer, fmt, fit_to_context(settings.max_length, model)


def train(trainer, checkpoint_dir: Path, resume: bool, callbacks: list | None = None):
    """``trainer.train()``, from the last complete checkpoint in ``checkpoint_dir`` when ``resume``;
    a non-finite gradient stops it before the optimizer step."""
    for callback in [*(callbacks or []), LogEveryEpoch(), StopOnNonFiniteGradient()]:
        trainer.add_callback(callback)
    checkpoint = last_complete_checkpoint(checkpoint_dir) if resume else None
    try:
        return trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    except OSError as error:  # a checkpoint that cannot be written: full disk, permissions
        if error.errno not in STORAGE_ERRORS:
            raise
        raise UserError(f"training stopped: cannot write {error.filename or checkpoint_dir}: {error.strerror}; "
                        "the last complete checkpoint is kept for --resume") from error


def save_trained(trainer, out: Path, before_saving: Callable | None = None) -> bool:
    """Save the trained model into ``out`` in Hugging Face format; every process takes part in gathering
    sharded weights (FSDP, ZeRO-3), the main one writes. ``before_saving(model) -> model`` (a LoRA merge)
    runs on the main process only. Returns whether this process is the main one."""
    full_weights = gathered_weights(trainer)
    if not trainer.is_world_process_zero():
        return False
    if before_saving is not None:
        trainer.model = before_saving(trainer.model)
    save_model(trainer.model, trainer.processing_class, out, full_weights)
    return True


def remove_unless_kept(folder: Path, keep: bool) -> None:
    """Delete an intermediate folder (checkpoints, a reinforced model) unless the user keeps it."""
    if not keep:
        shutil.rmtree(folder, ignore_errors=True)


def last_complete_checkpoint(checkpoint_dir: Path) -> Path | None:
    """The newest ``checkpoint-N`` whose save finished, or None.

    The Trainer writes ``trainer_state.json`` last: a folder without it was cut off mid-save
    (a kill, a full disk) and is skipped, where the Trainer's own choice would take it."""
    complete = [p for p in Path(checkpoint_dir).glob("checkpoint-*")
                if p.name.removeprefix("checkpoint-").isdigit() and (p / "trainer_state.json").is_file()]
    return max(complete, key=lambda p: int(p.name.removeprefix("checkpoint-")), default=None)


class LogEveryEpoch(TrainerCallback):
    """Logs the loss at the end of every epoch, before its checkpoint is saved: the log history
    stored in each checkpoint then accounts for every step before it (see ``mean_logged_loss``)."""

    def on_epoch_end(self, args, state, control, **kwargs):
        control.should_log = True


def mean_logged_loss(log_history: list[dict]) -> float:
    """Mean loss over all optimizer steps, from the logged losses (each the mean since the previous log).

    The Trainer's own ``training_loss`` covers only the steps run since the last (re)start; the log
    history comes back with the checkpoint, so a resumed run reports the same mean as an
    uninterrupted one. Needs a log at the last step and at every checkpoint (``LogEveryEpoch``)."""
    total, logged = 0.0, 0
    for entry in log_history:
        if "loss" in entry:
            total += entry["loss"] * (entry["step"] - logged)
            logged = entry["step"]
    return total / logged if logged else math.nan


class NonFiniteLoss(UserError):
    """The loss or a gradient became NaN or infinite."""


class StopOnNonFiniteGradient(TrainerCallback):
    """Checks the gradient norm before each optimizer step: a finite loss can still give NaN
    gradients (an overflow in the backward pass), and one such step would ruin every weight."""

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        if args.fp16:  # fp16's loss scaler meets inf gradients by design: it skips the step and lowers the scale
            return
        gradients = [p.grad for p in model.parameters() if p.grad is not None]
        norm = torch.nn.utils.get_total_norm(gradients) if gradients else torch.tensor(0.0)
        if not torch.isfinite(norm):
            raise NonFiniteLoss(f"gradient norm became {norm.item()} at step {state.global_step + 1}; stopped before "
                                f"the optimizer step; the last good checkpoint is kept in {args.output_dir}")
