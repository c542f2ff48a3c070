"""``unlearn forget``: run an unlearning method on a model and save the result.

Order of work: validate every setting and the data (fast, before any model loads), load the
model, build the data streams the method reads, compute what the reference contributes
(cached log-probs or a frozen model), train with ``UnlearningTrainer``, save.
"""

from __future__ import annotations

import logging
import math
import random
import shutil
import time
from typing import Literal

import torch
from pydantic import (Field, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, field_validator,
                      model_validator)

from unlearn.data.benchmark import Benchmark
from unlearn.data.formatting import check_trainable, is_text_split, tokenize_split
from unlearn.data.pairing import ForgetRetainDataset, PairCollator
from unlearn.data.refusals import load_refusals
from unlearn.errors import UserError
from unlearn.families import ONE_MODEL, PROCEDURES, Procedure
from unlearn.files import atomic_write_json
from unlearn.models.loading import load_model, resolve_source, save_model
from unlearn.objectives.registry import Method, parse_method
from unlearn.training.arguments import training_arguments
from unlearn.training.common import mean_logged_loss, prepare_model, train
from unlearn.training.reference import FrozenReference, cache_sequence_logprobs, model_forward
from unlearn.training.run_folder import check_run_folder, record_run_settings
from unlearn.training.settings import DataSettings, OptimSettings, TrainableModelSettings
from unlearn.training.sharding import check_sharding, gathered_weights, shard_reference
from unlearn.training.unlearn_trainer import UnlearningTrainer

log = logging.getLogger(__name__)

# (a, b) where the seed paper or the method's authors fix them; (1, 1) otherwise. SatImp: open-unlearning's
# configs/trainer/SatImp.yaml (gamma 0.1 on the forget term, alpha 1 on the retain NLL); PDU: b is the dual
# variable, starting at lambda0 = 100 (the authors' TOFU runs, community/methods/PDU/run.sh).
DEFAULT_WEIGHTS = {"ME+GD": (0.1, 1.0), "RMU": (1.0, 1200.0), "SatImp": (0.1, 1.0), "PDU": (1.0, 100.0)}

# RMU's optimisation as WMDP's rmu/unlearn.py runs it (AdamW at a constant 5e-5, batches of 4, no warmup,
# no weight decay), used for every one of these the user did not set.
RMU_SCHEDULE = {"learning_rate": 5e-5, "batch_size": 4, "gradient_accumulation_steps": 1, "warmup_epochs": 0.0,
                "weight_decay": 0.0, "lr_schedule": "constant"}
# PDU as its authors run it on TOFU (community/methods/PDU/run.sh): 10 epochs, the dual variable fixed for the
# first 5 (configs/trainer/PDU.yaml), used where the user set none.
PDU_SCHEDULE = {"epochs": 10.0}
PDU_DUAL_WARMUP_EPOCHS = 5.0


class ForgetSettings(OptimSettings, DataSettings, TrainableModelSettings):
    """Defaults follow the seed paper: lr 1e-5, 5 epochs, effective batch 32, 1 warmup epoch, beta 0.1;
    RMU's follow WMDP (``RMU_SCHEDULE``) wherever the user set nothing."""

    method: str = Field("ME+GD", description="FORGET[+REGULARIZER], e.g. GA+GD, NPO+KL, IDK+AP, ME+GD, RMU")
    forget: str = Field("forget10", description="split to forget")
    retain: str | None = Field("retain90", description="split the regularizer keeps (none for GA, NPO, ...)")
    out: str = Field(description="output folder: the unlearned model in Hugging Face format")
    gradient_accumulation_steps: PositiveInt = Field(4, description="steps accumulated per optimizer update")
    forget_weight: NonNegativeFloat | None = Field(None, description="a in a*forget + b*regularizer "
                                                                     "(default: 0.1 for ME+GD, else 1)")
    regularizer_weight: NonNegativeFloat | None = Field(None, description="b (default: 1200 for RMU, else 1)")
    beta: PositiveFloat = Field(0.1, description="inverse temperature of NPO, DPO and AP")
    simnpo_beta: PositiveFloat = Field(2.5, description="SimNPO beta")
    simnpo_gamma: float = Field(0.0, description="SimNPO reward margin gamma")
    me_form: Literal["paper", "code"] = Field(
        "paper", description="ME divergence: paper = KL(P||U) on real tokens; code = KL(U||P) on the positions "
                             "whose next token is real (the authors' get_me_loss)")
    wga_alpha: NonNegativeFloat = Field(1.0, description="WGA weight exponent")
    satimp_beta1: NonNegativeFloat = Field(5.0, description="SatImp: exponent of p in the token weight")
    satimp_beta2: NonNegativeFloat = Field(1.0, description="SatImp: exponent of 1 - p in the token weight")
    undial_strength: NonNegativeFloat = Field(10.0, description="UNDIAL: how far the true token's logit is lowered")
    mismatch_weight: NonNegativeFloat = Field(1.0, description="LLMU: weight of the random-mismatch term")
    rmu_layer: NonNegativeInt = Field(7, description="RMU: decoder layer whose output is steered")
    rmu_steering: PositiveFloat = Field(6.5, description="RMU: steering coefficient c")
    rmu_reduction: Literal["sum", "mean"] = Field(
        "sum", description="RMU distance: sum over hidden units (paper) or mean (its code's mse_loss)")
    rmu_params: Literal["down_proj", "mlp"] = Field(
        "down_proj", description="RMU: train mlp.down_proj of layers l-2..l (WMDP's param_ids=[6]) or their whole "
                                 "MLP (gate, up and down)")
    rmu_adaptive_beta: PositiveFloat | None = Field(
        None, description="adaptive RMU: c = beta * the frozen model's mean activation norm at the layer on each "
                          "forget batch (Dang et al. 2024 use beta 5), instead of the fixed --rmu-steering")
    refusals: str | None = Field(None, description="file of refusal phrases, one per line (default: packaged)")
    reference: str | None = Field(None, description="reference model for NPO/DPO/KL/UNDIAL/RMU "
                                                    "(default: the model before unlearning)")
    alpha: PositiveFloat | None = Field(None, description="strength of TaskVector (default 5, MUSE's), WHP and "
                                                          "WHP-decoding (1), ULD (0.8)")
    uld_layers: PositiveInt = Field(8, description="ULD: the assistant is the target's first this many layers")
    uld_top_filter: float = Field(
        1e-2, ge=0.0, lt=1.0, description="ULD: subtract the assistant only on tokens whose target probability is "
                                          "at least this share of the top token's, or in the top this share of the "
                                          "vocabulary (the authors' 1e-2); 0: the paper's plain difference")
    icul_examples: NonNegativeInt = Field(4, description="ICUL: correctly answered retain examples in the context")
    icul_form: Literal["text", "turns"] = Field(
        "text", description="ICUL: the examples as plain-text lines before the question in its user message (the "
                            "paper's prompt) or as earlier chat turns")
    icul_label: Literal["wrong", "refusal"] = Field(
        "wrong", description="ICUL: a forget question's answer in context: another record's (the paper's flipped "
                             "label) or a refusal")
    guard_subjects: list[str] | None = Field(None, description="Guardrail: subjects its system prompt names "
                                                               "(default: the forget records' 'subject')")
    guard_keywords: Literal["subjects", "facts", "none"] = Field(
        "subjects", description="Guardrail filter: refuse answers naming the subjects, the records' facts, or none")
    guard_threshold: float = Field(0.75, ge=0.0, description="Guardrail filter: refuse answers whose cosine "
                                                             "similarity to a forget answer is at least this (>1: off)")
    guard_embedder: str | None = Field(None, description="Guardrail filter's embedder (default: packaged MiniLM)")
    pdu_epsilon: NonNegativeFloat | None = Field(
        None, description="PDU's bound on the regularizer (retain loss), needed by method PDU; with another "
                          "FORGET+REGULARIZER, PDU's dual update alone: b becomes a dual variable starting at "
                          "--regularizer-weight")
    pdu_dual_step: PositiveFloat = Field(1.0, description="PDU: step size of the dual ascent on b")
    pdu_dual_warmup_epochs: NonNegativeFloat | None = Field(
        None, description="PDU: epochs before b starts to move (default: 5 for method PDU, else 0)")
    pdu_positions: Literal["answer", "labels"] = Field(
        "answer", description="PDU's logit margin at the positions that predict answer tokens (paper) or at the "
                              "answer tokens' own positions (open-unlearning's pdu.py)")
    mask: Literal["none", "saliency"] = Field(
        "none", description="saliency: train only the weights most salient to the forget data (WAGLE-style)")
    mask_ratio: float = Field(0.95, gt=0.0, le=1.0, description="--mask saliency: share of weights trained "
                                                                "(WAGLE's TOFU config 0.95; WMDP 0.6)")
    mask_mu: PositiveFloat = Field(1e-6, description="--mask saliency: WAGLE's mu in |(theta - g_r/mu) * g_f| "
                                                     "(their configs' 1e-6)")
    prune_ratio: float = Field(0.02, gt=0.0, le=1.0, description="SelectivePruning: share of all MLP neurons "
                                                                 "zeroed per step (the authors' 0.02)")
    prune_target_drop: float = Field(
        0.5, gt=0.0, le=1.0, description="SelectivePruning: stop once the forget answers' top-1 token accuracy has "
                                         "fallen by this share of its start")
    prune_max_steps: PositiveInt = Field(10, description="SelectivePruning: at most this many pruning steps")
    overwrite: bool = Field(False, description="reuse an output folder that holds another run")

    @field_validator("retain", "refusals", "reference", "guard_embedder", mode="before")
    @classmethod
    def _none_word(cls, value):
        return None if isinstance(value, str) and value.strip().lower() in ("", "none", "null") else value

    @model_validator(mode="after")
    def _method_defaults(self):
        """RMU's and PDU's schedules, and a procedure's ``defaults`` (ULD's assistant), where the user set
        none (``model_fields_set`` stays as given)."""
        forget_term = self.method.partition("+")[0]
        schedules = {"RMU": RMU_SCHEDULE, "PDU": PDU_SCHEDULE, **{n: p.defaults for n, p in PROCEDURES.items()}}
        for name, value in schedules.get(forget_term, {}).items():
            if name not in self.model_fields_set:
                self.__dict__[name] = value
        if self.pdu_dual_warmup_epochs is None:
            self.__dict__["pdu_dual_warmup_epochs"] = PDU_DUAL_WARMUP_EPOCHS if forget_term == "PDU" else 0.0
        return self


def check_settings(settings: ForgetSettings) -> Method | Procedure:
    """Reject impossible combinations before anything heavy happens."""
    if settings.method in PROCEDURES:
        procedure = PROCEDURES[settings.method]
        if procedure.needs_retain and not settings.retain:
            raise UserError(f"method {procedure.name} needs a retain split (--retain), e.g. retain90")
        return procedure
    method = parse_method(settings.method)
    if method.needs_retain and not settings.retain:
        raise UserError(f"method {method.name} needs a retain split (--retain), e.g. retain90")
    if settings.mask != "none" and not {"forget", "retain"} <= set(method.streams):
        raise UserError(f"--mask saliency contrasts forget and retain gradients: method {method.name} does not read "
                        "both; add a regularizer that reads retain answers (+GD, +KL)")
    if settings.pdu_epsilon is not None and method.regularizer is None:
        raise UserError(f"--pdu-epsilon bounds the regularizer, and method {method.name} has none; add one (+GD)")
    if method.forget.name == "PDU" and settings.pdu_epsilon is None:
        raise UserError(f"method {method.name} bounds the retain loss and needs --pdu-epsilon: a value above the "
                        "model's retain loss before unlearning (the authors use 0.3 on TOFU)")
    if settings.pdu_epsilon is not None and settings.pdu_dual_warmup_epochs >= settings.epochs:
        log.warning("the dual variable b never moves: pdu_dual_warmup_epochs %s >= epochs %s",
                    settings.pdu_dual_warmup_epochs, settings.epochs)
    if settings.mask != "none" and settings.lora:
        raise UserError("--mask saliency selects single weights and cannot train a LoRA adapter; drop --lora")
    if method.full_weights_only and settings.lora:
        raise UserError(f"method {method.name} updates chosen full-weight layers and cannot train a LoRA adapter; "
                        "drop --lora")
    if settings.reference:  # a missing reference fails now, not after the model loads
        try:
            resolve_source(settings.reference)
        except UserError as error:
            raise UserError(f"--reference: {error}") from None
    if settings.reference and settings.lora and method.needs_frozen_model:
        log.info("LoRA with a separate reference model: the reference is loaded as a second model")
    return method


def forget(settings: ForgetSettings, callbacks: list | None = None) -> dict:
    """Unlearn, save the model into ``settings.out`` and return the summary written beside it."""
    started = time.time()
    recorded = settings.model_dump(exclude={"overwrite", "resume"})
    out = check_run_folder(settings.out, recorded, settings.overwrite)
    if settings.method in PROCEDURES:
        return _build_procedure(PROCEDURES[settings.method], settings, out, recorded, started)
    trainer, method, weights = build_trainer(settings, out / "checkpoints")
    record_run_settings(out, recorded)
    result = train(trainer, out / "checkpoints", settings.resume, callbacks)
    full_weights = gathered_weights(trainer)  # sharded (FSDP, ZeRO-3): every process takes part
    if not trainer.is_world_process_zero():
        return {}
    save_model(trainer.model, trainer.processing_class, out, full_weights)
    summary = {
        "method": method.name,
        "inference_cost": ONE_MODEL,
        "forget_split": settings.forget,
        "retain_split": settings.retain if method.needs_retain else None,
        "forget_examples": len(trainer.train_dataset),
        "forget_weight": weights[0],
        "regularizer_weight": weights[1] if method.regularizer else None,
        "primal_dual": ({"epsilon": settings.pdu_epsilon, "dual_step": settings.pdu_dual_step,
                         "dual_warmup_epochs": settings.pdu_dual_warmup_epochs,
                         "final_multiplier": round(trainer.regularizer_weight, 6)}
                        if settings.pdu_epsilon is not None else None),
        "mask": f"saliency, {settings.mask_ratio:g} of the weights" if settings.mask != "none" else None,
        "optimizer_steps": result.global_step,
        "train_loss": mean_logged_loss(trainer.state.log_history),
        "train_seconds": round(result.metrics.get("train_runtime", math.nan), 1),
        "total_seconds": round(time.time() - started, 1),
    }
    atomic_write_json(out / "train_summary.json", summary)
    if not settings.keep_checkpoints:
        shutil.rmtree(out / "checkpoints", ignore_errors=True)
    return summary


def _check_procedure_data(procedure: Procedure, settings: ForgetSettings) -> None:
    """A method of another family reads question-answer records (or text, for the weight-based ones)."""
    check_settings(settings)
    benchmark = Benchmark(settings.data, answer_field=settings.answer_field)
    for split in (settings.forget, settings.retain if procedure.needs_retain else None):
        if split:
            records = benchmark.split(split)
            check_trainable(records, split)
            if procedure.questions_only and is_text_split(records):
                raise UserError(f"method {procedure.name} puts questions and answers in the prompt, so it needs "
                                f"question-answer records; split '{split}' holds raw text")


def _build_procedure(procedure: Procedure, settings: ForgetSettings, out, recorded: dict, started: float) -> dict:
    _check_procedure_data(procedure, settings)
    if settings.threads:
        torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    record_run_settings(out, recorded)
    summary = {"method": procedure.name, "family": procedure.family, "inference_cost": procedure.inference_cost,
               "forget_split": settings.forget, "retain_split": settings.retain if procedure.needs_retain else None,
               **procedure.build(settings, out), "total_seconds": round(time.time() - started, 1)}
    atomic_write_json(out / "train_summary.json", summary)
    return summary


def build_trainer(settings: ForgetSettings, checkpoint_dir) -> tuple[UnlearningTrainer, Method, tuple[float, float]]:
    """Everything up to ``train()``: checks, data, model, reference, trainer (benchmarks reuse it)."""
    method = check_settings(settings)
    refusals = load_refusals(settings.refusals) if method.needs_refusals else None
    benchmark = Benchmark(settings.data, answer_field=settings.answer_field)
    forget_records = benchmark.split(settings.forget)
    retain_records = benchmark.split(settings.retain) if method.needs_retain else None
    _check_record_kinds(method, forget_records, retain_records, settings)
    if retain_records is not None and not is_text_split(forget_records) and not is_text_split(retain_records):
        _warn_overlap(forget_records, retain_records, settings)
    weights = _weights(settings, method)
    model, tokenizer, fmt, max_length = prepare_model(settings)
    hidden_layer = steering_direction = None
    if method.forget.name == "RMU":
        hidden_layer, steering_direction = _prepare_rmu(model, settings)
    dataset = build_streams(method, forget_records, retain_records, refusals, tokenizer, fmt, max_length, settings)
    collator = PairCollator(tokenizer.pad_token_id)
    device = next(model.parameters()).device

    reference, cached = _prepare_reference(method, model, dataset, collator, device, settings)
    masked = _saliency_mask(model, dataset, collator, settings)
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


def _saliency_mask(model, dataset, collator, settings):
    """``--mask saliency``: the callback that keeps the weights outside the mask fixed (or None)."""
    if settings.mask == "none":
        return None
    from unlearn.families.saliency import MaskedUpdates, saliency_masks

    masks = saliency_masks(model, dataset, collator, settings.batch_size, settings.mask_ratio, settings.mask_mu)
    return MaskedUpdates(model, masks)


def _weights(settings: ForgetSettings, method: Method) -> tuple[float, float]:
    default_a, default_b = DEFAULT_WEIGHTS.get(method.name, DEFAULT_WEIGHTS.get(method.forget.name, (1.0, 1.0)))
    a = default_a if settings.forget_weight is None else settings.forget_weight
    b = default_b if settings.regularizer_weight is None else settings.regularizer_weight
    return a, b


# What each answer-based stream does, for the message that refuses it on raw text.
ANSWER_STREAMS = {"forget_idk": ("forget", "a refusal as the answer to each forget question"),
                  "forget_mismatch": ("retain", "retain answers given to forget questions"),
                  "retain_idk": ("retain", "a refusal as the answer to each retain question")}


def _check_record_kinds(method: Method, forget_records, retain_records, settings: ForgetSettings) -> None:
    """Unlearning reads question-answer records or raw text; a method whose streams put other
    answers after the questions needs questions."""
    for split, records in ((settings.forget, forget_records), (settings.retain, retain_records)):
        if records is not None:
            check_trainable(records, split)
    text = {"forget": is_text_split(forget_records),
            "retain": retain_records is not None and is_text_split(retain_records)}
    for stream in method.streams:
        if stream in ANSWER_STREAMS and text[ANSWER_STREAMS[stream][0]]:
            side = ANSWER_STREAMS[stream][0]
            raise UserError(f"method {method.name} trains on {ANSWER_STREAMS[stream][1]}, so it needs "
                            f"question-answer records; {side} split '{getattr(settings, side)}' holds raw text")


def _warn_overlap(forget_records, retain_records, settings) -> None:
    """Count retain records whose (question, answer) is also in the forget set, reading in batches."""
    forget_pairs = set(_pairs(forget_records))
    shared = sum(pair in forget_pairs for pair in _pairs(retain_records))
    if shared:
        log.warning("%d records of %s also appear in %s: the method will both forget and keep them",
                    shared, settings.retain, settings.forget)


def _pairs(records):
    for batch in records.select_columns(["question", "answer"]).iter(batch_size=10_000):
        yield from zip(batch["question"], batch["answer"])


def build_streams(method: Method, forget_records, retain_records, refusals, tokenizer, fmt, length, settings):
    """Tokenize exactly the streams the method reads; refusal and mismatch picks are seeded."""
    rng = random.Random(settings.seed)
    forget_streams, retain_streams = {}, {}
    if "forget" in method.streams:
        forget_streams["forget"] = tokenize_split(forget_records, tokenizer, fmt, length, name=settings.forget)
    if "forget_idk" in method.streams:
        picked = forget_records.add_column("refusal", [rng.choice(refusals) for _ in range(len(forget_records))])
        forget_streams["forget_idk"] = tokenize_split(picked, tokenizer, fmt, length, "refusal", "forget refusals")
    if "forget_mismatch" in method.streams:
        partners = [rng.randrange(len(retain_records)) for _ in range(len(forget_records))]
        picked = forget_records.add_column("mismatch", retain_records.select(partners)["answer"])
        forget_streams["forget_mismatch"] = tokenize_split(picked, tokenizer, fmt, length, "mismatch",
                                                           "forget mismatch")
    if "retain" in method.streams:
        retain_streams["retain"] = tokenize_split(retain_records, tokenizer, fmt, length, name=settings.retain)
    if "retain_idk" in method.streams:
        picked = retain_records.add_column("refusal", [rng.choice(refusals) for _ in range(len(retain_records))])
        retain_streams["retain_idk"] = tokenize_split(picked, tokenizer, fmt, length, "refusal", "retain refusals")
    return ForgetRetainDataset(forget_streams, retain_streams or None, seed=settings.seed)


def _prepare_reference(method: Method, model, dataset, collator, device, settings):
    """A frozen model only when a term needs full outputs; otherwise cached log-probs only.

    Both come from ``settings.reference`` when given, else from ``model`` as it is before the first
    step, the model being unlearned: with a fresh ``--lora`` adapter the frozen model is ``model``
    with that adapter off; a model that carries a loaded adapter (an adapter folder trained with
    ``--lora``) is copied, adapter included (see ``FrozenReference.copy_of``). The trainer keeps
    both (``trainer.reference``, ``trainer.cached_logprobs``)."""
    separate = None
    frozen = method.needs_frozen_model or (method.forget.name == "RMU" and settings.rmu_adaptive_beta is not None)
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


def _prepare_rmu(model, settings):
    """Train only what RMU trains (WMDP: ``mlp.down_proj`` of layers l-2..l, the 7th parameter of a
    Zephyr/Mistral layer, ``param_ids=[6]``) and draw the random unit direction u (uniform in [0, 1)^d,
    normalized, as WMDP draws it)."""
    layers = model.config.num_hidden_layers
    if settings.rmu_layer >= layers:
        raise UserError(f"rmu_layer {settings.rmu_layer} does not exist: the model has layers 0..{layers - 1}")
    part = "mlp.down_proj." if settings.rmu_params == "down_proj" else "mlp."
    first = max(0, settings.rmu_layer - 2)
    trained = tuple(f"layers.{i}.{part}" for i in range(first, settings.rmu_layer + 1))
    chosen = 0
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(any(prefix in name for prefix in trained))
        chosen += parameter.requires_grad
    if not chosen:
        raise UserError(f"RMU trains {part[:-1]} of layers {first}..{settings.rmu_layer}, and this model has no "
                        f"parameter named 'layers.N.{part}...'; RMU supports Llama-style layer names")
    generator = torch.Generator().manual_seed(settings.seed)
    direction = torch.rand(model.config.hidden_size, generator=generator)
    return settings.rmu_layer, direction / direction.norm()
