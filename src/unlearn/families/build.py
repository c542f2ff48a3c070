"""Run a method of another family (``FAMILY_METHODS``): check its data, build it, write its summary."""

from __future__ import annotations

import time

import torch

from unlearn.data.benchmark import Benchmark
from unlearn.data.formatting import check_trainable, is_text_split
from unlearn.errors import UserError
from unlearn.families import FamilyMethod
from unlearn.files import atomic_write_json
from unlearn.training.forget_settings import ForgetSettings, check_settings
from unlearn.training.run_folder import record_run_settings


def _check_data(chosen: FamilyMethod, settings: ForgetSettings) -> None:
    """A method of another family reads question-answer records (or text, for the weight-based ones)."""
    check_settings(settings)
    benchmark = Benchmark(settings.data, answer_field=settings.answer_field)
    for split in (settings.forget, settings.retain if chosen.needs_retain else None):
        if split:
            records = benchmark.split(split)
            check_trainable(records, split)
            if chosen.questions_only and is_text_split(records):
                raise UserError(f"method {chosen.name} puts questions and answers in the prompt, so it needs "
                                f"question-answer records; split '{split}' holds raw text")


def build_family_method(chosen: FamilyMethod, settings: ForgetSettings, out, recorded: dict, started: float) -> dict:
    _check_data(chosen, settings)
    if settings.threads:
        torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    record_run_settings(out, recorded)
    summary = {"method": chosen.name, "family": chosen.family, "inference_cost": chosen.inference_cost,
               "forget_split": settings.forget, "retain_split": settings.retain if chosen.needs_retain else None,
               **chosen.build(settings, settings.args_of(chosen.name), out),
               "total_seconds": round(time.time() - started, 1)}
    atomic_write_json(out / "train_summary.json", summary)
    return summary
