"""Settings of ``unlearn attack``: an evaluation's settings plus each attack's, defaults from the papers."""

from __future__ import annotations

import difflib

from pydantic import Field, PositiveFloat, PositiveInt, field_validator

from unlearn.attacks.catalog import check_jailbreaks, expand
from unlearn.attacks.prompts import JAILBREAKS
from unlearn.attacks.recovery import MIN_GAP
from unlearn.config import comma_list
from unlearn.evaluation.run import EvalSettings

# the forget metrics with a per-question column (``evaluation.evaluator.metric_columns``)
FORGET_METRICS = ["rougeL_recall", "rouge1_recall", "probability", "truth_ratio", "token_entropy", "cosine_similarity",
                  "entailment_score", "fact_accuracy", "exact_memorization", "extraction_strength"]
RECOVERY_METRICS = ["fact_accuracy", "rougeL_recall", "probability", "cosine_similarity", "entailment_score",
                    "extraction_strength"]


class AttackSettings(EvalSettings):
    """``model`` is the unlearned model; ``original`` the model before unlearning (the target);
    ``control`` a model that never saw the forget data (the retain model), attacked the same way.
    Relearning defaults are Lucki et al.'s (LoRA r 128, alpha 16, lr 2e-4, 3 epochs, batch 1);
    the K-fold variant is Deeb & Roger's (K = 5, full fine-tuning, 6 epochs, best of a learning-rate
    sweep)."""

    original: str = Field(description="the model before unlearning (the target): the ceiling of recovery")
    control: str | None = Field(None, description="a model that never saw the forget data (the retain model): every "
                                                  "attack is run on it too, and recovery counts only what comes back "
                                                  "beyond it; without it, recovery is against the unattacked floor")
    control_eval: str | None = Field(None, description="a finished plain evaluation of the control model on the same "
                                                       "forget split, reused instead of evaluating again")
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
    relearn_folds: int = Field(5, ge=2, description="relearn-kfold: K (trains on K-1 folds, measures the other)")
    relearn_fold_epochs: PositiveFloat = Field(6.0, description="relearn-kfold: epochs per fold")
    relearn_fold_lora: bool = Field(False, description="relearn-kfold: train a LoRA adapter (the relearn_lora_* "
                                                       "settings) instead of all weights: cheaper, recovers less")
    relearn_fold_learning_rates: list[PositiveFloat] = Field(
        [1e-5, 3e-5, 1e-4], description="relearn-kfold: learning rates tried; with more than one, the best is chosen "
                                        "on fold 1's held-out questions and folds 2..K are reported")
    relearn_unrelated: str = Field("packaged", description="relearn-unrelated: a JSON-lines file of question/answer "
                                                           "records, or 'packaged' (12 general-knowledge pairs)")
    seed: int = Field(0, description="seed of the relearn split, the folds, training and the option order")
    few_shot: PositiveInt = Field(3, description="few-shot: other forget pairs before each question")
    jailbreaks: list[str] = Field(list(JAILBREAKS), description="jailbreak: wrappers to try")
    keep_models: bool = Field(False, description="keep the relearned models (each as large as the model)")

    _comma_lists = field_validator("attacks", "recovery_metrics", "jailbreaks", "relearn_fold_learning_rates",
                                   mode="before")(comma_list)

    @field_validator("attacks")
    @classmethod
    def _known_attacks(cls, value):
        if not value:
            raise ValueError("no attack named; give one or more (or 'all')")
        expand(value, [])
        return list(dict.fromkeys(value))

    @field_validator("jailbreaks")
    @classmethod
    def _known_wrappers(cls, value):
        if not value:
            raise ValueError(f"no jailbreak wrapper named; give one or more of {', '.join(JAILBREAKS)}")
        return check_jailbreaks(list(dict.fromkeys(value)))

    @field_validator("recovery_metrics")
    @classmethod
    def _known_metrics(cls, value):
        if not value:
            raise ValueError("no recovery metric named")
        for name in value:
            if name not in FORGET_METRICS:
                close = difflib.get_close_matches(name, FORGET_METRICS, n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(FORGET_METRICS)}"
                raise ValueError(f"'{name}' is not a forget metric ({hint})")
        return list(dict.fromkeys(value))

    @field_validator("relearn_fold_learning_rates")
    @classmethod
    def _some_rates(cls, value):
        if not value:
            raise ValueError("give at least one learning rate")
        return value

    @property
    def measured_attacks(self) -> list[str]:
        return expand(self.attacks, self.jailbreaks)
