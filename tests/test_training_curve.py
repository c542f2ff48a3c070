"""Evaluation during training and checkpoint selection in ``unlearn forget`` (issue 29, items 1-3): the curve's
point equals ``unlearn eval`` of the same weights on the same subset, the curve leaves the training unchanged,
the chosen step's weights become the model, early stop, the ``on_checkpoint`` hook and an interrupted write."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

import unlearn
from unlearn.cli.main import main
from conftest import run_eval, write_jsonl
from unlearn.config import PartSettings
from unlearn.evaluation.flat_metrics import flat_metrics
from unlearn.selection import Selection, SelectionRule, registered
from unlearn.selection.trajectory import read_trajectory

# 2 forget examples at batch 1: 2 optimizer steps per epoch; a short, cheap evaluation
RUN = {"data": None, "model": None, "forget": "forget10", "retain": "retain90", "method": "GA+GD", "epochs": 2,
       "batch_size": 1, "gradient_accumulation_steps": 1, "learning_rate": 1e-3, "warmup_epochs": 0, "device": "cpu",
       "threads": 1}
CURVE = {"every_steps": 1, "examples": 3, "max_new_tokens": 8}


class AtStepSettings(PartSettings):
    step: int = 0


def at_step(curve, step: int = 0) -> Selection:
    """A toy rule: the first checkpoint at or after ``step`` (so the test knows which it chooses)."""
    chosen = next((c for c in sorted(curve, key=lambda c: c.step) if c.step >= step), None)
    return Selection("at-step", chosen, f"step >= {step}")


class Weights(TrainerCallback):
    """A copy of the weights after every optimizer step, by step."""

    def __init__(self):
        self.by_step = {}

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self.by_step[state.global_step] = {k: v.detach().clone() for k, v in model.state_dict().items()}


def settings(tiny_model_dir, fictitious_bench, out, **values) -> dict:
    return {**RUN, "model": str(tiny_model_dir), "data": str(fictitious_bench), "out": str(out), **values}


def assert_weights(saved_folder, weights: dict) -> None:
    saved = load_file(saved_folder / "model.safetensors")
    assert saved and all(torch.equal(value, weights[key]) for key, value in saved.items())


@pytest.fixture(scope="module")
def selected_run(tiny_model_dir, fictitious_bench, tmp_path_factory):
    """Curve at every step (0-4), the toy rule choosing step 2; the weights after each step and the points
    the hook saw."""
    out = tmp_path_factory.mktemp("curve") / "run"
    weights, seen = Weights(), []
    with registered(SelectionRule("at-step", "toy", at_step, AtStepSettings, picks_first=lambda s: True)):
        result = unlearn.forget(**settings(tiny_model_dir, fictitious_bench, out, curve=CURVE, select="at-step",
                                           select_args={"at-step": {"step": 2}}),
                                callbacks=[weights], on_checkpoint=seen.append)
    return result, weights.by_step, seen


def test_the_chosen_steps_weights_are_the_model_and_the_files_say_why(selected_run):
    result, weights, seen = selected_run
    assert_weights(result.out, weights[2])
    assert not torch.equal(weights[2]["model.embed_tokens.weight"], weights[4]["model.embed_tokens.weight"])
    curve, selected = read_trajectory(result.out / "trajectory.json")
    assert [c.step for c in curve] == [c.step for c in seen] == [0, 1, 2, 3, 4]
    assert curve == seen and [c.epoch for c in curve] == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert selected == {"rule": "at-step", "args": {"step": 2}, "step": 2, "reason": "step >= 2"}
    assert result["selection"] == {"rule": "at-step", "step": 2, "epoch": 1.0, "reason": "step >= 2",
                                   "model": "the weights of step 2"}
    assert result["curve_points"] == 5 and result["optimizer_steps"] == 4
    assert not (result.out / "selected").exists()  # its one copy moved into the model folder
    point = curve[2]
    assert point.value("forget.cosine_similarity") is None  # no embedder during training: None, never 0
    assert point.value("forget_quality") is None and 0 < point.value("forget.probability") < 1


def test_a_point_equals_unlearn_eval_of_its_weights_on_the_same_subset(selected_run, fictitious_bench, tmp_path):
    result, _, _ = selected_run
    document = json.loads((result.out / "trajectory.json").read_text())
    subset = tmp_path / "subset"
    subset.mkdir()
    for part in document["subset"].values():
        lines = (fictitious_bench / f"{part['split']}.jsonl").read_text().splitlines()
        write_jsonl(subset / f"{part['split']}.jsonl", [json.loads(lines[i]) for i in part["indices"]])
    assert run_eval(result.out, subset, tmp_path / "eval", "--forget", "forget10", "--embedder", "none") == 0
    metrics, intervals = flat_metrics(json.loads((tmp_path / "eval" / "summary.json").read_text()))
    point = read_trajectory(result.out / "trajectory.json")[0][2]
    assert point.metrics.keys() == metrics.keys() and point.intervals.keys() == intervals.keys()
    assert 0 <= point.metrics["mia_auc_loss"] <= 1 and "holdout" in document["subset"]  # the holdout is on
    for name, value in point.metrics.items():
        assert value == pytest.approx(metrics[name], abs=1e-5) if value is not None else metrics[name] is None, name
    for name, (low, high) in point.intervals.items():
        assert (low, high) == pytest.approx(intervals[name], abs=1e-5), name


def test_the_curve_scores_the_forget_split_s_holdout_and_skips_a_missing_one_quietly(fictitious_bench, tmp_path,
                                                                                     caplog):
    from unlearn.evaluation.curve_eval import plan_curve
    from unlearn.training.curve_settings import CurveSettings
    from unlearn.training.forget_settings import ForgetSettings

    run = ForgetSettings(**settings("tiny", fictitious_bench, tmp_path / "run"))
    assert plan_curve(run, CurveSettings()).subset["holdout"]["split"] == "holdout10"
    assert "holdout" not in plan_curve(run, CurveSettings(holdout="none")).subset
    bare = tmp_path / "bare"
    bare.mkdir()
    for split in ("forget10", "retain90", "retain_perturbed"):
        (bare / f"{split}.jsonl").write_text((fictitious_bench / f"{split}.jsonl").read_text())
    bare_run = run.model_copy(update={"data": str(bare)})
    with caplog.at_level("WARNING"):
        assert list(plan_curve(bare_run, CurveSettings()).subset) == ["forget", "retain"]
    assert not caplog.records  # left at its default, a missing holdout is no warning
    with caplog.at_level("WARNING"):
        plan_curve(bare_run, CurveSettings(holdout="auto"))
    assert "no holdout split for forget10" in caplog.text  # asked for, it is


def test_the_curve_leaves_the_training_unchanged(selected_run, tiny_model_dir, fictitious_bench, tmp_path):
    _, weights, _ = selected_run
    off = unlearn.forget(**settings(tiny_model_dir, fictitious_bench, tmp_path / "off"))
    assert_weights(off.out, weights[4])
    assert "selection" not in off.summary and not (off.out / "trajectory.json").exists()


def test_early_stop_at_the_first_point_a_first_checkpoint_rule_chooses(tiny_model_dir, fictitious_bench, tmp_path,
                                                                       monkeypatch):
    import unlearn.training.selected_weights as selected_weights
    from unlearn.training.common import save_trained

    saves = []

    def counted(trainer, folder):
        saves.append(folder.name)
        return save_trained(trainer, folder)

    monkeypatch.setattr(selected_weights, "save_trained", counted)
    weights = Weights()
    result = unlearn.forget(**settings(tiny_model_dir, fictitious_bench, tmp_path / "stop", curve={
        **CURVE, "at_start": False, "stop_when_selected": True}, select="expression",
        select_args={"expression": {"expression": "retain.examples >= 1"}}), callbacks=[weights])
    assert result["optimizer_steps"] == 1 and list(weights.by_step) == [1]
    curve, selected = read_trajectory(result.out / "trajectory.json")
    assert [c.step for c in curve] == [1] and selected["step"] == 1
    assert result["selection"]["model"] == "the weights of step 1, the last"
    assert_weights(result.out, weights.by_step[1])
    assert saves == ["selected"] and not (result.out / "selected").exists()  # kept when chosen, then moved


def test_when_no_checkpoint_qualifies_the_final_weights_are_kept_and_the_run_says_so(tiny_model_dir, fictitious_bench,
                                                                                    tmp_path, caplog):
    weights = Weights()
    result = unlearn.forget(**settings(tiny_model_dir, fictitious_bench, tmp_path / "none", epochs=1, curve={
        **CURVE, "every_steps": None, "at_start": False}, select="expression",
        select_args={"expression": {"expression": "forget.probability > 2"}}), callbacks=[weights])
    assert_weights(result.out, weights.by_step[2])
    reason = "'forget.probability > 2' holds at none of the 1 checkpoints"
    assert result["selection"] == {"rule": "expression", "step": None, "epoch": None, "reason": reason,
                                   "model": "the final weights: no checkpoint qualifies"}
    assert read_trajectory(result.out / "trajectory.json")[1]["step"] is None
    assert f"selection rule expression chose no checkpoint ({reason}): the final weights are saved" in caplog.text


class Pruned(Exception):
    pass


def test_an_exception_of_the_hook_ends_the_run_after_the_point_is_written(tiny_model_dir, fictitious_bench,
                                                                          tmp_path):
    def prune(checkpoint):
        if checkpoint.step == 1:
            raise Pruned(checkpoint.step)

    with pytest.raises(Pruned) as raised:
        unlearn.forget(**settings(tiny_model_dir, fictitious_bench, tmp_path / "pruned", curve=CURVE),
                       on_checkpoint=prune)
    assert raised.value.args == (1,)
    curve, selected = read_trajectory(tmp_path / "pruned" / "trajectory.json")
    assert [c.step for c in curve] == [0, 1] and selected is None


def test_a_write_cut_off_leaves_the_last_complete_curve(tiny_model_dir, fictitious_bench, tmp_path, monkeypatch):
    import unlearn.files as files

    renames = []

    def replace_then_die(source, target):
        if str(target).endswith("trajectory.json"):
            renames.append(target)
            if len(renames) == 2:
                raise KeyboardInterrupt  # killed between writing the new file and renaming it into place
        return real_replace(source, target)

    real_replace = files.os.replace
    monkeypatch.setattr(files.os, "replace", replace_then_die)
    with pytest.raises(KeyboardInterrupt):
        unlearn.forget(**settings(tiny_model_dir, fictitious_bench, tmp_path / "killed", curve=CURVE))
    curve, _ = read_trajectory(tmp_path / "killed" / "trajectory.json")
    assert [c.step for c in curve] == [0]
    assert [p.name for p in (tmp_path / "killed").iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.parametrize("flags, message", [
    (["--select", "best"], "unknown selection rule 'best' (known: muse, utility-floor, reach-retain, expression)"),
    (["--select", "muse", "--utility-floor.target-utility", "0.4"],
     "settings of selection rule 'utility-floor' given, but the rule chosen is 'muse'"),
    (["--select", "muse"], "selection rule 'muse' needs its setting 'retrained'"),
    (["--select", "muse", "--muse.retrained", "0.3"],
     "selection rule muse reads muse.knowmem_f, a number of suite muse: add the suite to the curve"),
    (["--select", "utility-floor", "--utility-floor.target-utility", "0.4", "--curve.stop-when-selected"],
     "--curve.stop-when-selected: rule utility-floor takes the best of all checkpoints"),
    (["--curve.every-steps", "0"], "curve.every_steps"),
    (["--method", "TaskVector", "--curve.every-steps", "2"], "method TaskVector does not train"),
])
def test_bad_selection_settings_are_refused_in_one_line(tiny_model_dir, fictitious_bench, tmp_path, capsys, flags,
                                                       message):
    args = ["-q", "forget", "--model", str(tiny_model_dir), "--data", str(fictitious_bench), "--out",
            str(tmp_path / "bad"), "--device", "cpu", *flags]
    assert main(args) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and "\n" not in error
    assert not (tmp_path / "bad" / "trajectory.json").exists()


def test_the_report_of_a_run_folder_shows_its_curve_and_the_chosen_point(selected_run):
    result, _, _ = selected_run
    page = unlearn.write_report(result.out)
    markdown = (result.out / "report.md").read_text()
    assert page == result.out / "report.html" and (result.out / "plots" / "curve_GA_GD.png").is_file()
    assert "| GA+GD | at-step | 2 | the weights of step 2 | step >= 2 |" in markdown
    rows = [line for line in markdown.splitlines() if line.startswith("| 2 | 1 | ✓ |")]
    assert len(rows) == 1 and "forget.probability" in markdown


def test_a_scenario_trains_with_its_rule_and_reports_each_curve(tiny_model_dir, tmp_path):
    from conftest import tiny_experiment
    from unlearn.scenarios.runner import run_experiment

    def qa(subject, question, answer):
        return {"question": question, "answer": answer, "fact": answer, "subject": subject,
                "paraphrased_answer": f"It is {answer}.", "perturbed_answer": ["Rome", "Oslo"]}

    data = tmp_path / "real"
    data.mkdir()
    write_jsonl(data / "real_world_targets.jsonl", [qa("Ada Lovelace", "Where was Ada Lovelace born?", "London"),
                                                    qa("Paris", "Which country is Paris the capital of?", "France")])
    write_jsonl(data / "real_world_neighbors.jsonl", [
        qa("Charles Babbage", "What did Charles Babbage design?", "engines"),
        qa("Berlin", "Which country is Berlin the capital of?", "Germany")])
    out = tmp_path / "run"
    settings = tiny_experiment(tiny_model_dir, out, scenario="real_world", data=str(data), methods=["GA+GD"],
                               scenario_args={"utility_records": 3, "keep_only_known": False}, unlearn={
        "epochs": 2, "batch_size": 1, "gradient_accumulation_steps": 1, "warmup_epochs": 0,
        "curve": {"examples": 2, "max_new_tokens": 4}, "select": "expression",
        "select_args": {"expression": {"expression": "forget.probability", "goal": "minimize"}}})
    run_experiment(settings, progress=lambda _: None)
    manifest = json.loads((out / "experiment.json").read_text())
    model = out / next(row["model"] for row in manifest["models"] if row["label"] == "GA+GD")
    curve, selected = read_trajectory(model / "trajectory.json")
    lowest = min(curve, key=lambda c: c.value("forget.probability"))
    assert [c.step for c in curve] == [0, 2, 4] and selected["step"] == lowest.step  # every epoch by default
    markdown = (out / "report.md").read_text()
    assert "## Checkpoint selection" in markdown and "## Training curve: GA+GD" in markdown
    assert (out / "plots" / "curve_GA_GD.png").is_file()


def test_a_resumed_run_keeps_its_curve_and_chosen_weights_up_to_its_checkpoint(selected_run, tiny_model_dir,
                                                                                fictitious_bench, tmp_path):
    """Stopped at step 3, after the epoch's checkpoint (step 2) and the chosen step 2's weights were saved, and
    resumed: the curve's point 3 is evaluated again, and curve and model equal an uninterrupted run's."""
    uninterrupted, weights, _ = selected_run
    values = settings(tiny_model_dir, fictitious_bench, tmp_path / "resumed", curve=CURVE, select="at-step",
                      select_args={"at-step": {"step": 2}})

    def stop(checkpoint):
        if checkpoint.step == 3:
            raise Pruned(3)

    with registered(SelectionRule("at-step", "toy", at_step, AtStepSettings, picks_first=lambda s: True)):
        with pytest.raises(Pruned):
            unlearn.forget(**values, on_checkpoint=stop)
        assert (tmp_path / "resumed" / "selected" / "model.safetensors").is_file()
        evaluated = []
        resumed = unlearn.forget(**values, resume=True, on_checkpoint=evaluated.append)
    assert [c.step for c in evaluated] == [3, 4]  # from the checkpoint at step 2 on
    assert_weights(resumed.out, weights[2])
    curve, selected = read_trajectory(resumed.out / "trajectory.json")
    expected, _ = read_trajectory(uninterrupted.out / "trajectory.json")
    assert [c.step for c in curve] == [0, 1, 2, 3, 4] and selected["step"] == 2
    for mine, theirs in zip(curve, expected):
        assert mine.metrics == pytest.approx(theirs.metrics, abs=1e-6)
