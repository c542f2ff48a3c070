"""A method entry's ``tune:`` section: ``unlearn tune`` as a step before the method's forget step, whose
chosen trial's settings the forget step then uses.

    methods:
      - method: NPO+GD
        tune: {trials: 8, forget: forget05, space: {npo.beta: {low: 0.05, high: 0.5}}}

The study's trials start from the forget settings the forget step would use (the ``unlearn`` section under
the entry's own) on the same model and data, and are evaluated as the scenario evaluates its models (its
``eval`` section and suites) with the section's ``eval`` over it. ``forget`` names the split the trials
unlearn and are evaluated on: a validation split, so that the scenario's reported forget split does not
choose its own settings (without it, the trials use the forget step's split, with a warning). The section
takes tune's own settings (``trials`` or ``n_trials``, ``objectives``, ``space``, ``select``,
``select_args``, ``prune_floor``, ...); the study lives in its step folder, so a killed experiment resumes it.
With ``recheck_seeds``, a step of its own (``recheck-forget-METHOD``) re-checks the finished study's choice
over those training seeds, reading the study from the tune step's storage, and its choice is the one used:
adding or changing the seeds reuses the study. When no trial qualifies under the selection rule, the forget
step keeps the entry's settings, with a warning.
Trials evaluated on the split the retain model's evaluation scored get it as their ``retain_eval``. The
target's evaluation is a step of the scenario (``eval-target``): the scenario's own where the trials are
evaluated as the scenario evaluates, one for every study that shares the trials' settings otherwise.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from unlearn.config import validate_settings
from unlearn.errors import UserError
from unlearn.tuning.settings import TuneSettings
from unlearn.tuning.space import apply

log = logging.getLogger(__name__)
SECTION_KEYS = ("trials", "n_trials", "forget", "objectives", "space", "eval", "sampler", "sampler_seed",
                "startup_trials", "select", "select_args", "prune_floor", "trial_seeds", "recheck_seeds", "keep_models",
                "max_failures")
NOT_FOR_TUNE = ("resume", "overwrite", "save_checkpoints", "keep_checkpoints", "select", "select_args")


def tune_values(section: dict, forget_values: dict, eval_values: dict) -> dict:
    """The study's settings: the forget step's values (less what a trial sets itself), the section's over
    them, the trials' evaluation the scenario's (``eval_values``) with the section's ``eval`` over it. Where
    the scenario evaluates the split its methods unlearn (the fictitious scenarios), the trials are evaluated
    on the split they unlearn (the section's ``forget``); where it evaluates other questions (WMDP's multiple
    choice after unlearning a corpus, MUSE's), on those."""
    if not isinstance(section, dict):
        raise UserError("tune must be a mapping of tune settings, e.g. {trials: 8, forget: forget05}")
    unknown = [key for key in section if key not in SECTION_KEYS]
    if unknown:
        raise UserError(f"unknown setting '{unknown[0]}' (tune settings: {', '.join(SECTION_KEYS)}; forget settings "
                        "go in the entry or the unlearn section)")
    if "trials" in section and "n_trials" in section:
        raise UserError("give trials or n_trials, not both")
    values = {k: v for k, v in forget_values.items() if k not in NOT_FOR_TUNE}
    values.update({k: v for k, v in section.items() if k not in ("trials", "eval")})
    if "trials" in section:
        values["n_trials"] = section["trials"]
    evaluation = dict(eval_values)
    if "forget" not in evaluation or evaluation["forget"] == forget_values.get("forget"):
        evaluation["forget"] = values.get("forget")
    values["eval"] = {**evaluation, **(section.get("eval") or {})}
    return values


def check_tune_section(section: dict, forget_values: dict, eval_values: dict, where: str) -> TuneSettings:
    """The section validated as tune's settings would be at its step (placeholders for the paths)."""
    try:
        values = tune_values(section, forget_values, eval_values)
    except UserError as error:
        raise UserError(f"{where}: {error}") from None
    return validate_settings(TuneSettings, {**values, "model": "-", "data": "-", "out": "-"}, where)


def tuned_values(steps, name: str, section: dict, forget_values: dict, eval_values: dict, data: Path,
                 retain_eval: Path | None = None) -> dict:
    """Run (or reuse) the tune step ``tune-NAME`` and return ``forget_values`` with the chosen trial's
    sampled settings set; unchanged when no trial qualifies. ``retain_eval``: the scenario's evaluation of
    its retain model (see ``with_retain_eval``)."""
    from unlearn.scenarios.common import as_text, step_input, target_eval_step
    from unlearn.tuning.run import tune

    values = tune_values(section, forget_values, eval_values)
    if "forget" not in section:
        log.warning("%s: tune has no validation split (tune: {forget: SPLIT}); its trials unlearn the reported split "
                    "%s and are evaluated as the scenario evaluates its models", name, values.get("forget"))
    values = with_retain_eval(values, retain_eval, name)
    # the target's step before the defaults are written out, so that its key is the scenario's own eval-target's
    values["target_eval"] = target_eval_step(steps, forget_values["model"], data, values["eval"])
    values["eval"] = {**scenario_defaults(values["eval"]), **values["eval"]}
    recheck_seeds = values.pop("recheck_seeds", None)
    keyed = {**values, "data": data, "eval": {k: v for k, v in values["eval"].items() if k != "threads"}}
    inputs = {k: step_input(v) for k, v in keyed.items() if k != "threads"}  # as every step: not the thread count

    def act(folder: Path) -> None:
        tune(validate_settings(TuneSettings, {**as_text(values), "data": str(data), "out": str(folder)},
                               f"step tune-{name}"))

    folder = steps.run(f"tune-{name}", inputs, act)
    if recheck_seeds:
        folder = recheck_step(steps, name, values, inputs, data, folder, recheck_seeds)
    summary = json.loads((folder / "pareto.json").read_text(encoding="utf-8"))
    chosen = summary["chosen"]
    if chosen["trial"] is None:
        log.warning("%s: %s; unlearning with the method's own settings", name, chosen["reason"])
        return forget_values
    params = next(row["params"] for row in summary["trials"] if row["trial"] == chosen["trial"])
    log.info("%s: tuned settings %s (%s)", name, params, chosen["reason"])
    return apply(forget_values, params, forget_values["method"], forget_values.get("mask", "none"))


def recheck_step(steps, name: str, values: dict, inputs: dict, data: Path, study_folder: Path,
                 seeds: list[int]) -> Path:
    """The step ``recheck-NAME``: the finished study of ``study_folder`` (read from its storage, its trials as
    they ran) with the rule's choice re-checked over ``seeds`` (tune's ``recheck_seeds``) into a folder of its
    own, whose ``pareto.json`` holds the choice. A step apart, so that adding or changing the seeds reuses the
    study."""
    from unlearn.scenarios.common import as_text
    from unlearn.tuning.run import tune

    storage = values.get("storage") or f"sqlite:///{(study_folder / 'study.db').absolute()}"

    def act(folder: Path) -> None:
        tune(validate_settings(TuneSettings, {**as_text(values), "data": str(data), "out": str(folder),
                                              "storage": storage, "recheck_seeds": seeds}, f"step recheck-{name}"))

    return steps.run(f"recheck-{name}", {"study": inputs, "recheck_seeds": seeds}, act)


def with_retain_eval(values: dict, retain_eval: Path | None, name: str) -> dict:
    """The study's settings with the retain model's evaluation as its trials' ``retain_eval``, so that
    the numbers measured against a model that never saw the forget data (TOFU's forget quality, MUSE's
    PrivLeak) can be objectives and rule metrics. Only where the trials are evaluated on the forget split
    that evaluation scored (its ``unlearn_settings.json``): on another split it would compare other
    questions. An ``eval: {retain_eval: ...}`` given in the section is kept."""
    evaluation = values["eval"]
    if retain_eval is None or "retain_eval" in evaluation:
        return values
    scored = json.loads((Path(retain_eval) / "unlearn_settings.json").read_text(encoding="utf-8")).get("forget")
    if evaluation.get("forget") != scored:
        log.info("%s: the trials are evaluated on %s, the retain model on %s: forget quality and PrivLeak are not "
                 "computed in the trials", name, evaluation.get("forget"), scored)
        return values
    return {**values, "eval": {**evaluation, "retain_eval": retain_eval}}


def scenario_defaults(evaluation: dict) -> dict:
    """The evaluation settings a trial would otherwise share with its forget run (``max_length``, the prompt
    templates, ...; ``tuning.settings.SHARED_WITH_EVAL``) at the values the scenario's own evaluation has,
    ``unlearn eval``'s defaults, where ``evaluation`` leaves them out: the trials are scored as the scenario
    scores the model the forget step makes, not at the forget run's (shorter) length."""
    from unlearn.evaluation.eval_settings import EvalSettings
    from unlearn.tuning.settings import SHARED_WITH_EVAL

    return {name: EvalSettings.model_fields[name].default for name in SHARED_WITH_EVAL
            if name not in evaluation and name not in ("device", "threads")}

