"""An experiment file: which scenario, data, models and methods, with per-step overrides.

The ``finetune``, ``unlearn`` and ``eval`` sections hold settings of ``unlearn finetune``,
``unlearn forget`` and ``unlearn eval``; they are validated against those commands' settings
when the file is read, so a typo fails before any step runs. A method entry is a name
(``ME+GD``) or a mapping with ``method``, an optional ``label``, its own overrides and an optional
``tune`` section (``unlearn tune`` first, its chosen settings then: ``scenarios/tuned.py``). The
scenario is one of the registry's (``scenarios/registry.py``), and ``scenario_args`` holds its
own settings, checked against the settings class it registered.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator, model_validator

from unlearn.config import PartSettings, comma_list, merge_part_args, validate_settings
from unlearn.errors import UserError
from unlearn.evaluation.eval_settings import EvalSettings
from unlearn.files import LOCK_FILE, SAFE_NAME, check_writable
from unlearn.models.gguf import DEFAULT_MODEL
from unlearn.objectives.registry import every_part, method_parts
from unlearn.scenarios.registry import find_scenario
from unlearn.scenarios.selection_refs import with_placeholders
from unlearn.training.finetune_settings import FinetuneSettings
from unlearn.training.forget_settings import ForgetSettings, check_settings
from unlearn.training.settings import OptimSettings

log = logging.getLogger(__name__)
DEFAULT_SEED = OptimSettings.model_fields["seed"].default

# release 0.1's flat name -> (the scenarios that took it, its name in their scenario_args); mapped with a warning
# until 0.3
_WORLD = ("fictitious", "continual", "muse")
RENAMED = {
    "people": (_WORLD, "people"), "qa_per_person": (_WORLD, "qa_per_person"),
    "data_seed": ((*_WORLD, "wmdp", "rwku"), "data_seed"),
    "utility_records": (("fictitious", "continual", "real_world"), "utility_records"),
    "requests": (("continual",), "requests"), "continual_reference": (("continual",), "reference"),
    "real_world_keep_only_known": (("real_world",), "keep_only_known"),
    "real_world_answer_field": (("real_world",), "answer_field"),
    "wmdp_entities": (("wmdp",), "entities"), "wmdp_target_split": (("wmdp",), "target_split"),
    "wmdp_corpora": (("wmdp",), "corpora"), "wmdp_choice_forget": (("wmdp",), "choice_forget"),
    "wmdp_choice_utility": (("wmdp",), "choice_utility"),
    "muse_retrained_auc": (("muse",), "retrained_auc"), "muse_protocol": (("muse",), "protocol"),
}

# Set by the experiment itself for every step; an override would break the step chain.
RESERVED = {"model", "data", "out", "split", "forget", "retain", "retain_eval", "reference", "overwrite", "resume",
            "device", "threads", "original", "unlearned_eval", "original_eval"}


class MethodEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: str
    label: str | None = None
    settings: dict = Field(default_factory=dict)
    tune: dict | None = None  # unlearn tune first, the chosen trial's settings then (scenarios/tuned.py)

    @property
    def name(self) -> str:
        return self.label or self.method


class ExperimentSettings(BaseModel):
    """Defaults: the fictitious scenario on the built-in benchmark and the packaged model.

    The scenario's own settings go in ``scenario_args`` (``scenario: muse`` with ``scenario_args:
    {protocol: scalability}``); ``unlearn run --list-scenarios`` lists each scenario's. A setting of
    another scenario is refused. Release 0.1's flat names (``people``, ``muse_protocol``,
    ``wmdp_entities``, ...) are moved into ``scenario_args`` for one more release, with a warning
    (``RENAMED``)."""

    model_config = ConfigDict(extra="forbid")
    RENAMED: ClassVar[dict] = RENAMED

    name: str = Field("experiment", pattern=f"^{SAFE_NAME}$",
                      description="experiment name: letters, digits, '_', '-', '.' (the default output folder is "
                                  "runs/NAME, so the name cannot lead out of runs/)")
    out: str | None = Field(None, description="output folder (default: runs/NAME)")
    scenario: str = Field("fictitious", description="a registered scenario (unlearn run --list-scenarios)")
    scenario_args: dict[str, Any] = Field(
        default_factory=dict, description="the scenario's own settings, e.g. {protocol: scalability} for muse "
                                          "(unlearn run --list-scenarios)")
    data: str = Field("builtin", description="'builtin' (the scenario's generated benchmark), a folder, or a Hub id")
    model: str = Field(DEFAULT_MODEL, description="base model to fine-tune (or to unlearn, real-world scenario)")
    target_model: str | None = Field(None, description="an already fine-tuned target model (skips fine-tuning)")
    retain_model: str | None = Field(None, description="an already fine-tuned retain model (skips fine-tuning)")
    forget: str | None = Field(None, description="forget split (default: the scenario's; continual: its task_id "
                                                 "groups are the requests; wmdp: the forget corpus)")
    retain: str | None = Field(None, description="retain split (default: the scenario's; fine-tunes the retain "
                                                 "model; regularizers use it; wmdp: the retain corpus)")
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    threads: PositiveInt | None = None
    methods: list[MethodEntry] = Field(default_factory=lambda: [MethodEntry(method="ME+GD")])
    seeds: list[int] | None = Field(None, min_length=1, description="training seeds: fine-tuning and every method run "
                                                                    "once per seed; the report gives mean and spread")
    finetune: dict = Field(default_factory=dict, description="unlearn finetune settings for target and retain models")
    unlearn: dict = Field(default_factory=dict, description="unlearn forget settings shared by every method")
    eval: dict = Field(default_factory=dict, description="unlearn eval settings")
    attacks: dict | None = Field(None, description="unlearn attack settings (e.g. {attacks: [all], attack_args: "
                                                   "{relearn: {epochs: 2}}}): run on every unlearned model, against "
                                                   "the target (scenarios that run attacks: fictitious); the eval "
                                                   "section's settings that attacks read apply to them too")
    report_examples: PositiveInt = Field(3, description="example generations per split shown in the report")

    @field_validator("scenario")
    @classmethod
    def _registered(cls, value):
        find_scenario(value)  # ValueError naming the registered ones
        return value

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, values):
        """Release 0.1's flat names, moved into ``scenario_args`` where the scenario takes them."""
        if not isinstance(values, dict) or not RENAMED.keys() & values.keys():
            return values
        values = dict(values)
        scenario = values.get("scenario", cls.model_fields["scenario"].default)
        args = dict(values.get("scenario_args") or {})
        for old in [key for key in values if key in RENAMED]:
            value = values.pop(old)
            owners, name = RENAMED[old]
            if scenario in owners:
                args.setdefault(name, value)
                log.warning("setting '%s' is renamed scenario_args: {%s: ...}; the old name goes in release 0.3",
                            old, name)
            else:
                log.warning("setting '%s' is for scenario %s, not %s: ignored", old, " or ".join(owners), scenario)
        values["scenario_args"] = args
        return values

    @model_validator(mode="after")
    def _scenario_settings(self):
        """Check ``scenario_args`` against the scenario's settings; the scenario's splits where none are given."""
        scenario = find_scenario(self.scenario)
        self.__dict__["scenario_args"] = scenario.check_args(self.scenario_args)
        if scenario.forget is None:
            given = [name for name in ("forget", "retain") if getattr(self, name) is not None]
            if given:
                raise ValueError(f"scenario {scenario.name} chooses its own splits; remove '{given[0]}'")
        else:
            self.__dict__["forget"] = self.forget or scenario.forget
            self.__dict__["retain"] = self.retain or scenario.retain
        return self

    @field_validator("methods", mode="before")
    @classmethod
    def _method_entries(cls, value):
        if not isinstance(value, list) or not value:
            raise ValueError("methods must be a non-empty list")
        entries = []
        for item in value:
            if isinstance(item, str):
                entries.append({"method": item})
            elif isinstance(item, dict) and "method" in item:
                rest = {k: v for k, v in item.items() if k not in ("method", "label", "tune")}
                if set(rest) == {"settings"} and isinstance(rest["settings"], dict):
                    rest = rest["settings"]  # the form model_dump() writes (experiment.json's settings)
                entries.append({"method": item["method"], "label": item.get("label"), "settings": rest,
                                "tune": item.get("tune")})
            else:
                raise ValueError(f"a method is a name or a mapping with 'method', got {item!r}")
        return entries

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, value):
        if value is not None and len(set(value)) != len(value):
            raise ValueError("seeds must be distinct")
        return value

    def with_seed(self, seed: int | None) -> ExperimentSettings:
        """The experiment with training ``seed`` in its fine-tuning and unlearning sections (None: as
        written). Seed 0 is every command's default and is left implicit, so a run with ``seeds: [0, ...]``
        reuses the steps of the same experiment run without ``seeds``."""
        if seed is None or seed == DEFAULT_SEED:
            return self
        return self.model_copy(update={"finetune": {**self.finetune, "seed": seed},
                                       "unlearn": {**self.unlearn, "seed": seed}})

    @property
    def scenario_settings(self) -> PartSettings | None:
        """The scenario's own settings (its defaults where ``scenario_args`` gives none)."""
        return find_scenario(self.scenario).args(self.scenario_args)

    @property
    def run_folder(self) -> Path:
        return Path(self.out or Path("runs") / self.name)


def check_experiment(settings: ExperimentSettings, source: str) -> None:
    """Validate every override section against its command's settings, and the output folder,
    before any work."""
    check_experiment_folder(settings.run_folder, settings.name)
    placeholders = {"data": "-", "out": "-"}
    scenario = find_scenario(settings.scenario)

    def referenced(values: dict, where: str) -> dict:  # a rule's reference values come from the anchors
        try:
            return with_placeholders(values, scenario.reference_models, scenario.name)
        except UserError as error:
            raise UserError(f"{source}: {where}: {error}") from None

    shared = referenced({k: v for k, v in settings.unlearn.items() if k != "method_args"}, "unlearn")
    evaluated = with_scenario_suites(settings.eval, settings.scenario)  # its suite_args may set the scenario's suites
    for section, model, values in (("finetune", FinetuneSettings, settings.finetune),
                                   ("unlearn", ForgetSettings, shared), ("eval", EvalSettings, evaluated)):
        _check_section(values, model, f"{source}: {section}", placeholders)
    _check_shared_parts(settings.unlearn.get("method_args"), f"{source}: unlearn")
    if settings.attacks is not None:
        from unlearn.attacks.settings import AttackSettings, shared_eval_values

        if not scenario.attacks:
            raise UserError(f"{source}: attacks: scenario {settings.scenario} does not run attacks; run "
                            "'unlearn attack' on its models")
        _check_section({**shared_eval_values(settings.eval), **settings.attacks}, AttackSettings,
                       f"{source}: attacks", {**placeholders, "original": "-"})
    if "method" in settings.unlearn:
        raise UserError(f"{source}: unlearn: 'method' is chosen per entry of 'methods'")
    if settings.seeds is not None:
        for where, values in [("finetune", settings.finetune), ("unlearn", settings.unlearn),
                              *((f"method {m.name}", m.settings) for m in settings.methods)]:
            if "seed" in values:
                raise UserError(f"{source}: {where}: 'seed' is set by 'seeds'; remove one of them")
    labels = [m.name for m in settings.methods]
    if len(set(labels)) != len(labels):
        raise UserError(f"{source}: two methods share a name; give one a 'label'")
    for entry in settings.methods:
        values = referenced(method_values(settings.unlearn, entry), f"method {entry.name}")
        check_settings(_check_section(values, ForgetSettings, f"{source}: method {entry.name}", placeholders))
        if entry.tune is not None:
            from unlearn.scenarios.tuned import check_tune_section

            check_tune_section(entry.tune, {**values, **placeholders}, evaluated,
                               f"{source}: method {entry.name}: tune")


def with_scenario_suites(values: dict, scenario: str, suite_args: dict[str, dict] | None = None) -> dict:
    """An ``eval`` section with the suites that ``scenario`` registered added to its ``suites``, and
    ``suite_args`` (the scenario's settings for them, by suite) over the section's own, setting by
    setting. A scenario that adds none gets the section unchanged, so its evaluation steps keep their keys."""
    added = find_scenario(scenario).suites
    if not added and not suite_args:
        return values
    values = dict(values)
    values["suites"] = list(dict.fromkeys([*added, *comma_list(None, values.get("suites") or [])]))
    merged = merge_part_args(values.get("suite_args") or {}, suite_args or {})
    if merged:
        values["suite_args"] = merged
    return values


def method_values(shared: dict, entry: MethodEntry) -> dict:
    """One method's forget settings: the shared ``unlearn`` section under the entry's own. The shared
    section's ``method_args`` go to the methods that use each part (``{NPO: {beta: 0.2}}`` reaches
    NPO+GD and NPO+KL, not ME+GD); an entry's own ``method_args`` must all apply to it."""
    values = {**shared, **entry.settings, "method": entry.method}
    parts = {name.lower(): name for name in method_parts(entry.method, values.get("mask", "none"))}
    merged = {parts[key.lower()]: dict(args) for key, args in (shared.get("method_args") or {}).items()
              if key.lower() in parts}
    for key, args in (entry.settings.get("method_args") or {}).items():
        merged.setdefault(parts.get(key.lower(), key), {}).update(args)
    values["method_args"] = merged
    return values


def _check_shared_parts(method_args, where: str) -> None:
    if method_args is None:
        return
    known = {name.lower() for name in every_part()}
    if not isinstance(method_args, dict) or not all(isinstance(v, dict) for v in method_args.values()):
        raise UserError(f"{where}: method_args must be a mapping of part: {{setting: value}}")
    unknown = [key for key in method_args if str(key).lower() not in known]
    if unknown:
        raise UserError(f"{where}: method_args: no part named '{unknown[0]}' (parts with settings: "
                        f"{', '.join(every_part())})")


def check_experiment_folder(folder: Path, name: str) -> None:
    """The run folder must be new, empty, or hold this experiment's earlier run (whose steps are reused)."""
    from unlearn.report.collect import MANIFEST, read_manifest  # the report side imports torch; settings stay light

    check_writable(folder)
    if not folder.is_dir() or not any(p.name != LOCK_FILE for p in folder.iterdir()):
        return
    manifest = folder / MANIFEST
    if manifest.is_file():
        previous = read_manifest(manifest).get("name")
        if previous != name:
            raise UserError(f"output folder {folder} holds experiment '{previous}', not '{name}'; "
                            "choose another --out")
    elif not (folder / "steps").is_dir():
        raise UserError(f"output folder {folder} is not empty and holds no llm-unlearn experiment; "
                        "choose another --out")


def _check_section(values: dict, model, where: str, placeholders: dict):
    """The section validated as ``model``'s settings (reserved keys refused)."""
    reserved = sorted(RESERVED & set(values))
    if reserved:
        raise UserError(f"{where}: '{reserved[0]}' is set by the experiment itself; set it at the top level")
    return validate_settings(model, {**values, **placeholders}, where)
