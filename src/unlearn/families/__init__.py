"""Unlearning methods that are not one loss on one Trainer: the survey's other families.

Each module builds one method's unlearned model into the output folder, as a plain weights folder
or as a manifest model (``models.unlearned``). ``PROCEDURES`` names them for ``unlearn forget
--method``; a loss-based method (family A, RMU, SatImp, PDU) lives in ``objectives`` instead.

- auxiliary models: ``task_vector`` (TaskVector), ``whp`` (WHP, WHP-decoding), ``uld`` (ULD);
- input/output: ``in_context`` (ICUL), ``guardrail`` (Guardrail);
- localized: ``pruning`` (SelectivePruning); the saliency mask (``--mask saliency``, ``saliency``)
  restricts any loss-based method to chosen weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module

ONE_MODEL = "1 model, 1 forward pass per token"


@dataclass(frozen=True)
class Procedure:
    name: str
    family: str
    module: str  # unlearn.families.<module>.build(settings, out) -> summary dict
    summary: str
    inference_cost: str
    needs_retain: bool = False
    questions_only: bool = False  # its prompt holds questions and answers: no raw text
    defaults: dict = field(default_factory=dict)  # settings its authors use, where the user set none

    def build(self, settings, out) -> dict:
        return import_module(f"unlearn.families.{self.module}").build(settings, out, self.name)


PROCEDURES = {p.name: p for p in [
    Procedure("TaskVector", "auxiliary model", "task_vector",
              "fine-tune a copy on the forget data, subtract alpha times the change", ONE_MODEL),
    Procedure("WHP", "auxiliary model", "whp",
              "fine-tune on WHP's generic labels argmax(v_b - alpha*ReLU(v_r - v_b)) (the paper's form)", ONE_MODEL),
    Procedure("WHP-decoding", "auxiliary model", "whp",
              "WHP's generic logits at decoding time, base + reinforced model (MUSE's form)",
              "2 models, 2 forward passes per token"),
    Procedure("ULD", "auxiliary model", "uld",
              "subtract an assistant trained to remember the forget data: l_target - alpha*l_assistant",
              "1 model + a small assistant (its first layers), 2 forward passes per token", needs_retain=True,
              # the authors' assistant (UCSB-NLP-Chang/ULD: configs/model_mode/uld.yaml, bashes/tofu/uld_train.sh,
              # configs/tune_config.yaml): LoRA r 16, alpha 32, dropout 0.05, lr 1e-3, 10 epochs
              defaults={"learning_rate": 1e-3, "lora_r": 16, "lora_alpha": 32, "lora_dropout": 0.05,
                        "epochs": 10.0}),
    Procedure("ICUL", "input/output", "in_context",
              "forget questions with wrong answers, then k true examples, as plain text before each question",
              "1 model, 1 forward pass per token over a longer context (the examples)", needs_retain=True,
              questions_only=True),
    Procedure("Guardrail", "input/output", "guardrail",
              "a system prompt naming the forget subjects, and an output filter that refuses leaks",
              "1 model, 1 forward pass per token, a longer context, and the filter's embedder per answer",
              questions_only=True),
    Procedure("SelectivePruning", "localized", "pruning",
              "zero, step by step, the MLP neurons most active on forget text relative to retain text "
              "(no gradients)", ONE_MODEL,
              needs_retain=True),
]}
