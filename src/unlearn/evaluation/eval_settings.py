"""The settings of ``unlearn eval``.

Kept apart from ``evaluation/run.py`` (torch, the metrics, the data) so that reading or checking
them, and ``unlearn eval --help``, import nothing heavy. A suite's own knobs are not fields here: each
suite declares them in its benchmark's registration, and they arrive in ``suite_args``
(``--muse.verbmem-tokens 64``, or ``suite_args: {muse: {verbmem_tokens: 64}}`` in YAML). The flat names
of release 0.1 (``muse``, ``muse_verbmem_tokens``, ``choice_forget``, ``lm_eval_tasks``, ...) are mapped
for one more release, with a warning (``RENAMED``).
"""

from __future__ import annotations

import logging
from typing import ClassVar, Literal

from pydantic import Field, PositiveFloat, PositiveInt, field_validator, model_validator

from unlearn.benchmarks.registry import chosen_suites, suite_settings
from unlearn.config import PartSettings, check_part_args, comma_list, none_word, old_flag_value, part_flag
from unlearn.metrics import CONFIDENCE, RESAMPLES
from unlearn.training.settings import DataSettings, ModelSettings

DEFAULT_NLI_MODEL = "sileod/deberta-v3-base-tasksource-nli"

log = logging.getLogger(__name__)

# release 0.1's flat name -> (its suite, its setting there or None for the suite's switch, whether giving it ran
# the suite); mapped with a warning until 0.3
RENAMED = {
    "muse": ("muse", None, True), "muse_retrained_auc": ("muse", "retrained_auc", False),
    "muse_verbmem_tokens": ("muse", "verbmem_tokens", False), "muse_knowmem_tokens": ("muse", "knowmem_tokens", False),
    "muse_min_k": ("muse", "min_k", False),
    "rwku": ("rwku", None, True), "rwku_split_suffix": ("rwku", "split_suffix", False),
    "rwku_new_tokens": ("rwku", "new_tokens", False),
    "choice_forget": ("choice", "forget", True), "choice_utility": ("choice", "utility", True),
    "choice_format": ("choice", "format", False),
    "lm_eval_tasks": ("lm-eval", "tasks", True), "lm_eval_include_path": ("lm-eval", "include_path", False),
    "lm_eval_limit": ("lm-eval", "limit", False), "lm_eval_num_fewshot": ("lm-eval", "num_fewshot", False),
}
RENAMED_BOOLEANS = ("muse", "rwku")  # flags that were --x / --no-x


class EvalSettings(DataSettings, ModelSettings):
    """Defaults read TOFU's evaluation splits, which the built-in benchmark also has. The other benchmarks'
    suites are chosen by ``suites`` and take their own settings in ``suite_args`` (``benchmarks/registry.py``)."""

    RENAMED: ClassVar[dict] = RENAMED
    PART_ARGS: ClassVar[str] = "suite_args"  # where the suites' flags go
    # settings added after evaluations and tune studies were stored, at the value that evaluates as before they
    # existed: left out of what a run records and a study compares, so those stay reusable
    ADDED_LATER: ClassVar[dict] = {"generation_backend": "hf", "refusals": None}

    forget: str | None = Field("forget10", description="forget split (its _perturbed version is read when "
                                                       "present); none: no question-answer forget split")
    retain_split: str | None = Field("retain_perturbed", description="retain split for model utility")
    real_authors: str | None = Field("real_authors_perturbed", description="real-authors utility split")
    world_facts: str | None = Field("world_facts_perturbed", description="world-facts utility split")
    holdout: str | None = Field("auto", description="non-member split for membership inference "
                                                    "(auto: holdoutNN matching forgetNN, if present)")
    suites: list[str] = Field([], description="benchmark suites run beside the question-answer splits: muse, rwku, "
                                              "choice, lm-eval, ... (see --list-benchmarks)")
    suite_args: dict[str, dict] = Field(
        default_factory=dict, description="the suites' own settings, by suite: {muse: {verbmem_tokens: 64}} (flags: "
                                          "--muse.verbmem-tokens 64); see --list-benchmarks")
    retain_eval: str | None = Field(None, description="eval folder of the retain-only model (for forget quality "
                                                      "and PrivLeak)")
    out: str = Field(description="output folder for the evaluation files")
    max_new_tokens: PositiveInt = Field(128, description="longest greedy answer")
    batch_size: PositiveInt = Field(16, description="sequences per scoring batch")
    generation_batch_size: PositiveInt = Field(64, description="questions per generation batch (each answer leaves "
                                                               "it at its EOS; on CPU a decoding step costs about "
                                                               "the same for 8 or 40 rows, so fewer batches are "
                                                               "faster)")
    generation_backend: Literal["hf", "vllm"] = Field(
        "hf", description="greedy answers by transformers (hf) or by vLLM (CUDA only, the vllm extra, a model "
                          "folder; scoring stays on transformers)")
    min_k: PositiveFloat = Field(0.2, le=1.0, description="fraction of lowest-probability tokens for Min-K% and "
                                                          "Min-K%++")
    confidence: float = Field(CONFIDENCE, gt=0.0, lt=1.0, description="level of the confidence intervals")
    bootstrap_resamples: int = Field(RESAMPLES, ge=100, description="bootstrap resamples per interval (seeded)")
    embedder: str | None = Field("packaged", description="sentence embedder for cosine similarity: 'packaged' "
                                                 "(all-MiniLM-L6-v2, offline), a folder or Hub id, or none = skip")
    nli_model: str | None = Field(DEFAULT_NLI_MODEL, description="NLI model for the entailment score (none = skip)")
    refusals: str | None = Field(None, description="file of answer openings, one per line, that the refusal rate "
                                                   "counts (default: the packaged refusal phrases IDK methods "
                                                   "train toward and openings such as \"I'm sorry\", \"I can't\")")
    overwrite: bool = Field(False, description="reuse an output folder that holds another run")

    _none_words = field_validator("forget", "retain_split", "real_authors", "world_facts", "holdout", "retain_eval",
                                  "embedder", "nli_model", "refusals", mode="before")(none_word)

    _comma_lists = field_validator("suites", mode="before")(comma_list)

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, values):
        """Release 0.1's flat names, moved into ``suites`` and ``suite_args``."""
        if not isinstance(values, dict) or not RENAMED.keys() & values.keys():
            return values
        values = dict(values)
        suites = list(comma_list(cls, values.get("suites") or []))
        suite_args = {key: dict(args) for key, args in (values.get("suite_args") or {}).items()}
        # a name that ran its suite first, so that the others find it running
        for old in sorted((key for key in values if key in RENAMED), key=lambda key: RENAMED[key][2] is False):
            value = values.pop(old)
            suite, name, runs = RENAMED[old]
            if name is None:  # the suite's switch
                if value is True and suite not in suites:
                    suites.append(suite)
                log.warning("setting '%s' is renamed --suites %s (YAML: suites: [%s]); the old name goes in release "
                            "0.3", old, suite, suite)
                continue
            value = old_flag_value(value, suite_settings()[suite], name)
            if runs and value and suite not in suites:
                suites.append(suite)
            if suite not in suites:
                log.warning("setting '%s' is for suite %s, which is not run: ignored", old, suite)
                continue
            suite_args.setdefault(suite, {}).setdefault(name, value)
            log.warning("setting '%s' is renamed %s (YAML: suite_args: {%s: {%s: ...}}); the old name goes in release "
                        "0.3", old, part_flag(suite, name), suite, name)
        values["suites"], values["suite_args"] = suites, suite_args
        return values

    @model_validator(mode="after")
    def _suite_settings(self):
        """Check ``suites`` against the registry and ``suite_args`` against the settings of the suites run."""
        chosen = [spec.name for spec in chosen_suites(self.suites)]
        running = {name.lower() for name in chosen}
        idle = [key for key in self.suite_args if str(key).lower() not in running]
        if idle:
            raise ValueError(f"settings of suite '{idle[0]}' given, but it is not run (add it to --suites; running: "
                             f"{', '.join(chosen) or 'none'})")
        parts = {name: model for name, model in suite_settings().items() if name in chosen}
        self.__dict__["suites"] = list(dict.fromkeys(self.suites))
        self.__dict__["suite_args"] = check_part_args(self.suite_args, parts, "the evaluation's suites", "suite_args")
        return self

    def args_of(self, suite: str) -> PartSettings | None:
        """The settings of a suite (its defaults where none were given), or None for one without settings."""
        model = suite_settings().get(suite)
        return model.model_validate(self.suite_args.get(suite, {})) if model else None
