"""Settings of ``unlearn meta-eval``: where the pool comes from, how its models are evaluated and attacked.

Two ways in: ``pool`` names a pool file (``pool.py``) over a benchmark (``data``), or is ``builtin``, and the
built-in recipe (``recipe.py``) builds the pool on the generated fictitious benchmark. Its own knobs
(``RecipeSettings``) and the relearning attack's (``catalog.RelearnSettings``) arrive in ``part_args``
(``--recipe.seeds 0 1``, ``--relearn.epochs 2``); the recipe's are refused with a pool file. Light on purpose
(pydantic only), so ``unlearn meta-eval --help`` imports no model library.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, field_validator, model_validator

from unlearn.attacks.catalog import RelearnSettings
from unlearn.config import PartSettings, check_part_args, comma_list, validate_settings
from unlearn.data.fictitious import MAX_FORGET_PERCENT
from unlearn.errors import UserError
from unlearn.evaluation.eval_settings import EvalSettings
from unlearn.models.gguf import DEFAULT_MODEL
from unlearn.scenarios.experiment import RESERVED

BUILTIN = "builtin"
# the meta-evaluation reads the forget split only: utility and membership inference are off unless the eval
# section turns them on (each costs an evaluation pass per model)
FORGET_ONLY = {"retain_split": None, "real_authors": None, "world_facts": None, "holdout": None}
POOL_FILE_FORGET, RECIPE_FORGET = "forget10", "forget50"
# the built-in recipe's evaluations: the demo's answer length; no NLI model ships offline (the entailment score is
# reported as not computed)
RECIPE_EVAL = {"max_new_tokens": 32, "nli_model": None}


class RecipeSettings(PartSettings):
    """The built-in pool: targets (fine-tuned on every fact) and retain models (on the retain facts only) for every
    seed and fine-tuning length, and each method's unlearned model from the longest-trained target of every seed.
    Fine-tuning and unlearning are the demo's (LoRA r 32 merged, lr 1e-3; ME+GD at lr 5e-4, 5 epochs)."""

    people: PositiveInt = Field(10, description="invented people of the built-in benchmark")
    qa_per_person: PositiveInt = Field(2, description="facts (questions) per person")
    data_seed: int = Field(0, description="generator seed of the benchmark")
    seeds: list[int] = Field([0, 1], min_length=1, description="training seeds: a target and a retain model each")
    finetune_epochs: list[PositiveFloat] = Field(
        [5.0, 10.0], min_length=1, description="fine-tuning lengths: a target and a retain model each (a shorter one "
                                               "knows the facts less well, which makes the pool harder to separate)")
    methods: list[str] = Field(["ME+GD"], description="unlearning methods ([] in YAML: no unlearned model, so no "
                                                      "robustness)")
    unlearn_learning_rate: PositiveFloat = Field(5e-4, description="the methods' learning rate (the demo's ME+GD)")

    _comma_lists = field_validator("seeds", "finetune_epochs", "methods", mode="before")(comma_list)

    @field_validator("seeds", "finetune_epochs")
    @classmethod
    def _distinct(cls, value):
        if len(set(value)) != len(value):
            raise ValueError("values must be distinct")
        return value


class MetaEvalSettings(BaseModel):
    """Where the pool comes from and where the results go; ``eval`` holds ``unlearn eval`` settings for every
    evaluation (the attacks' included), ``part_args`` the recipe's and the relearning attack's own settings."""

    model_config = ConfigDict(extra="forbid")
    PART_ARGS: ClassVar[str] = "part_args"

    pool: str = Field(BUILTIN, description="a pool YAML file (models with their role: knows, never_saw, unlearned; "
                                           "see the docs), or builtin: the built-in recipe builds the pool")
    data: str | None = Field(None, description="with a pool file: the benchmark its models are evaluated on (folder "
                                               "or Hub id); the built-in recipe generates its own")
    forget: str | None = Field(None, description=f"forget split (default: {POOL_FILE_FORGET} with a pool file, "
                                                 f"{RECIPE_FORGET} with the built-in recipe)")
    model: str = Field(DEFAULT_MODEL, description="built-in recipe: the base model of targets and retain models")
    eval: dict[str, Any] = Field(default_factory=dict, description="unlearn eval settings for every evaluation, e.g. "
                                                         "{max_new_tokens: 32} (YAML only); utility splits and "
                                                         "holdout are off unless set here")
    part_args: dict[str, dict] = Field(
        default_factory=dict, description="the recipe's and the relearning attack's own settings: {recipe: {seeds: "
                                          "[0, 1]}, relearn: {epochs: 2}} (flags: --recipe.seeds 0 1, "
                                          "--relearn.epochs 2)")
    device: Literal["auto", "cpu", "cuda", "mps"] = Field("auto", description="where to run")
    threads: PositiveInt | None = Field(None, description="torch CPU threads (default: torch's choice)")
    out: str = Field(description="output folder: meta_eval.json, .csv, .md, .png and the steps (reused on a rerun)")

    @model_validator(mode="after")
    def _sources(self):
        """A pool file needs its benchmark; the recipe makes its own; each part's settings apply to their source."""
        if self.builtin and self.data is not None:
            raise ValueError("the built-in recipe generates its own benchmark; --data is for a pool file (--pool FILE)")
        if not self.builtin and self.data is None:
            raise ValueError(f"--pool {self.pool} needs --data: the benchmark its models are evaluated on")
        if not self.builtin and "model" in self.model_fields_set:
            raise ValueError(f"--model is the built-in recipe's base model; --pool {self.pool} names its own models")
        if self.builtin and self.forget is not None and not (
                re.fullmatch(r"forget\d\d", self.forget) and 1 <= int(self.forget[-2:]) <= MAX_FORGET_PERCENT):
            raise ValueError(f"the built-in recipe's forget split is forgetNN, NN a percentage from 01 to "
                             f"{MAX_FORGET_PERCENT}, not '{self.forget}'")
        owner = "the built-in recipe" if self.builtin else f"--pool {self.pool}"
        self.__dict__["part_args"] = check_part_args(self.part_args, self.parts(), owner, "part_args")
        return self

    @property
    def builtin(self) -> bool:
        return self.pool == BUILTIN

    def parts(self) -> dict[str, type[BaseModel]]:
        """The parts whose settings apply: the relearning attack always, the recipe with ``pool: builtin``."""
        return {"relearn": RelearnSettings, **({"recipe": RecipeSettings} if self.builtin else {})}

    @property
    def recipe(self) -> RecipeSettings:
        return RecipeSettings.model_validate(self.part_args.get("recipe", {}))

    @property
    def relearn(self) -> dict:
        """The relearning attack's settings as given (its defaults apply to the rest)."""
        return self.part_args.get("relearn", {})

    @property
    def forget_split(self) -> str:
        return self.forget or (RECIPE_FORGET if self.builtin else POOL_FILE_FORGET)

    def eval_values(self) -> dict:
        """The evaluations' settings: forget split only, the recipe's defaults, then the ``eval`` section."""
        return {**FORGET_ONLY, **(RECIPE_EVAL if self.builtin else {}), **self.eval}


def check_eval_section(settings: MetaEvalSettings) -> None:
    """The ``eval`` section, checked as ``unlearn eval`` settings before any work; what the meta-evaluation sets
    itself (the model, data, forget split, output) is refused."""
    reserved = sorted((RESERVED | {"suites", "suite_args"}) & set(settings.eval))
    if reserved:
        raise UserError(f"eval: '{reserved[0]}' is set by the meta-evaluation itself (it reads the forget split of "
                        "each model); set it at the top level or leave it out")
    validate_settings(EvalSettings, {**settings.eval_values(), "data": "-", "out": "-"}, "eval")
