"""The settings of the evaluation during training (``--curve.*``; YAML ``curve: {...}``).

A light evaluation of a fixed subset at chosen steps gives the curve that a selection rule
(``--select``) reads; these knobs say when it runs, on what and how long the answers are. Kept apart
from the evaluation itself (torch) so that ``unlearn forget --help`` stays light.
"""

from __future__ import annotations

from pydantic import Field, NonNegativeInt, PositiveInt, field_validator

from unlearn.benchmarks.registry import suites as registered_suites
from unlearn.config import PartSettings, comma_list, none_word


class CurveSettings(PartSettings):
    every_steps: PositiveInt | None = Field(None, description="evaluate every N optimizer steps (default: none)")
    every_epoch: bool | None = Field(None, description="evaluate at the end of every epoch (default: on unless "
                                                       "every_steps is given)")
    at_start: bool = Field(True, description="evaluate the model before the first step too (step 0)")
    examples: PositiveInt = Field(32, description="examples per split, a fixed seeded subset (all of a smaller "
                                                  "split)")
    subset_seed: NonNegativeInt = Field(0, description="seed of the subset; the same for every run, so curves of "
                                                       "runs with other training seeds compare")
    max_new_tokens: PositiveInt = Field(32, description="longest greedy answer")
    batch_size: PositiveInt = Field(16, description="sequences per scoring batch")
    forget: str | None = Field(None, description="forget split evaluated (default: the run's --forget; its "
                                                 "_perturbed version is read when present); none: no forget split")
    retain_split: str | None = Field("retain_perturbed", description="retain split for model utility")
    real_authors: str | None = Field("real_authors_perturbed", description="real-authors utility split")
    world_facts: str | None = Field("world_facts_perturbed", description="world-facts utility split")
    holdout: str | None = Field("auto", description="non-member split for the membership AUCs (auto: holdoutNN "
                                                    "matching forgetNN, skipped where the data has none; none: off)")
    suites: list[str] = Field([], description="benchmark suites run at each point with their default settings, on "
                                              "their whole data (muse for the muse rule's muse.knowmem_f)")
    retain_eval: str | None = Field(None, description="eval folder of the retain-only model: forget quality on the "
                                                      "subset (and PrivLeak) at each point")
    stop_when_selected: bool = Field(False, description="stop training once the --select rule chooses a checkpoint "
                                                        "(rules that choose the first checkpoint that ...)")

    _none_words = field_validator("forget", "retain_split", "real_authors", "world_facts", "holdout", "retain_eval",
                                  mode="before")(none_word)
    _comma_lists = field_validator("suites", mode="before")(comma_list)

    @property
    def on_epochs(self) -> bool:
        """Whether epoch ends are evaluation points."""
        return self.every_epoch if self.every_epoch is not None else self.every_steps is None

    def suite_not_run(self, metrics: list[str]) -> tuple[str, str] | None:
        """``(metric, suite)`` for the first of ``metrics`` that is a suite's number (``muse.knowmem_f``) of a
        suite the curve does not run; None when the curve computes them all."""
        running = {name.lower() for name in self.suites}
        for metric in metrics:
            prefix = metric.strip().removeprefix("overall.").partition(".")[0]
            for name, spec in registered_suites().items():
                if spec.suite and prefix in (name.lower(), name.lower().replace("-", "_"), spec.suite.summary_key):
                    if name.lower() not in running:
                        return metric, name
        return None

