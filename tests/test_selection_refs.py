"""A scenario's ``select:`` gets its rule's reference values from the scenario's own anchor models
(``scenarios/selection_refs.py``): the target's utility from the target scored by the run's curve, equal to
the curve's step-0 point; the retain model's evaluation as the curve's ``retain_eval``; a value the user
gives is kept; a rule comparing with a model the scenario lacks is refused before any step runs."""

from __future__ import annotations

import json

import pytest
from conftest import tiny_experiment

from unlearn.errors import UserError
from unlearn.scenarios.experiment import check_experiment
from unlearn.scenarios.runner import run_experiment
from unlearn.scenarios.selection_refs import Anchors, with_placeholders, with_references
from unlearn.selection.trajectory import read_trajectory

UNLEARN = {"epochs": 1, "batch_size": 4, "gradient_accumulation_steps": 1, "warmup_epochs": 0,
           "curve": {"examples": 4, "max_new_tokens": 4}, "select": "utility-floor"}


def forget_folder(out, steps, prefix="forget-GA_GD-"):
    """The forget step this run ran."""
    return next(out / "steps" / name for name in steps.ran if name.startswith(prefix))


def test_a_fictitious_scenario_fills_the_target_utility_from_the_curves_step_0_point(tiny_model_dir, tmp_path):
    out = tmp_path / "run"
    anchors = {"target_model": str(tiny_model_dir), "retain_model": str(tiny_model_dir), "methods": ["GA+GD"]}
    _, steps = run_experiment(tiny_experiment(tiny_model_dir, out, **anchors, unlearn=UNLEARN),
                              progress=lambda _: None)
    folder = forget_folder(out, steps)
    curve, selected = read_trajectory(folder / "trajectory.json")
    summary = json.loads((folder / "train_summary.json").read_text())
    filled = summary["references"]["target_utility"]
    start = curve[0].value("model_utility_tofu")
    assert curve[0].step == 0 and start is not None and filled["value"] == pytest.approx(start, abs=1e-6)
    assert filled["model"] == "target" and filled["metric"] == "model_utility_tofu"
    assert filled["step"].startswith("curve-target-") and "step-0 point" in filled["source"]
    assert selected["args"]["target_utility"] == filled["value"]
    # the curve's forget quality compares with the retain model's evaluation, so the default forget metric is computed
    assert summary["references"]["curve.retain_eval"]["step"].startswith("eval-retain-model-")
    assert all(c.value("forget_quality") is not None for c in curve)
    inputs = json.loads((folder / "step_done.json").read_text())["inputs"]
    assert inputs["select_args"]["utility-floor"]["target_utility"] == filled["value"]
    assert inputs["curve"]["retain_eval"] == summary["references"]["curve.retain_eval"]["step"]

    given = {**UNLEARN, "select_args": {"utility-floor": {"target_utility": 0.05}}}
    _, again = run_experiment(tiny_experiment(tiny_model_dir, out, **anchors, unlearn=given),
                              progress=lambda _: None)
    kept = forget_folder(out, again)
    _, chosen = read_trajectory(kept / "trajectory.json")
    assert kept != folder and chosen["args"]["target_utility"] == 0.05
    assert "target_utility" not in json.loads((kept / "train_summary.json").read_text())["references"]
    assert not [name for name in again.ran if name.startswith("curve-")]  # nothing to score: the anchor's reused


@pytest.mark.parametrize("rule, args", [("reach-retain", {}), ("muse", {"metric": "forget.fact_accuracy"})])
def test_a_rule_comparing_with_a_retain_model_is_refused_where_the_scenario_has_none(tiny_model_dir, tmp_path,
                                                                                    rule, args):
    settings = tiny_experiment(tiny_model_dir, tmp_path / "run", scenario="real_world", scenario_args={},
                               methods=["GA+GD"], unlearn={**UNLEARN, "select": rule, "select_args": {rule: args}})
    with pytest.raises(UserError) as error:
        check_experiment(settings, "experiment.yaml")
    message = str(error.value)
    assert "\n" not in message and message.startswith("experiment.yaml: unlearn: selection rule ")
    assert f"'{rule}' compares with the retain model, and scenario real_world has none" in message
    assert not (tmp_path / "run" / "steps").exists()


def test_given_reference_values_are_kept_and_need_no_anchor():
    values = {"select": "Reach-Retain", "select_args": {"reach-retain": {"retain_value": 0.2,
                                                                         "retain_interval": [0.1, 0.3]}}}
    assert with_placeholders(values, ("target",), "real_world") is values
    assert with_references(None, values, Anchors("target"), None) == (values, {})
    half = {"select": "reach-retain", "select_args": {"reach-retain": {"retain_value": 0.2}}}
    assert with_placeholders(half, ("target", "retain"), "fictitious")["select_args"] == {
        "reach-retain": {"retain_value": 0.2, "retain_interval": [0.0, 0.0]}}
    with pytest.raises(UserError, match="^selection rule 'utility-floor' compares with the target, and scenario toy "
                                        "has none: give its target_utility in select_args"):
        with_placeholders({"select": "utility-floor"}, (), "toy")


def test_a_run_without_the_retain_model_is_refused_before_its_forget_step():
    """MUSE with ``retrained_auc`` and no ``retain_model`` has no retrained model to read ``muse.retrained`` from."""
    values = {"select": "muse", "curve": {"suites": ["muse"]}}
    with pytest.raises(UserError, match=r"^selection rule 'muse' compares with the retrained model, and this run has "
                                        r"none: give its retrained in select_args: \{muse: \{retrained: \.\.\.\}\}$"):
        with_references(None, values, Anchors("target", retain_label="retrained model"), None)
