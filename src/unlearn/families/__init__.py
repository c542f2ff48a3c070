"""Unlearning methods that are not one loss on one Trainer: the survey's other families.

Each module builds one method's unlearned model into the output folder, as a plain weights folder
or as a manifest model (``models.unlearned``). ``FAMILY_METHODS`` names them for ``unlearn forget
--method``; a loss-based method (family A, RMU, SatImp, PDU) lives in ``objectives`` instead.

- auxiliary models: ``task_vector`` (TaskVector), ``whp`` (WHP, WHP-decoding), ``uld`` (ULD);
- input/output: ``in_context`` (ICUL), ``guardrail`` (Guardrail);
- localized: ``pruning`` (SelectivePruning); the saliency mask (``--mask saliency``, ``saliency``)
  restricts any loss-based method to chosen weights.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dataclasses import dataclass, field
from importlib import import_module
from typing import Literal

from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt

from unlearn.config import PartSettings

if TYPE_CHECKING:
    from pathlib import Path

    from unlearn.training.forget_settings import ForgetSettings


ONE_MODEL = "1 model, 1 forward pass per token"


@dataclass(frozen=True)
class FamilyMethod:
    """A method that builds its unlearned model its own way instead of minimizing one loss on the Trainer."""

    name: str
    family: str
    module: str  # unlearn.families.<module>.build(settings, args, out, name) -> summary dict
    summary: str
    inference_cost: str
    needs_retain: bool = False
    questions_only: bool = False  # its prompt holds questions and answers: no raw text
    settings: type[PartSettings] | None = None  # its own knobs (``--uld.alpha``, ``method_args: {ULD: ...}``)
    training_defaults: dict = field(default_factory=dict)  # optimizer settings its authors use, where none is set

    def build(self, settings: ForgetSettings, args: PartSettings | None, out: Path) -> dict:
        return import_module(f"unlearn.families.{self.module}").build(settings, args, out, self.name)


class TaskVectorSettings(PartSettings):
    alpha: PositiveFloat = Field(5.0, description="how many times the fine-tuning change is subtracted (MUSE's 5; "
                                                  "it sweeps 1-16)")


class WHPSettings(PartSettings):
    alpha: PositiveFloat = Field(1.0, description="strength of the contrast with the reinforced model")


class ULDSettings(PartSettings):
    alpha: PositiveFloat = Field(0.8, description="weight of the assistant's logits subtracted (the authors' TOFU "
                                                  "scripts: their code writes l_target + w * l_assistant, w = -0.8)")
    layers: PositiveInt = Field(8, description="the assistant is the target's first this many layers")
    top_filter: float = Field(
        1e-2, ge=0.0, lt=1.0, description="subtract the assistant only on tokens whose target probability is at "
                                          "least this share of the top token's, or in the top this share of the "
                                          "vocabulary (the authors' 1e-2); 0: the paper's plain difference")


class ICULSettings(PartSettings):
    examples: NonNegativeInt = Field(4, description="correctly answered retain examples in the context")
    form: Literal["text", "turns"] = Field(
        "text", description="the examples as plain-text lines before the question in its user message (the "
                            "paper's prompt) or as earlier chat turns")
    label: Literal["wrong", "refusal"] = Field(
        "wrong", description="a forget question's answer in context: another record's (the paper's flipped label) "
                             "or a refusal")


class GuardrailSettings(PartSettings):
    subjects: list[str] | None = Field(None, description="subjects its system prompt names (default: the forget "
                                                         "records' 'subject')")
    keywords: Literal["subjects", "facts", "none"] = Field(
        "subjects", description="the filter refuses answers naming the subjects, the records' facts, or none")
    threshold: float = Field(0.75, ge=0.0, description="the filter refuses answers whose cosine similarity to a "
                                                       "forget answer is at least this (>1: off)")
    embedder: str | None = Field(None, description="the filter's embedder (default: packaged MiniLM)")


class PruningSettings(PartSettings):
    ratio: float = Field(0.02, gt=0.0, le=1.0, description="share of all MLP neurons zeroed per step (the "
                                                           "authors' 0.02)")
    target_drop: float = Field(0.5, gt=0.0, le=1.0, description="stop once the forget answers' top-1 token "
                                                                "accuracy has fallen by this share of its start")
    max_steps: PositiveInt = Field(10, description="at most this many pruning steps")


FAMILY_METHODS = {p.name: p for p in [
    FamilyMethod("TaskVector", "auxiliary model", "task_vector",
                 "fine-tune a copy on the forget data, subtract alpha times the change", ONE_MODEL,
                 settings=TaskVectorSettings),
    FamilyMethod("WHP", "auxiliary model", "whp",
                 "fine-tune on WHP's generic labels argmax(v_b - alpha*ReLU(v_r - v_b)) (the paper's form)", ONE_MODEL,
                 settings=WHPSettings),
    FamilyMethod("WHP-decoding", "auxiliary model", "whp",
                 "WHP's generic logits at decoding time, base + reinforced model (MUSE's form)",
                 "2 models, 2 forward passes per token", settings=WHPSettings),
    FamilyMethod("ULD", "auxiliary model", "uld",
                 "subtract an assistant trained to remember the forget data: l_target - alpha*l_assistant",
                 "1 model + a small assistant (its first layers), 2 forward passes per token", needs_retain=True,
                 settings=ULDSettings,
                 # the authors' assistant (UCSB-NLP-Chang/ULD: configs/model_mode/uld.yaml, bashes/tofu/uld_train.sh,
                 # configs/tune_config.yaml): LoRA r 16, alpha 32, dropout 0.05, lr 1e-3, 10 epochs
                 training_defaults={"learning_rate": 1e-3, "lora_r": 16, "lora_alpha": 32, "lora_dropout": 0.05,
                                    "epochs": 10.0}),
    FamilyMethod("ICUL", "input/output", "in_context",
                 "forget questions with wrong answers, then k true examples, as plain text before each question",
                 "1 model, 1 forward pass per token over a longer context (the examples)", needs_retain=True,
                 questions_only=True, settings=ICULSettings),
    FamilyMethod("Guardrail", "input/output", "guardrail",
                 "a system prompt naming the forget subjects, and an output filter that refuses leaks",
                 "1 model, 1 forward pass per token, a longer context, and the filter's embedder per answer",
                 questions_only=True, settings=GuardrailSettings),
    FamilyMethod("SelectivePruning", "localized", "pruning",
                 "zero, step by step, the MLP neurons most active on forget text relative to retain text "
                 "(no gradients)", ONE_MODEL, needs_retain=True, settings=PruningSettings),
]}
