"""The settings of ``unlearn tune``: the forget settings every trial shares, and the study's own.

Every ``unlearn forget`` setting is a setting here too, with the same flag (``--method NPO+GD``,
``--npo.beta 0.2``): it is the value every trial uses unless the search space samples it. A setting given
explicitly is fixed and leaves the default space (``tuning/space.py``). The forget settings that would
make a trial resume or keep checkpoints are not settings here: a trial always starts afresh (a killed
study resumes by its storage, trial by trial) and writes no per-epoch checkpoints.

The evaluation of every trial and of the target is ``eval:`` (YAML), the settings of ``unlearn eval``
less the model, data and output folder, which tune sets. Its forget split defaults to the forget split
tuned on: tune on a validation split, and report by unlearning another with the chosen settings.

Light (pydantic and the registries): ``unlearn tune --help`` imports neither torch nor Optuna.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, PositiveInt, field_validator, model_validator

from unlearn.config import comma_list, none_word, validate_settings
from unlearn.errors import UserError
from unlearn.evaluation.eval_settings import EvalSettings
from unlearn.objectives.registry import part_defaults
from unlearn.selection.registry import checked_choice
from unlearn.training.forget_settings import ForgetSettings
from unlearn.tuning.objectives import Objective, parse_objectives
from unlearn.tuning.space import Dimension, fixed_defaults, search_space, tunable_settings

# set by tune in the eval section: the model evaluated and where its evaluation goes (eval: {data: ...} names
# another folder than --data, where the questions are apart from what the trials unlearn)
EVAL_SET_BY_TUNE = ("model", "out", "overwrite")
# shared by a forget run and its evaluation, so a trial is evaluated as it was trained (eval may override)
SHARED_WITH_EVAL = ("prompt_template", "plain_template", "max_length", "answer_field", "device", "dtype",
                    "threads", "trust_remote_code", "allow_pickle")
# settings workers may differ in and still share the study: the machine's, and how each samples and chooses
LOCAL = {"model", "data", "out", "target_eval", "refusals", "reference", "device", "threads", "report_to",
         "logging_steps", "n_trials", "storage", "keep_models", "heartbeat_interval", "grace_period", "max_failures",
         "select", "select_args", "sampler", "sampler_seed", "startup_trials", "recheck_seeds"}


class TuneSettings(ForgetSettings):
    """Defaults: TPE over the method's default space, 20 trials, a forget and a utility score suited to the
    evaluation data, the trial chosen by ``utility-floor`` (the best forget score at utility >= 0.9 x the
    target's), SQLite storage in the output folder."""

    resume: ClassVar[bool] = False
    overwrite: ClassVar[bool] = False
    save_checkpoints: ClassVar[bool] = False
    keep_checkpoints: ClassVar[bool] = False

    out: str = Field(description="study folder: study.db (default storage), trials/, target_eval/, pareto.csv, "
                                 "pareto.json, pareto.png, best.yaml")
    n_trials: PositiveInt = Field(20, description="the study's total of finished (complete or pruned) trials; every "
                                                  "worker sharing the study stops when it has them")
    objectives: list[str] = Field([], description="NAME[:minimize|maximize|toward=VALUE] ..., the forget score first, "
                                                  "then the utility score (default: suited to the data, e.g. "
                                                  "forget.fact_accuracy:minimize model_utility_tofu:maximize)")
    space: dict[str, Any] = Field(default_factory=dict, description="search space overrides (YAML): {lr: {low: 1e-6, "
                                                                    "high: 1e-4, log: true}, npo.beta: {low: 0.05, "
                                                                    "high: 0.5}, epochs: [1, 2, 3]}")
    eval: dict[str, Any] = Field(default_factory=dict, description="unlearn eval settings of every evaluation (YAML), "
                                                                   "e.g. {max_new_tokens: 32, nli_model: none}")
    target_eval: str | None = Field(None, description="a finished unlearn eval folder of --model made with the "
                                                      "trials' evaluation settings: read instead of evaluating the "
                                                      "target again (refused when its settings differ)")
    storage: str | None = Field(None, description="Optuna storage: an RDB URL (sqlite:///PATH, postgresql://...) or a "
                                                  "journal file (journal:PATH, or a path ending in .log) "
                                                  "(default: sqlite:///OUT/study.db)")
    study_name: str | None = Field(None, description="the study's name in the storage (default: METHOD-FORGET)")
    sampler: Literal["tpe", "random"] = Field("tpe", description="tpe: multi-objective TPE, Optuna's default; "
                                                                 "random: uniform sampling")
    sampler_seed: int = Field(0, description="seed of the sampler; trial k samples from seed and k, so workers "
                                             "never draw the same settings")
    startup_trials: PositiveInt = Field(10, description="trials sampled at random before TPE models the results")
    select: str = Field("utility-floor", description="rule choosing the trial written to best.yaml among the "
                                                     "completed ones (see unlearn forget --list-rules)")
    select_args: dict[str, dict] = Field(
        default_factory=dict, description="the rule's own settings: {utility-floor: {fraction: 0.8}} (flags: "
                                          "--utility-floor.fraction 0.8); the objectives and the target fill the "
                                          "metrics and the target's value")
    prune_floor: float | None = Field(0.5, gt=0, description="prune a trial once its utility during training falls "
                                                             "below this fraction of the target's (needs --curve.*, "
                                                             "evaluation during training); none: never")
    trial_seeds: list[int] = Field([], description="training seeds of every trial: it unlearns once per seed and "
                                                   "counts each objective's worst seed, so the chosen settings hold "
                                                   "over seeds, at that many times the cost (default: --seed only)")
    recheck_seeds: list[int] = Field([], description="after the trials, the chosen trial unlearns again with each "
                                                     "of these training seeds and counts each objective's worst "
                                                     "seed, and the rule chooses again until its choice was "
                                                     "re-checked: settings that hold over seeds, for a few runs "
                                                     "more (default: none; trial_seeds runs every trial over seeds)")
    keep_models: bool = Field(False, description="keep each trial's unlearned model (by default deleted once "
                                                 "evaluated)")
    heartbeat_interval: PositiveInt = Field(60, description="seconds between a running trial's heartbeats in the "
                                                            "storage")
    grace_period: PositiveInt | None = Field(None, description="seconds without a heartbeat after which a running "
                                                               "trial counts as dead, is failed and retried (default: "
                                                               "2 x heartbeat_interval)")
    max_failures: PositiveInt = Field(3, description="a worker stops after this many failed trials in a row")

    _comma_lists = field_validator("objectives", "trial_seeds", "recheck_seeds", mode="before")(comma_list)

    _tune_none_words = field_validator("storage", "study_name", "prune_floor", mode="before")(none_word)

    @model_validator(mode="after")
    def _selection_settings(self):
        """Replaces ``unlearn forget``'s check of the same name: here the rule chooses a trial, not a
        checkpoint, and the settings it reads from the objectives and the target (``target_utility``) are
        filled in once they are known (``front.check_rule``). A trial keeps its last checkpoint."""
        self.__dict__["select"], self.__dict__["select_args"] = checked_choice(self.select, self.select_args)
        if self.curve is not None and self.curve.stop_when_selected:
            raise ValueError("curve.stop_when_selected: a trial chooses no checkpoint in tune (--select chooses "
                             "among trials); leave it out")
        return self

    @model_validator(mode="after")
    def _tune_settings(self):
        """The objectives, the space and the eval section, each checked before anything loads (the rule and
        its settings are checked as ``unlearn forget`` checks them)."""
        try:  # a ValueError, so that the message names where the settings came from
            parse_objectives(self.objectives)
            self.dimensions  # noqa: B018 (checks the space)
        except UserError as error:
            raise ValueError(str(error)) from None
        set_by_tune = [key for key in self.eval if key in EVAL_SET_BY_TUNE]
        if set_by_tune:
            raise ValueError(f"eval: '{set_by_tune[0]}' is set by tune (the trial's model, a folder in --out)")
        self.eval_settings(self.model, Path(self.out) / "target_eval")
        return self

    @field_validator("trial_seeds", "recheck_seeds")
    @classmethod
    def _distinct_seeds(cls, seeds: list[int], info) -> list[int]:
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"{info.field_name} {seeds}: a seed is named twice")
        return seeds

    @model_validator(mode="after")
    def _recheck_other_seeds(self):
        run = set(self.recheck_seeds) & set(self.seeds_per_trial)
        if run:
            raise ValueError(f"recheck_seeds {self.recheck_seeds}: every trial already runs seed "
                             f"{min(run)}; recheck with other seeds")
        return self

    @property
    def seeds_per_trial(self) -> list[int]:
        """The training seeds each trial runs: ``trial_seeds``, else the forget settings' seed."""
        return self.trial_seeds or [self.seed]

    @property
    def parsed_objectives(self) -> list[Objective]:
        return parse_objectives(self.objectives)

    @property
    def given_names(self) -> set[str]:
        """The tunable settings given explicitly: they stay fixed unless ``space`` names them."""
        tunable = tunable_settings(self.method, self.mask)
        given = {name for name in self.model_fields_set if name in tunable}
        implied = part_defaults(self.method)  # what the method sets for its other parts (PDU's dual warm-up)
        given |= {f"{part.lower()}.{name}" for part, args in self.method_args.items() for name, value in args.items()
                  if implied.get(part, {}).get(name, object()) != value}
        return given

    @property
    def dimensions(self) -> list[Dimension]:
        """The study's search space."""
        return search_space(self.method, self.mask, self.given_names, self.space, self._space_defaults())

    @property
    def fixed_defaults(self) -> list[str]:
        """The default dimensions that the given settings fix (see ``space.fixed_defaults``)."""
        return fixed_defaults(self.method, self.mask, self.given_names, self.space, self._space_defaults())

    def _space_defaults(self) -> dict:
        return {"learning_rate": self.learning_rate, "epochs": self.epochs,
                "regularizer_weight": self.regularizer_weight}

    @property
    def name(self) -> str:
        return self.study_name or f"{self.method}-{self.forget}"

    @property
    def storage_url(self) -> str:
        return self.storage or f"sqlite:///{(Path(self.out) / 'study.db').absolute()}"

    def forget_values(self) -> dict:
        """The forget settings every trial starts from: those given, less the study's own."""
        names = (set(ForgetSettings.model_fields) & set(type(self).model_fields)) - {"out", "select", "select_args"}
        return self.model_dump(include=names, exclude_unset=True)

    def eval_settings(self, model: str, out: Path) -> EvalSettings:
        """The evaluation of ``model`` into ``out``: the eval section over the settings a trial shares with
        its evaluation, the forget split tuned on and ``--data`` unless the section names others."""
        shared = {name: getattr(self, name) for name in SHARED_WITH_EVAL if name in self.model_fields_set}
        values = {**shared, "forget": self.forget, "data": self.data, **self.eval, "model": model, "out": str(out)}
        try:
            return validate_settings(EvalSettings, values, "eval")
        except UserError as error:
            raise ValueError(str(error)) from None

    def fingerprint(self) -> dict:
        """What makes two workers' trials comparable: every setting but the machine-local ones."""
        values = self.model_dump(exclude=LOCAL | {"objectives"})  # the objectives are compared on their own
        values["space"] = [d.record() for d in self.dimensions]
        values["eval"] = self.eval_settings("-", Path("-")).model_dump(
            exclude={"model", "data", "out", "device", "threads", "retain_eval"})
        return values
