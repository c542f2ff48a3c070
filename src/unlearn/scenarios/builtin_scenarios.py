"""The scenarios that ship, each with its own settings: one ``register`` call each.

Each scenario's settings reach it as ``scenario_args`` in the experiment file (``scenario: muse`` with
``scenario_args: {protocol: scalability}``); a setting of another scenario is refused. Their run
functions are named, not imported, so this module stays light (pydantic only).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt, field_validator

from unlearn.config import PartSettings, comma_list
from unlearn.scenarios.registry import Scenario, register


def _utility_records():
    return Field(None, description="evaluate only the first N real-authors and world-facts records (faster)")


class WorldSettings(PartSettings):
    """The built-in benchmark's invented people (``unlearn data fictitious``)."""

    people: PositiveInt = Field(20, description="built-in benchmark: invented people")
    qa_per_person: PositiveInt = Field(5, description="built-in benchmark: questions per person")
    data_seed: int = Field(0, description="built-in benchmark: generator seed")


class FictitiousSettings(WorldSettings):
    utility_records: PositiveInt | None = _utility_records()


class ContinualSettings(FictitiousSettings):
    requests: PositiveInt | None = Field(None, description="cut the forget split into this many consecutive "
                                                           "requests (default: its task_id groups)")
    reference: Literal["original", "previous"] = Field(
        "original", description="NPO/DPO/KL reference: the original model, or the previous request's")


class RealWorldSettings(PartSettings):
    utility_records: PositiveInt | None = _utility_records()
    keep_only_known: bool = Field(True, description="keep only questions the model answers correctly (false: keep "
                                                    "all)")
    answer_field: str = Field(
        "golden_answer", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="the seed paper's files (forget, neighbor, forget_perturbed, neighbor_perturbed): the field of "
                    "forget_perturbed and neighbor_perturbed that the evaluation scores against (training reads "
                    "'answer')")


class WmdpSettings(PartSettings):
    entities: PositiveInt = Field(20, le=96, description="built-in data: invented viruses (forget) and minerals "
                                                         "(utility)")
    data_seed: int = Field(0, description="built-in data: generator seed")
    target_split: str = Field("train_corpus", description="the split the target model is fine-tuned on (not used "
                                                          "with target_model)")
    corpora: str | None = Field(None, description="a second source (Hub id or folder) for the forget and retain "
                                                  "corpora, e.g. cais/wmdp-corpora with data: cais/wmdp")
    choice_forget: list[str] = Field(["forget_choice"], description="multiple-choice splits of the forgotten "
                                                                    "knowledge (WMDP's bio, cyber)")
    choice_utility: list[str] = Field(["retain_choice"], description="multiple-choice splits kept as utility (MMLU "
                                                                     "format)")

    _comma_lists = field_validator("choice_forget", "choice_utility", mode="before")(comma_list)


class MuseSettings(WorldSettings):
    retrained_auc: float | None = Field(None, gt=0.0, le=1.0, description="with retain_model none: the retrained "
                                        "model's PrivLeak AUC (MUSE News 0.4772, Books 0.5393)")
    protocol: Literal["standard", "scalability", "sustainability"] = Field(
        "standard", description="standard (unlearn raw.forget), scalability (each scal.forget_k from the target), "
                                "sustainability (sust.forget_1..4 one after another)")


class RwkuSettings(PartSettings):
    data_seed: int = Field(0, description="built-in probes: generator seed")


TOFU_INTRO = ("Model {model}, data {data}, forget split {forget}, retain split {retain}. Arrows say which direction is "
              "better; n/c = not computed (reasons at the end). Squares in the scatter plot are the target and retain "
              "models; the retain model is the reference of forget quality and PrivLeak, so those are not computed "
              "for itself.")


# the anchor models a scenario's forget steps give a selection rule (scenarios/selection_refs.py)
BOTH, TARGET_ONLY = ("target", "retain"), ("target",)


def _suite_intro(text: str) -> str:
    return f"Model {{model}}, data {{data}}: {text}; n/c = not computed."


register(Scenario(
    "fictitious", "TOFU: fine-tune target and retain models on invented people, unlearn a forget split, compare",
    "unlearn.scenarios.fictitious:run", FictitiousSettings, intro=TOFU_INTRO, attacks=True, benchmark="fictitious",
    reference_models=BOTH))
register(Scenario(
    "continual", "TOFU, continual: a sequence of forget requests (the forget split's task_id groups), each "
                 "unlearned from the previous model and evaluated on everything forgotten so far",
    "unlearn.scenarios.continual:run", ContinualSettings, intro=TOFU_INTRO, benchmark="fictitious",
    reference_models=BOTH))
register(Scenario(
    "real_world", "Real world: forget what the base model learned in pre-training about real entities; locality "
                  "on held-out neighbor entities",
    "unlearn.scenarios.real_world:run", RealWorldSettings, forget=None, retain=None,
    intro="Model {model}, data {data}: the forget split holds the questions about the target entities, the retain "
          "split the held-out neighbor entities (locality). Arrows say which direction is better; n/c = not computed "
          "(reasons at the end). There is no retain model, so forget quality and PrivLeak are not computed.",
    reference_models=TARGET_ONLY))
register(Scenario(
    "wmdp", "WMDP: unlearn a raw-text corpus, measure by zero-shot multiple choice (forget and utility questions)",
    "unlearn.scenarios.wmdp:run", WmdpSettings, forget="forget_corpus", retain="retain_corpus",
    intro=_suite_intro("each method unlearned the forget corpus (raw text); every model answers the multiple-choice "
                       "splits zero-shot as lm-eval does. Forget accuracy should fall to chance, utility accuracy "
                       "should stay"), benchmark="wmdp", suites=("choice",), reference_models=TARGET_ONLY))
register(Scenario(
    "muse", "MUSE: unlearn news articles (raw text); VerbMem, KnowMem and PrivLeak against a retrained model",
    "unlearn.scenarios.muse:run", MuseSettings, forget="raw.forget", retain="raw.retain1",
    intro=_suite_intro("each method unlearned the forget articles (raw text); VerbMem and KnowMem on the forget set "
                       "should fall, KnowMem on the retain set should stay, PrivLeak near 0 means as private as the "
                       "retrained model"), benchmark="muse", suites=("muse",), reference_models=BOTH))
register(Scenario(
    "rwku", "RWKU: unlearn the model's own writing about real targets; RWKU's probes on targets and neighbors",
    "unlearn.scenarios.rwku:run", RwkuSettings, forget=None, retain=None,
    intro=_suite_intro("each method unlearned the model's own writing about the targets; RWKU's probes ask about the "
                       "targets (should fall) and their neighbors (should stay)"), benchmark="rwku", suites=("rwku",),
    reference_models=TARGET_ONLY))
