"""``unlearn forget``: run an unlearning method on a model and save the result.

Order of work: validate every setting and the data (fast, before any model loads), load the
model, build the data streams the method reads, compute what the reference contributes
(cached log-probs or a frozen model), train with ``UnlearningTrainer``, save. With a curve (``--curve.*``,
``--select``) the training is evaluated as it goes and the model saved is the checkpoint the rule chose
(``evaluation/during_training.py``, ``selected_weights.py``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from unlearn.data.benchmark import Benchmark
from unlearn.data.formatting import is_text_split
from unlearn.data.pairing import PairCollator
from unlearn.data.refusals import load_refusals
from unlearn.errors import UserError
from unlearn.families import FAMILY_METHODS, ONE_MODEL
from unlearn.families.build import build_family_method
from unlearn.families.saliency import saliency_callback
from unlearn.files import atomic_write_json
from unlearn.objectives.registry import Method, default_weights
from unlearn.selection.curve import Checkpoint
from unlearn.training.arguments import training_arguments
from unlearn.training.common import mean_logged_loss, prepare_model, remove_unless_kept, save_trained, train
from unlearn.training.forget_settings import ForgetSettings, check_settings
from unlearn.training.reference import prepare_reference
from unlearn.training.rmu_setup import prepare_rmu
from unlearn.training.run_folder import check_run_folder, record_run_settings
from unlearn.training.sharding import check_sharding, shard_reference
from unlearn.training.streams import build_streams, check_record_kinds, warn_overlap
from unlearn.training.unlearn_trainer import UnlearningTrainer


def forget(settings: ForgetSettings, callbacks: list | None = None,
           on_checkpoint: Callable[[Checkpoint], None] | None = None) -> dict:
    """Unlearn, save the model into ``settings.out`` and return the summary written beside it.

    With the evaluation during training on (``curve`` or ``select``), ``on_checkpoint(checkpoint)`` is
    called after each point of the curve is recorded in ``trajectory.json``; an exception it raises (a
    pruned trial) ends the run and comes out of this function unchanged."""
    started = time.time()
    recorded = run_settings(settings)
    out = check_run_folder(settings.out, recorded, settings.overwrite)
    if settings.method in FAMILY_METHODS:
        return build_family_method(FAMILY_METHODS[settings.method], settings, out, recorded, started)
    if on_checkpoint is not None and settings.curve_settings is None:
        raise UserError("on_checkpoint is called at the points of the evaluation during training: turn it on "
                        "(curve={...} or select=RULE)")
    plan = curve_plan(settings)  # before the model loads: a bad split fails now
    trainer, method, weights = build_trainer(settings, out / "checkpoints")
    record_run_settings(out, recorded)
    curve = training_curve(trainer, plan, settings, out, recorded, on_checkpoint) if plan else None
    result = train(trainer, out / "checkpoints", settings.resume, [*(callbacks or []), *([curve] if curve else [])])
    if curve is None:
        main, selection = save_trained(trainer, out), None
    else:
        main, selection = curve.weights.finish(trainer, out, curve.selection)
    if not main:
        return {}
    summary = {
        "method": method.name,
        "inference_cost": ONE_MODEL,
        "forget_split": settings.forget,
        "retain_split": settings.retain if method.needs_retain else None,
        "forget_examples": len(trainer.train_dataset),
        "forget_weight": weights[0],
        "regularizer_weight": weights[1] if method.regularizer else None,
        "primal_dual": _dual_summary(settings.args_of("dual"), trainer) if settings.dual_bound is not None else None,
        "mask": f"saliency, {settings.args_of('saliency').ratio:g} of the weights" if settings.mask != "none"
        else None,
        "optimizer_steps": result.global_step,
        "train_loss": mean_logged_loss(trainer.state.log_history),
        "train_seconds": round(result.metrics.get("train_runtime", math.nan), 1),
        "total_seconds": round(time.time() - started, 1),
    }
    if curve is not None:
        summary["curve_points"] = len(curve.points)
        summary["selection"] = selection
    atomic_write_json(out / "train_summary.json", summary)
    remove_unless_kept(out / "checkpoints", settings.keep_checkpoints)
    return summary


def run_settings(settings: ForgetSettings) -> dict:
    """The settings recorded in the run's folder; the curve's and selection's only where given, so a
    folder written before they existed still matches its rerun."""
    unset = {name for name in ("curve", "select", "select_args") if not getattr(settings, name)}
    return settings.model_dump(exclude={"overwrite", "resume"} | unset)


def curve_plan(settings: ForgetSettings):
    """What the evaluation during training scores (None when it is off)."""
    if settings.curve_settings is None:
        return None
    from unlearn.evaluation.curve_eval import plan_curve

    return plan_curve(settings, settings.curve_settings)


def training_curve(trainer, plan, settings: ForgetSettings, out, recorded: dict, on_checkpoint):
    """The callback that evaluates during training, chooses the checkpoint and keeps its weights."""
    from unlearn.evaluation.during_training import TrainingCurve

    return TrainingCurve(trainer, plan, settings.curve_settings, out, recorded, settings.select,
                         settings.select_settings, on_checkpoint)


def build_trainer(settings: ForgetSettings, checkpoint_dir) -> tuple[UnlearningTrainer, Method, tuple[float, float]]:
    """Everything up to ``train()``: checks, data, model, reference, trainer (benchmarks reuse it)."""
    method = check_settings(settings)
    refusals = load_refusals(settings.refusals) if method.needs_refusals else None
    benchmark = Benchmark(settings.data, answer_field=settings.answer_field)
    forget_records = benchmark.split(settings.forget)
    retain_records = benchmark.split(settings.retain) if method.needs_retain else None
    check_record_kinds(method, forget_records, retain_records, settings)
    if retain_records is not None and not is_text_split(forget_records) and not is_text_split(retain_records):
        warn_overlap(forget_records, retain_records, settings)
    weights = _weights(settings, method)
    model, tokenizer, fmt, max_length = prepare_model(settings)
    hidden_layer = steering_direction = None
    if method.forget.name == "RMU":
        hidden_layer, steering_direction = prepare_rmu(model, settings)
    dataset = build_streams(method, forget_records, retain_records, refusals, tokenizer, fmt, max_length, settings)
    collator = PairCollator(tokenizer.pad_token_id)
    device = next(model.parameters()).device

    reference, cached = prepare_reference(method, model, dataset, collator, device, settings)
    masked = saliency_callback(model, dataset, collator, settings)
    args = training_arguments(settings, model, len(dataset), checkpoint_dir)
    trainer = UnlearningTrainer(
        model=model, args=args, train_dataset=dataset, data_collator=collator, processing_class=tokenizer,
        method=method, settings=settings, forget_weight=weights[0], regularizer_weight=weights[1],
        reference=reference, cached_logprobs=cached, hidden_layer=hidden_layer,
        steering_direction=steering_direction,
        callbacks=[masked] if masked else None)
    check_sharding(trainer)
    shard_reference(reference, trainer.accelerator)
    return trainer, method, weights


def _dual_summary(dual, trainer) -> dict:
    return {"epsilon": dual.epsilon, "dual_step": dual.step, "dual_warmup_epochs": dual.warmup_epochs,
            "final_multiplier": round(trainer.regularizer_weight, 6)}


def _weights(settings: ForgetSettings, method: Method) -> tuple[float, float]:
    default_a, default_b = default_weights(method)
    a = default_a if settings.forget_weight is None else settings.forget_weight
    b = default_b if settings.regularizer_weight is None else settings.regularizer_weight
    return a, b


