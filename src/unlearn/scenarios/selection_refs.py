"""A scenario's ``select:`` gets what its rule compares with from the scenario's own anchor models.

A selection rule compares a curve with a reference model: ``utility-floor`` with the target's utility,
``reach-retain`` with the retain model's value and interval, ``muse`` with the retrained model's KnowMem.
A scenario has just made those models, so a method entry (or the shared ``unlearn`` section) that says
``select: utility-floor`` gets each reference setting the user left out from them (the rule's registered
``references``), and
the curve gets the retain model's evaluation as its ``retain_eval`` (forget quality on the curve).

The anchor is scored by the forget step's own curve, as a step of its own (``curve-target``,
``curve-retain-model``): the same subset, the same short answers, the same suites. The target is the
model the curve starts from, so its score is the curve's step-0 point; it is measured before training
because a rule's settings are checked before the model loads. The anchors' full evaluations are not
used: they score every question with longer answers, so their numbers are on other data than the
curve's, and a floor of 0.9 x a full evaluation's utility would move with the subset's sampling error.

The filled settings enter the forget step's inputs, so new anchors re-run it, and its
``train_summary.json`` names where each came from (``references``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from unlearn.errors import UserError
from unlearn.selection.curve import Checkpoint, metric_key, number
from unlearn.selection.registry import Reference, registered_name, rule_settings, rules

log = logging.getLogger(__name__)
POINT_FILE = "point.json"
TARGET, RETAIN = "target", "retain"
# the curve's settings that say when it scores, not what: two runs differing only in these share an anchor's score
WHEN = ("every_steps", "every_epoch", "at_start", "stop_when_selected")
# the forget settings that shape a point of the curve besides the curve's own
SHAPING = ("forget", "prompt_template", "plain_template", "max_length", "answer_field", "dtype", "device",
           "trust_remote_code", "allow_pickle")


PLACEHOLDERS = {"value": 0.0, "interval": [0.0, 0.0]}  # what the experiment's check validates in their place


@dataclass(frozen=True)
class Anchors:
    """A scenario's anchor models, as its forget steps see them: the target (the model unlearning starts
    from), the retain model (None where the scenario has none) and the retain model's evaluation folder."""

    target: str | Path
    retain: str | Path | None = None
    retain_eval: Path | None = None
    target_label: str = "target"
    retain_label: str = "retain model"


def chosen_rule(values: dict) -> tuple[str | None, dict]:
    """The registered name of the forget settings' rule and its settings as given; ``(None, {})`` without a
    rule, or with one not registered (which the forget settings refuse in their own words)."""
    given = values.get("select")
    name = registered_name(given) if given else None
    if name is None:
        return None, {}
    args = next((dict(a) for key, a in (values.get("select_args") or {}).items()
                 if str(key).lower() == name.lower() and isinstance(a, dict)), {})
    return name, args


def missing_references(values: dict) -> tuple[str | None, dict, list[Reference]]:
    """The rule, its settings as given and the reference settings among them the user left out."""
    name, args = chosen_rule(values)
    references = rules()[name].references if name else ()
    return name, args, [r for r in references if args.get(r.setting) is None]


def with_placeholders(values: dict, models: tuple[str, ...], scenario: str) -> dict:
    """``values`` as the experiment's check validates them: a placeholder in each reference setting that
    scenario ``scenario`` (whose forget steps have the anchor ``models``) fills at its step. A reference
    to a model the scenario does not have is refused now, in one line."""
    name, args, needed = missing_references(values)
    absent = [r for r in needed if r.anchor not in models]
    if absent:
        model = "the target" if absent[0].anchor == TARGET else "the retain model"
        raise UserError(_no_model(name, absent, model, f"scenario {scenario} has none"))
    if not needed:
        return values
    return _with_args(values, name, {**args, **{r.setting: PLACEHOLDERS[r.part] for r in needed}})


def with_references(steps, values: dict, anchors: Anchors, data: Path) -> tuple[dict, dict]:
    """The forget step's ``values`` with the curve's ``retain_eval`` and the rule's missing reference
    settings filled from ``anchors`` (each anchor scored once by the run's curve, a step reused by every
    run with the same curve), and what was filled, with where it came from."""
    references = {}
    curve = values.get("curve")
    if (curve is not None or values.get("select")) and anchors.retain_eval is not None \
            and "retain_eval" not in (curve or {}):
        values = {**values, "curve": {**(curve or {}), "retain_eval": anchors.retain_eval}}
        references["curve.retain_eval"] = {"model": anchors.retain_label, "step": anchors.retain_eval.name,
                                           "source": f"the {anchors.retain_label}'s evaluation"}
    name, args, needed = missing_references(values)
    if not needed:
        return values, references
    settings = rule_settings(name, {**args, **{r.setting: PLACEHOLDERS[r.part] for r in needed}})
    filled, scored = dict(args), {}
    for reference in needed:
        model, label = ((anchors.target, anchors.target_label) if reference.anchor == TARGET
                        else (anchors.retain, anchors.retain_label))
        if model is None:
            raise UserError(_no_model(name, [reference], f"the {label}", "this run has none"))
        if label not in scored:
            scored[label] = anchor_point(steps, label, model, values, data)
        folder = scored[label]
        metric = getattr(settings, reference.metric_setting)
        filled[reference.setting] = _read(folder, metric, reference, name, label)
        start = ": the curve's step-0 point" if reference.anchor == TARGET and values["model"] == model else ""
        references[reference.setting] = {
            "value": filled[reference.setting], "model": label, "metric": metric, "step": folder.name,
            "source": f"the {label} scored as this run's curve scores a point{start}"}
        log.info("selection rule %s: %s = %s, the %s's %s on the curve's data (step %s)", name, reference.setting,
                 _shown(filled[reference.setting]), label, metric, folder.name)
    return _with_args(values, name, filled), references


def anchor_point(steps, label: str, model: str | Path, values: dict, data: Path) -> Path:
    """Step ``curve-LABEL``: ``model`` scored once as the curve of the forget step ``values`` scores a
    point (its subset, answer length, suites and retain evaluation); ``point.json`` holds its flat
    metrics and intervals. Keyed by what shapes a point, not by when the curve scores, so the methods of
    a scenario share it."""
    from unlearn.config import validate_settings
    from unlearn.evaluation.run import METRICS_VERSION
    from unlearn.scenarios.common import as_text, identity, step_input
    from unlearn.training.forget_settings import ForgetSettings

    curve = values.get("curve") or {}
    given = {k: as_text(v) for k, v in values.items() if k not in ("select", "select_args")}
    run = validate_settings(ForgetSettings, {**given, "model": str(model), "data": str(data), "out": "-",
                                             "curve": as_text(curve)}, f"step curve of the {label}")
    shape = run.curve_settings.model_dump(exclude=set(WHEN))
    inputs = {"model": identity(model), "data": identity(data), "metrics_version": METRICS_VERSION,
              "curve": {**shape, "retain_eval": step_input(curve.get("retain_eval"))},
              **{name: getattr(run, name) for name in SHAPING}}

    def score(folder: Path) -> None:
        metrics, intervals, subset = _score(run.model_copy(update={"out": str(folder)}))
        from unlearn.files import atomic_write_json

        atomic_write_json(folder / POINT_FILE, {"model": str(model), "subset": subset, "metrics": metrics,
                                                "intervals": {k: list(v) for k, v in intervals.items()}})

    return steps.run(f"curve-{label.replace(' ', '-')}", inputs, score)


def _score(run) -> tuple[dict, dict, dict]:
    """The flat metrics, intervals and subset of ``run``'s model on ``run``'s curve, as a point scores them."""
    import torch

    from unlearn.evaluation.curve_eval import evaluate_point, plan_curve
    from unlearn.models.loading import load_model
    from unlearn.models.modes import evaluating

    if run.threads:
        torch.set_num_threads(run.threads)
    plan = plan_curve(run, run.curve_settings)
    model, tokenizer = load_model(run.model, run.dtype, run.device, run.trust_remote_code, run.allow_pickle)
    with evaluating(model), torch.no_grad():
        metrics, intervals = evaluate_point(plan, model, tokenizer)
    return metrics, intervals, plan.subset


def _read(folder: Path, metric: str, reference: Reference, rule: str, label: str):
    """The anchor's value or interval of ``metric``; one its curve did not compute is refused in one line."""
    point = json.loads((folder / POINT_FILE).read_text(encoding="utf-8"))
    checkpoint = Checkpoint(0, None, point["metrics"], point["intervals"])
    found = checkpoint.value(metric) if reference.part == "value" else checkpoint.intervals.get(metric_key(metric))
    if found is None:
        what = "value" if reference.part == "value" else "interval"
        raise UserError(f"selection rule '{rule}': the curve does not compute the {label}'s {what} of {metric} "
                        f"({folder.name}); choose a {reference.metric_setting} it computes or give "
                        f"select_args: {{{rule}: {{{reference.setting}: ...}}}}")
    return list(found) if reference.part == "interval" else found


def _with_args(values: dict, name: str, args: dict) -> dict:
    others = {k: v for k, v in (values.get("select_args") or {}).items() if str(k).lower() != name.lower()}
    return {**values, "select_args": {**others, name: args}}


def _no_model(rule: str, references: list[Reference], model: str, why: str) -> str:
    settings = ", ".join(r.setting for r in references)
    return (f"selection rule '{rule}' compares with {model}, and {why}: give its {settings} in select_args: "
            f"{{{rule}: {{{references[0].setting}: ...}}}}")


def _shown(value) -> str:
    return f"[{number(value[0])}, {number(value[1])}]" if isinstance(value, list) else number(value)


def forget_recording(references: dict):
    """``forget`` that also names, in the run's ``train_summary.json`` (``references``), each setting
    filled from an anchor and where it came from."""
    from unlearn.files import atomic_write_json
    from unlearn.training.forget import forget

    if not references:
        return forget

    def run(settings) -> dict:
        summary = forget(settings)
        path = Path(settings.out) / "train_summary.json"
        if summary and path.is_file():  # the main process, once the run is done
            summary = {**json.loads(path.read_text(encoding="utf-8")), "references": references}
            atomic_write_json(path, summary)
        return summary

    return run
