"""Settings of ``unlearn attack``: what every attack shares, and each attack's own settings.

Shared: the models (unlearned, original, control), the evaluations' settings (the fields of
``unlearn eval`` that an attack's evaluations read, and nothing else: no MUSE, RWKU, lm-eval or
multiple-choice suites), recovery and the seed. Each attack's own knobs are declared by its
registration (``catalog.py``) and arrive in ``attack_args`` (``--relearn.epochs 2``, or
``attack_args: {relearn: {epochs: 2}}`` in YAML); settings of an attack that ``--attacks`` does
not run are refused. The flat names of release 0.1 (``relearn_epochs``, ``few_shot``,
``jailbreaks``, ...) are mapped to their attack for one more release, with a warning (``RENAMED``).
"""

from __future__ import annotations

import difflib
import logging
from copy import copy
from typing import ClassVar

from pydantic import Field, PositiveFloat, create_model, field_validator, model_validator

from unlearn.attacks import catalog
from unlearn.attacks.recovery import MIN_GAP
from unlearn.config import check_part_args, comma_list, move_renamed, none_word, part_flag
from unlearn.evaluation.eval_settings import EvalSettings
from unlearn.evaluation.metric_registry import split_metrics
from unlearn.training.settings import DataSettings, ModelSettings

log = logging.getLogger(__name__)

RECOVERY_METRICS = ["fact_accuracy", "rougeL_recall", "probability", "cosine_similarity", "entailment_score",
                    "extraction_strength"]

# the settings of ``unlearn eval`` that the attacks' evaluations read (the splits, the metrics' options, the
# semantic models), taken with their definitions; the suites' settings are not among them
EVAL_FIELDS = ("forget", "retain_split", "real_authors", "world_facts", "holdout", "retain_eval", "max_new_tokens",
               "batch_size", "generation_batch_size", "min_k", "confidence", "bootstrap_resamples", "embedder",
               "nli_model")
NONE_WORD_FIELDS = ("forget", "retain_split", "real_authors", "world_facts", "holdout", "retain_eval", "embedder",
                    "nli_model")

# release 0.1's flat name -> (the attacks that took it, its name there); mapped with a warning until 0.3
RENAMED = {
    "relearn_fraction": (("relearn",), "fraction"),
    "relearn_lora": (("relearn", "relearn-unrelated"), "lora"),
    "relearn_lora_r": (("relearn", "relearn-unrelated", "relearn-kfold"), "lora_r"),
    "relearn_lora_alpha": (("relearn", "relearn-unrelated", "relearn-kfold"), "lora_alpha"),
    "relearn_learning_rate": (("relearn", "relearn-unrelated"), "learning_rate"),
    "relearn_epochs": (("relearn", "relearn-unrelated"), "epochs"),
    "relearn_batch_size": (("relearn", "relearn-unrelated", "relearn-kfold"), "batch_size"),
    "relearn_folds": (("relearn-kfold",), "folds"),
    "relearn_fold_epochs": (("relearn-kfold",), "epochs"),
    "relearn_fold_lora": (("relearn-kfold",), "lora"),
    "relearn_fold_learning_rates": (("relearn-kfold",), "learning_rates"),
    "relearn_unrelated": (("relearn-unrelated",), "source"),
    "few_shot": (("few-shot",), "shots"),
    "jailbreaks": (("jailbreak",), "wrappers"),
}
RENAMED_BOOLEANS = ("relearn_lora", "relearn_fold_lora")  # flags that were --x / --no-x

AttackEvalSettings = create_model(
    "AttackEvalSettings", __base__=(DataSettings, ModelSettings),
    __doc__="The settings of unlearn eval that the attacks' evaluations read, with the same definitions.",
    **{name: (EvalSettings.model_fields[name].annotation, copy(EvalSettings.model_fields[name]))
       for name in EVAL_FIELDS})


class AttackSettings(AttackEvalSettings):
    """``model`` is the unlearned model; ``original`` the model before unlearning (the target);
    ``control`` a model that never saw the forget data (the retain model), attacked the same way."""

    RENAMED: ClassVar[dict] = RENAMED
    PART_ARGS: ClassVar[str] = "attack_args"  # where the attacks' flags go

    original: str = Field(description="the model before unlearning (the target): the ceiling of recovery")
    control: str | None = Field(None, description="a model that never saw the forget data (the retain model): every "
                                                  "attack is run on it too, and recovery counts only what comes back "
                                                  "beyond it; without it, recovery is against the unattacked floor")
    control_eval: str | None = Field(None, description="a finished plain evaluation of the control model on the same "
                                                       "forget split, reused instead of evaluating again")
    attacks: list[str] = Field(["all"], description="attacks to run (names, or comma-separated), or all; see "
                                                    "--list-attacks")
    attack_args: dict[str, dict] = Field(
        default_factory=dict, description="each attack's own settings, by attack: {relearn: {epochs: 2}} (flags: "
                                          "--relearn.epochs 2); see --list-attacks")
    unlearned_eval: str | None = Field(None, description="a finished plain evaluation of the unlearned model on the "
                                                         "same forget split, reused instead of evaluating again")
    original_eval: str | None = Field(None, description="the same for the original model")
    recovery_metrics: list[str] = Field(RECOVERY_METRICS, description="forget metrics whose recovery is reported "
                                                                      "(higher = more knowledge)")
    min_gap: PositiveFloat = Field(MIN_GAP, description="recovery is not computed when unlearning changed a "
                                                        "metric by less than this")
    seed: int = Field(0, description="seed of the relearn split, the folds, training and the option order")
    keep_models: bool = Field(False, description="keep the relearned models (each as large as the model)")
    out: str = Field(description="output folder: an evaluation folder per attack and attack_summary.json")
    overwrite: bool = Field(False, description="reuse an output folder that holds another run")
    resume: bool = Field(False, description="go on from the parts (attack_parts.json) that a stopped run of the same "
                                            "settings finished in --out; without it every attack runs again")

    _comma_lists = field_validator("attacks", "recovery_metrics", mode="before")(comma_list)

    _none_words = field_validator(*NONE_WORD_FIELDS, mode="before")(none_word)

    @field_validator("attacks")
    @classmethod
    def _known_attacks(cls, value):
        if not value:
            raise ValueError("no attack named; give one or more (or 'all')")
        catalog.chosen(value)
        return list(dict.fromkeys(value))

    @field_validator("recovery_metrics")
    @classmethod
    def _known_metrics(cls, value):
        if not value:
            raise ValueError("no recovery metric named")
        known = [m.name for m in split_metrics()]  # the metrics with a per-question column
        for name in value:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(known)}"
                raise ValueError(f"'{name}' is not a forget metric ({hint})")
        return list(dict.fromkeys(value))

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, values):
        """Release 0.1's flat names, moved into ``attack_args`` where the attacks chosen include theirs."""
        if not isinstance(values, dict) or not RENAMED.keys() & values.keys():
            return values
        try:
            running = {a.name for a in catalog.chosen(comma_list(cls, values.get("attacks", ["all"])))}
        except (ValueError, TypeError):  # said by the attacks' own check
            running = set()
        parts = {name: catalog.ATTACKS[name].settings for name in running if catalog.ATTACKS[name].settings}
        return move_renamed(values, RENAMED, parts, "attack_args", "which the attacks chosen do not include")

    @model_validator(mode="after")
    def _attack_settings(self):
        """``attack_args`` checked against the settings of the attacks chosen (``all``: every attack)."""
        running = catalog.chosen(self.attacks)
        by_lower = {name.lower(): name for name in catalog.ATTACKS}
        for key in self.attack_args:
            name = by_lower.get(str(key).lower())
            if name is None:
                raise ValueError(f"attack_args: no attack named '{key}' (known: {', '.join(catalog.ATTACKS)})")
            if name not in {a.name for a in running}:
                raise ValueError(f"settings of attack '{name}' ({part_flag(name, '*')}) do not apply: --attacks "
                                 f"{','.join(self.attacks)} does not run it")
        parts = {a.name: a.settings for a in running if a.settings}
        self.__dict__["attack_args"] = check_part_args(self.attack_args, parts, f"--attacks {','.join(self.attacks)}",
                                                       "attack_args")
        return self

    def args_of(self, attack: str):
        """The settings of one of the attacks chosen (its defaults where none were given), or None for
        an attack without settings."""
        return catalog.ATTACKS[attack].args(self.attack_args.get(attack))

    def measured(self) -> list[catalog.Measured]:
        """The measured attacks, in the registry's order, each with its attack's settings."""
        return catalog.expand(self.attacks, self.attack_args)


def shared_eval_values(values: dict) -> dict:
    """The settings of an experiment's shared ``eval`` section that the attacks' evaluations read (the
    suites' settings are for ``unlearn eval`` only)."""
    return {name: value for name, value in values.items() if name in AttackSettings.model_fields}
