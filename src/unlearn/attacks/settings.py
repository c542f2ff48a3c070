"""Settings of ``unlearn attack``: an evaluation's settings plus each attack's, defaults from the papers."""

from __future__ import annotations

from pydantic import Field, PositiveFloat, PositiveInt, field_validator

from unlearn.attacks.catalog import check_jailbreaks, expand
from unlearn.attacks.prompts import JAILBREAKS
from unlearn.attacks.recovery import MIN_GAP
from unlearn.config import comma_list
from unlearn.evaluation.run import EvalSettings

RECOVERY_METRICS = ["fact_accuracy", "rougeL_recall", "probability", "cosine_similarity", "entailment_score",
                    "extraction_strength"]


class AttackSettings(EvalSettings):
    """``model`` is the unlearned model; ``original`` the model before unlearning (the target).
    Relearning defaults are Lucki et al.'s (LoRA r 128, alpha 16, lr 2e-4, 3 epochs, batch 1);
    the K-fold variant trains 6 epochs, as Deeb & Roger."""

    original: str = Field(description="the model before unlearning (the target): the ceiling of recovery")
    attacks: list[str] = Field(["all"], description="attacks to run (names, or comma-separated): all, relearn, "
                                                    "relearn-unrelated, relearn-kfold, quantize-4bit, quantize-8bit, "
                                                    "paraphrase, few-shot, jailbreak, multiple-choice, logit-lens")
    unlearned_eval: str | None = Field(None, description="a finished plain evaluation of the unlearned model on the "
                                                         "same forget split, reused instead of evaluating again")
    original_eval: str | None = Field(None, description="the same for the original model")
    recovery_metrics: list[str] = Field(RECOVERY_METRICS, description="forget metrics whose recovery is reported "
                                                                      "(higher = more knowledge)")
    min_gap: PositiveFloat = Field(MIN_GAP, description="recovery is not computed when unlearning changed a "
                                                        "metric by less than this")
    relearn_fraction: float = Field(0.5, gt=0.0, lt=1.0, description="relearn: share of the forget set trained on "
                                                                     "(the rest is measured)")
    relearn_lora: bool = Field(True, description="relearn: train a LoRA adapter (false: all weights)")
    relearn_lora_r: PositiveInt = Field(128, description="relearn: LoRA rank")
    relearn_lora_alpha: PositiveInt = Field(16, description="relearn: LoRA alpha")
    relearn_learning_rate: PositiveFloat = Field(2e-4, description="relearn: peak learning rate (linear decay)")
    relearn_epochs: PositiveFloat = Field(3.0, description="relearn and relearn-unrelated: epochs")
    relearn_batch_size: PositiveInt = Field(1, description="relearn: examples per step")
    relearn_folds: int = Field(3, ge=2, description="relearn-kfold: K")
    relearn_fold_epochs: PositiveFloat = Field(6.0, description="relearn-kfold: epochs per fold")
    relearn_unrelated: str = Field("packaged", description="relearn-unrelated: a JSON-lines file of question/answer "
                                                           "records, or 'packaged' (12 general-knowledge pairs)")
    seed: int = Field(0, description="seed of the relearn split, the folds, training and the option order")
    few_shot: PositiveInt = Field(3, description="few-shot: other forget pairs before each question")
    jailbreaks: list[str] = Field(list(JAILBREAKS), description="jailbreak: wrappers to try")
    keep_models: bool = Field(False, description="keep the relearned models (each as large as the model)")

    _comma_lists = field_validator("attacks", "recovery_metrics", "jailbreaks", mode="before")(comma_list)

    @field_validator("attacks")
    @classmethod
    def _known_attacks(cls, value):
        expand(value, [])
        return value

    @field_validator("jailbreaks")
    @classmethod
    def _known_wrappers(cls, value):
        return check_jailbreaks(value)

    @property
    def measured_attacks(self) -> list[str]:
        return expand(self.attacks, self.jailbreaks)
