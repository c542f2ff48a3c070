"""The settings of ``unlearn forget``, and the checks across them that run before any model loads.

A method's own knobs are not fields here: each part (a loss term, PDU's dual update, the saliency
mask, a method family) declares them in its registration, and they arrive in ``method_args``
(``--npo.beta 0.2``, or ``method_args: {NPO: {beta: 0.2}}`` in YAML). A part that the chosen method
does not use is refused. The flat names of release 0.1 (``beta``, ``rmu_layer``, ...) are mapped to
their part for one more release, with a warning (``RENAMED``).

This module stays light (pydantic and the registries only), so ``unlearn forget --help`` is fast.
"""

from __future__ import annotations

import logging
from typing import ClassVar, Literal

from pydantic import Field, NonNegativeFloat, PositiveInt, field_validator, model_validator

from unlearn.config import PartSettings, check_part_args, move_renamed, none_word
from unlearn.errors import UserError
from unlearn.families import FAMILY_METHODS, FamilyMethod
from unlearn.objectives.registry import Method, method_parts, parse_method, part_defaults, training_defaults
from unlearn.selection.registry import checked_choice, picks_first, registered_name, rule_metrics, select
from unlearn.training.curve_settings import CurveSettings
from unlearn.training.settings import DataSettings, OptimSettings, TrainableModelSettings

log = logging.getLogger(__name__)

# release 0.1's flat name -> (the parts that took it, its name there); mapped with a warning until 0.3
RENAMED = {
    "beta": (("NPO", "DPO", "AP"), "beta"), "simnpo_beta": (("SimNPO",), "beta"),
    "simnpo_gamma": (("SimNPO",), "gamma"), "me_form": (("ME",), "form"), "wga_alpha": (("WGA",), "alpha"),
    "satimp_beta1": (("SatImp",), "beta1"), "satimp_beta2": (("SatImp",), "beta2"),
    "undial_strength": (("UNDIAL",), "strength"), "mismatch_weight": (("LLMU",), "mismatch_weight"),
    "rmu_layer": (("RMU",), "layer"), "rmu_steering": (("RMU",), "steering"),
    "rmu_reduction": (("RMU",), "reduction"), "rmu_params": (("RMU",), "params"),
    "rmu_adaptive_beta": (("RMU",), "adaptive_beta"),
    "alpha": (("TaskVector", "WHP", "WHP-decoding", "ULD"), "alpha"), "uld_layers": (("ULD",), "layers"),
    "uld_top_filter": (("ULD",), "top_filter"), "icul_examples": (("ICUL",), "examples"),
    "icul_form": (("ICUL",), "form"), "icul_label": (("ICUL",), "label"),
    "guard_subjects": (("Guardrail",), "subjects"), "guard_keywords": (("Guardrail",), "keywords"),
    "guard_threshold": (("Guardrail",), "threshold"), "guard_embedder": (("Guardrail",), "embedder"),
    "pdu_epsilon": (("dual",), "epsilon"), "pdu_dual_step": (("dual",), "step"),
    "pdu_dual_warmup_epochs": (("dual",), "warmup_epochs"), "pdu_positions": (("PDU",), "positions"),
    "mask_ratio": (("saliency",), "ratio"), "mask_mu": (("saliency",), "mu"),
    "prune_ratio": (("SelectivePruning",), "ratio"), "prune_target_drop": (("SelectivePruning",), "target_drop"),
    "prune_max_steps": (("SelectivePruning",), "max_steps"),
}


class ForgetSettings(OptimSettings, DataSettings, TrainableModelSettings):
    """Defaults follow the seed paper: lr 1e-5, 5 epochs, effective batch 32, 1 warmup epoch; a method's
    authors' optimizer settings (RMU's WMDP schedule, ULD's assistant) apply wherever the user set none."""

    RENAMED: ClassVar[dict] = RENAMED
    PART_ARGS: ClassVar[str] = "method_args"  # where the parts' flags go

    method: str = Field("ME+GD", description="FORGET[+REGULARIZER], e.g. GA+GD, NPO+KL, IDK+AP, ME+GD, RMU, or a "
                                             "method of another family (TaskVector, ULD, ...); see --list-methods")
    method_args: dict[str, dict] = Field(
        default_factory=dict, description="the settings of the method's own parts, by part: {NPO: {beta: 0.2}} "
                                          "(flags: --npo.beta 0.2); see --list-methods")
    forget: str = Field("forget10", description="split to forget")
    retain: str | None = Field("retain90", description="split the regularizer keeps (none for GA, NPO, ...)")
    out: str = Field(description="output folder: the unlearned model in Hugging Face format")
    gradient_accumulation_steps: PositiveInt = Field(4, description="steps accumulated per optimizer update")
    forget_weight: NonNegativeFloat | None = Field(None, description="a in a*forget + b*regularizer "
                                                                     "(default: 0.1 for ME+GD, else 1)")
    regularizer_weight: NonNegativeFloat | None = Field(None, description="b (default: 1200 for RMU, else 1)")
    refusals: str | None = Field(None, description="file of refusal phrases, one per line (default: packaged)")
    reference: str | None = Field(None, description="reference model for NPO/DPO/KL/UNDIAL/RMU "
                                                    "(default: the model before unlearning)")
    mask: Literal["none", "saliency"] = Field(
        "none", description="saliency: train only the weights most salient to the forget data (WAGLE-style; "
                            "its settings: --saliency.*)")
    overwrite: bool = Field(False, description="reuse an output folder that holds another run")
    curve: CurveSettings | None = Field(
        None, description="evaluation during training, written to OUT/trajectory.json: {every_steps: 10, examples: "
                          "32, ...} (flags: --curve.every-steps 10); on when given or when select is")
    select: str | None = Field(None, description="selection rule choosing the checkpoint saved as the model: muse, "
                                                 "utility-floor, reach-retain, expression (see --list-rules)")
    select_args: dict[str, dict] = Field(
        default_factory=dict, description="the rule's own settings: {utility-floor: {target_utility: 0.41}} "
                                          "(flags: --utility-floor.target-utility 0.41); see --list-rules")

    @classmethod
    def part_field(cls, part: str) -> str:
        """Where a part's flags go: ``--curve.*`` to ``curve``, a selection rule's to ``select_args``, a
        method part's to ``method_args``."""
        if part.lower() == "curve":
            return "curve"
        return "select_args" if registered_name(part) else cls.PART_ARGS

    _none_words = field_validator("retain", "refusals", "reference", mode="before")(none_word)

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, values):
        """Release 0.1's flat names, moved into ``method_args`` where the method uses their part."""
        if not isinstance(values, dict) or not RENAMED.keys() & values.keys():
            return values
        method = values.get("method", cls.model_fields["method"].default)
        parts = method_parts(method, values.get("mask", "none"))
        return move_renamed(values, RENAMED, parts, "method_args", f"not method {method}")

    @model_validator(mode="after")
    def _method_settings(self):
        """Check ``method_args`` against the method's parts; apply what its authors set (another part's
        settings such as PDU's dual warm-up, the optimizer settings) where the user set none
        (``model_fields_set`` stays as given)."""
        parts = method_parts(self.method, self.mask)
        args = check_part_args(self.method_args, parts, f"method {self.method}", "method_args")
        for part, defaults in part_defaults(self.method).items():
            args[part] = {**defaults, **args.get(part, {})}
        self.__dict__["method_args"] = args
        for name, value in training_defaults(self.method).items():
            if name not in self.model_fields_set:
                self.__dict__[name] = value
        return self

    @model_validator(mode="after")
    def _selection_settings(self):
        """``select_args`` hold the chosen rule's settings only; early stop only for a rule that chooses
        the first checkpoint that meets its condition (a later one could still win the others)."""
        if self.select is None:
            if self.select_args:
                raise ValueError(f"settings of selection rule '{next(iter(self.select_args))}' given, but no rule "
                                 "is chosen (--select)")
            if self.curve is not None and self.curve.stop_when_selected:
                raise ValueError("--curve.stop-when-selected needs a selection rule (--select)")
            return self
        name, args = checked_choice(self.select, self.select_args)
        self.__dict__["select"], self.__dict__["select_args"] = name, args
        try:  # a required setting left out, an expression that does not parse: now, not after training
            select(name, [], args.get(name))
        except UserError as error:
            raise ValueError(str(error)) from None
        missing = self.curve_settings.suite_not_run(rule_metrics(name, args.get(name)))
        if missing:
            raise ValueError(f"selection rule {name} reads {missing[0]}, a number of suite {missing[1]}: add the "
                             f"suite to the curve (--curve.suites {missing[1]}; it runs on its whole data)")
        if self.curve is not None and self.curve.stop_when_selected and not picks_first(name, args.get(name)):
            raise ValueError(f"--curve.stop-when-selected: rule {name} takes the best of all checkpoints, so a later "
                             "one could still win; it stops only rules that choose the first checkpoint that ...")
        return self

    @property
    def curve_settings(self) -> CurveSettings | None:
        """The evaluation during training: as given, or its defaults when a rule is chosen without it."""
        return self.curve if self.curve is not None else CurveSettings() if self.select else None

    @property
    def select_settings(self) -> dict:
        """The chosen rule's settings as given (its defaults apply to the rest)."""
        return self.select_args.get(self.select, {}) if self.select else {}

    def args_of(self, part: str) -> PartSettings | None:
        """The settings of one of the method's parts (its defaults where none were given), or None
        for a part without settings."""
        model = method_parts(self.method, self.mask).get(part)
        return model.model_validate(self.method_args.get(part, {})) if model else None

    @property
    def dual_bound(self) -> float | None:
        """PDU's bound epsilon on the regularizer, when its dual update runs."""
        dual = self.args_of("dual")
        return dual.epsilon if dual is not None else None


def check_settings(settings: ForgetSettings) -> Method | FamilyMethod:
    """Reject impossible combinations before anything heavy happens."""
    if settings.method in FAMILY_METHODS:
        chosen = FAMILY_METHODS[settings.method]
        if settings.curve_settings is not None:
            raise UserError(f"method {chosen.name} does not train, so it has no curve to evaluate or select from; "
                            "drop --curve.* and --select")
        if chosen.needs_retain and not settings.retain:
            raise UserError(f"method {chosen.name} needs a retain split (--retain), e.g. retain90")
        return chosen
    method = parse_method(settings.method)
    if method.needs_retain and not settings.retain:
        raise UserError(f"method {method.name} needs a retain split (--retain), e.g. retain90")
    if settings.mask != "none" and not {"forget", "retain"} <= set(method.streams):
        raise UserError(f"--mask saliency contrasts forget and retain gradients: method {method.name} does not read "
                        "both; add a regularizer that reads retain answers (+GD, +KL)")
    dual = settings.args_of("dual")
    if method.forget.needs_dual_bound and dual.epsilon is None:
        raise UserError(f"method {method.name} bounds the retain loss and needs --dual.epsilon: a value above the "
                        "model's retain loss before unlearning (the authors use 0.3 on TOFU)")
    if dual is not None and dual.epsilon is not None and dual.warmup_epochs >= settings.epochs:
        log.warning("the dual variable b never moves: dual warmup_epochs %s >= epochs %s", dual.warmup_epochs,
                    settings.epochs)
    if settings.mask != "none" and settings.lora:
        raise UserError("--mask saliency selects single weights and cannot train a LoRA adapter; drop --lora")
    if method.full_weights_only and settings.lora:
        raise UserError(f"method {method.name} updates chosen full-weight layers and cannot train a LoRA adapter; "
                        "drop --lora")
    if settings.reference:  # a missing reference fails now, not after the model loads
        from unlearn.models.loading import resolve_source

        try:
            resolve_source(settings.reference)
        except UserError as error:
            raise UserError(f"--reference: {error}") from None
    if settings.reference and settings.lora and method.needs_frozen_model:
        log.info("LoRA with a separate reference model: the reference is loaded as a second model")
    return method
