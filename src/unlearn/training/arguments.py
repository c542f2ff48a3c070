"""``TrainingArguments`` from our settings: one place for precision, schedule and checkpoints."""

from __future__ import annotations

from typing import TYPE_CHECKING

import logging
import math

import torch

if TYPE_CHECKING:
    from unlearn.training.finetune_settings import FinetuneSettings
    from unlearn.training.forget_settings import ForgetSettings


log = logging.getLogger(__name__)


def training_arguments(settings: ForgetSettings | FinetuneSettings, model, examples: int, output_dir):
    """``warmup_epochs`` of linear warmup, then a linear decay or a constant rate (``lr_schedule``),
    AdamW (torch's or bitsandbytes' 8-bit, ``optim``), a checkpoint per epoch (last one kept)."""
    from transformers import TrainingArguments

    parameter = next(model.parameters())
    use_cpu = parameter.device.type == "cpu"
    args = TrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=settings.epochs,
        learning_rate=settings.learning_rate,
        per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation_steps,
        weight_decay=settings.weight_decay,
        lr_scheduler_type="linear" if settings.lr_schedule == "linear" else "constant_with_warmup",
        optim=settings.optim,
        logging_steps=settings.logging_steps,
        save_strategy="epoch" if settings.save_checkpoints else "no",
        save_total_limit=1,
        report_to=settings.report_to,
        seed=settings.seed,
        data_seed=settings.seed,
        use_cpu=use_cpu,
        bf16=parameter.dtype == torch.bfloat16 and not use_cpu,
        fp16=parameter.dtype == torch.float16 and not use_cpu,
        activation_checkpointing=settings.gradient_checkpointing,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        disable_tqdm=False,
    )
    batches_per_epoch = math.ceil(examples / (settings.batch_size * args.world_size))
    updates_per_epoch = math.ceil(batches_per_epoch / settings.gradient_accumulation_steps)
    args.warmup_steps = int(round(settings.warmup_epochs * updates_per_epoch))
    total = math.ceil(settings.epochs * updates_per_epoch)
    if args.warmup_steps >= total:
        log.warning("all %d optimizer steps are in the learning-rate warmup (%d steps, warmup_epochs %s): the "
                    "first step has learning rate 0 and the rate never reaches %s; lower warmup_epochs or train "
                    "longer", total, args.warmup_steps, settings.warmup_epochs, settings.learning_rate)
    return args
