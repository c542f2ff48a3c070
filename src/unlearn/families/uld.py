"""ULD, unlearning from logit difference (Ji et al. 2024).

The objectives are reversed and given to a small assistant: it learns to *remember* the forget
data (NLL on it) and to know nothing of the retain data (its next-token distribution pushed to
uniform, ``KL(U || p)``). At inference the assistant's logits are subtracted from the target's,
``l = l_target - alpha * l_assistant``: what the assistant knows, the forget data, goes down; on
retain data the assistant is uniform, a constant the softmax ignores. The target is never trained.
The assistant is the target's first ``uld_layers`` decoder layers with its final norm and output
layer, trained through a LoRA adapter (merged when saved). A ``logit_combination`` manifest model.

Defaults from the authors' code (UCSB-NLP-Chang/ULD): 8 layers, retain weight 5, alpha 0.8, and
their assistant's training (LoRA r 16, alpha 32, dropout 0.05, lr 1e-3, 10 epochs: the procedure's
``defaults``, used where the user set none; at the toolkit's lr 1e-5 the adapter barely moves).
The paper writes the plain difference; the authors' TOFU scripts subtract only on the target's
plausible tokens (``top_logit_filter=1e-2``, ``models.combined.plausible_tokens``), and decode
among those tokens only. That filter is the default (``uld_top_filter``); 0 gives the paper's form.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from unlearn.data.benchmark import Benchmark
from unlearn.data.pairing import PairCollator
from unlearn.errors import UserError
from unlearn.families import FAMILY_METHODS
from unlearn.families.reinforce import model_source
from unlearn.models.loading import save_model
from unlearn.models.lora import apply_lora
from unlearn.models.unlearned import write_manifest
from unlearn.objectives import losses, per_token
from unlearn.objectives.registry import Method, Term
from unlearn.training.arguments import training_arguments
from unlearn.training.common import mean_logged_loss, prepare_model, remove_unless_kept, train
from unlearn.training.unlearn_trainer import UnlearningTrainer

if TYPE_CHECKING:
    from pathlib import Path

    from unlearn.families import ULDSettings
    from unlearn.training.forget_settings import ForgetSettings


RETAIN_WEIGHT = 5.0  # the authors' weight on the uniform retain term

ASSISTANT = Method(
    "ULD-assistant",
    Term("remember", "forget", ("forget",), lambda c, a: losses.nll(*c.token_values("forget", per_token.logprob)),
         "learn the forget answers"),
    Term("uniform", "regularizer", ("retain",),
         lambda c, a: losses.token_mean(*c.token_values("retain", per_token.kl_from_uniform)),
         "a uniform next-token distribution on retain answers"))


def first_layers(model, count: int):
    """``model`` cut to its first ``count`` decoder layers (final norm and output layer kept)."""
    decoder = model.get_decoder()
    total = len(decoder.layers)
    if not 1 <= count <= total:
        raise UserError(f"ULD layers {count}: the model has {total} decoder layers; choose 1 to {total}")
    decoder.layers = decoder.layers[:count]
    model.config.num_hidden_layers = count
    if getattr(model.config, "layer_types", None):
        model.config.layer_types = model.config.layer_types[:count]
    return model


def build(settings: ForgetSettings, args: ULDSettings, out: Path, name: str) -> dict:
    from unlearn.training.streams import build_streams

    benchmark = Benchmark(settings.data, answer_field=settings.answer_field)
    forget_records, retain_records = benchmark.split(settings.forget), benchmark.split(settings.retain)
    model, tokenizer, fmt, max_length = prepare_model(settings.model_copy(update={"lora": False}))
    assistant = apply_lora(first_layers(model, args.layers), settings.lora_r, settings.lora_alpha,
                           settings.lora_dropout)
    dataset = build_streams(ASSISTANT, forget_records, retain_records, None, tokenizer, fmt, max_length, settings)
    checkpoints = out / "checkpoints"
    trainer = UnlearningTrainer(
        model=assistant, args=training_arguments(settings, assistant, len(dataset), checkpoints),
        train_dataset=dataset, data_collator=PairCollator(tokenizer.pad_token_id), processing_class=tokenizer,
        method=ASSISTANT, settings=settings, forget_weight=1.0, regularizer_weight=RETAIN_WEIGHT)
    result = train(trainer, checkpoints, settings.resume)
    save_model(trainer.model.merge_and_unload(), tokenizer, out / "second")
    remove_unless_kept(checkpoints, settings.keep_checkpoints)
    write_manifest(out, "logit_combination", name, {"main": model_source(settings), "second": "second"},
                   FAMILY_METHODS[name].inference_cost, formula="uld", alpha=args.alpha, top_filter=args.top_filter,
                   assistant_layers=args.layers)
    return {"alpha": args.alpha, "top_filter": args.top_filter, "assistant_layers": args.layers,
            "assistant_training": {"learning_rate": settings.learning_rate, "epochs": settings.epochs,
                                   "lora_r": settings.lora_r, "lora_alpha": settings.lora_alpha,
                                   "lora_dropout": settings.lora_dropout},
            "optimizer_steps": result.global_step,
            "train_loss": mean_logged_loss(trainer.state.log_history)}
