"""An experiment file: which scenario, data, models and methods, with per-step overrides.

The ``finetune``, ``unlearn`` and ``eval`` sections hold settings of ``unlearn finetune``,
``unlearn forget`` and ``unlearn eval``; they are validated against those commands' settings
when the file is read, so a typo fails before any step runs. A method entry is a name
(``ME+GD``) or a mapping with ``method``, an optional ``label`` and its own overrides.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator

from unlearn.config import comma_list, validate_settings
from unlearn.errors import UserError
from unlearn.evaluation.eval_settings import EvalSettings
from unlearn.files import LOCK_FILE, SAFE_NAME, check_writable
from unlearn.models.gguf import DEFAULT_MODEL
from unlearn.objectives.registry import every_part, method_parts
from unlearn.training.finetune_settings import FinetuneSettings
from unlearn.training.forget_settings import ForgetSettings, check_settings
from unlearn.training.settings import OptimSettings

DEFAULT_SEED = OptimSettings.model_fields["seed"].default

# Set by the experiment itself for every step; an override would break the step chain.
RESERVED = {"model", "data", "out", "split", "forget", "retain", "retain_eval", "reference", "overwrite", "resume",
            "device", "threads", "original", "unlearned_eval", "original_eval"}


class MethodEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: str
    label: str | None = None
    settings: dict = Field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.label or self.method


class ExperimentSettings(BaseModel):
    """Defaults: the fictitious scenario on the built-in benchmark and the packaged model."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("experiment", pattern=f"^{SAFE_NAME}$",
                      description="experiment name: letters, digits, '_', '-', '.' (the default output folder is "
                                  "runs/NAME, so the name cannot lead out of runs/)")
    out: str | None = Field(None, description="output folder (default: runs/NAME)")
    scenario: Literal["fictitious", "continual", "real_world", "wmdp", "muse", "rwku"] = "fictitious"
    data: str = Field("builtin", description="'builtin' (generated fictitious benchmark), a folder, or a Hub id")
    people: PositiveInt = Field(20, description="built-in benchmark: invented people")
    qa_per_person: PositiveInt = Field(5, description="built-in benchmark: questions per person")
    data_seed: int = Field(0, description="built-in benchmark: generator seed")
    utility_records: PositiveInt | None = Field(None, description="evaluate only the first N real-authors and "
                                                                  "world-facts records (faster)")
    model: str = Field(DEFAULT_MODEL, description="base model to fine-tune (or to unlearn, real-world scenario)")
    target_model: str | None = Field(None, description="an already fine-tuned target model (skips fine-tuning)")
    retain_model: str | None = Field(None, description="an already fine-tuned retain model (skips fine-tuning)")
    forget: str = Field("forget10", description="forget split (continual: its task_id groups are the requests; "
                                                "wmdp: the forget corpus, default forget_corpus)")
    retain: str = Field("retain90", description="retain split (fine-tunes the retain model; regularizers use it; "
                                                "wmdp: the retain corpus, default retain_corpus)")
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
                                                   "the target (fictitious scenario); the eval section's settings "
                                                   "that attacks read apply to them too")
    requests: PositiveInt | None = Field(None, description="continual: cut the forget split into this many "
                                                           "consecutive requests (default: its task_id groups)")
    continual_reference: Literal["original", "previous"] = Field(
        "original", description="continual: NPO/DPO/KL reference is the original model or the previous request's")
    real_world_keep_only_known: bool = Field(
        True, description="real world: keep only questions the model answers correctly (false: keep all)")
    real_world_answer_field: str = Field(
        "golden_answer", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="real world, the seed paper's files (forget, neighbor, forget_perturbed, neighbor_perturbed): "
                    "the field of forget_perturbed and neighbor_perturbed that the evaluation scores against "
                    "(training reads 'answer')")
    wmdp_entities: PositiveInt = Field(20, le=96, description="wmdp, built-in data: invented viruses (forget) and "
                                                       "minerals (utility)")
    wmdp_target_split: str = Field("train_corpus", description="wmdp: the split the target model is fine-tuned on "
                                                               "(not used with target_model)")
    wmdp_corpora: str | None = Field(None, description="wmdp: a second source (Hub id or folder) for the forget and "
                                                       "retain corpora, e.g. cais/wmdp-corpora with data: cais/wmdp")
    wmdp_choice_forget: list[str] = Field(["forget_choice"], description="wmdp: multiple-choice splits of the "
                                                                         "forgotten knowledge (WMDP's bio, cyber)")
    wmdp_choice_utility: list[str] = Field(["retain_choice"], description="wmdp: multiple-choice splits kept as "
                                                                          "utility (MMLU format)")
    muse_retrained_auc: float | None = Field(None, gt=0.0, le=1.0, description="muse, with retain_model none: "
                                             "the retrained model's PrivLeak AUC (MUSE News 0.4772, Books 0.5393)")
    muse_protocol: Literal["standard", "scalability", "sustainability"] = Field(
        "standard", description="muse: standard (unlearn raw.forget), scalability (each scal.forget_k from the "
                                "target), sustainability (sust.forget_1..4 one after another)")
    report_examples: PositiveInt = Field(3, description="example generations per split shown in the report")

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
                rest = {k: v for k, v in item.items() if k not in ("method", "label")}
                if set(rest) == {"settings"} and isinstance(rest["settings"], dict):
                    rest = rest["settings"]  # the form model_dump() writes (experiment.json's settings)
                entries.append({"method": item["method"], "label": item.get("label"), "settings": rest})
            else:
                raise ValueError(f"a method is a name or a mapping with 'method', got {item!r}")
        return entries

    _comma_lists = field_validator("wmdp_choice_forget", "wmdp_choice_utility", mode="before")(comma_list)

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, value):
        if value is not None and len(set(value)) != len(value):
            raise ValueError("seeds must be distinct")
        return value

    def with_seed(self, seed: int | None) -> "ExperimentSettings":
        """The experiment with training ``seed`` in its fine-tuning and unlearning sections (None: as
        written). Seed 0 is every command's default and is left implicit, so a run with ``seeds: [0, ...]``
        reuses the steps of the same experiment run without ``seeds``."""
        if seed is None or seed == DEFAULT_SEED:
            return self
        return self.model_copy(update={"finetune": {**self.finetune, "seed": seed},
                                       "unlearn": {**self.unlearn, "seed": seed}})

    @property
    def run_folder(self) -> Path:
        return Path(self.out or Path("runs") / self.name)


def check_experiment(settings: ExperimentSettings, source: str) -> None:
    """Validate every override section against its command's settings, and the output folder,
    before any work."""
    check_experiment_folder(settings.run_folder, settings.name)
    placeholders = {"data": "-", "out": "-"}
    shared = {k: v for k, v in settings.unlearn.items() if k != "method_args"}  # checked per method below
    for section, model, values in (("finetune", FinetuneSettings, settings.finetune),
                                   ("unlearn", ForgetSettings, shared), ("eval", EvalSettings, settings.eval)):
        _check_section(values, model, f"{source}: {section}", placeholders)
    _check_shared_parts(settings.unlearn.get("method_args"), f"{source}: unlearn")
    if settings.attacks is not None:
        from unlearn.attacks.settings import AttackSettings, shared_eval_values

        if settings.scenario != "fictitious":
            raise UserError(f"{source}: attacks: only the fictitious scenario runs attacks so far; run "
                            "'unlearn attack' on the models of this one")
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
        values = method_values(settings.unlearn, entry)
        check_settings(_check_section(values, ForgetSettings, f"{source}: method {entry.name}", placeholders))


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
