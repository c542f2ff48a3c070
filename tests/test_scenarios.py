"""Whole experiments on a tiny model: report files, metrics computed or explained, step reuse."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import pytest
import yaml

import unlearn
from conftest import REPORT_FILES, TINY_WORLD, assert_metrics_finite_or_explained, tiny_experiment
from unlearn.cli.main import main
from unlearn.config import validate_settings
from unlearn.errors import UserError
from unlearn.scenarios.experiment import ExperimentSettings
from unlearn.scenarios.runner import run_experiment


def test_fictitious_scenario_reports_and_reuses_finished_steps(tiny_model_dir, tmp_path):
    out = tmp_path / "run"
    settings = tiny_experiment(tiny_model_dir, out)
    page, steps = run_experiment(settings, progress=lambda _: None)
    assert page == out / "report.html"
    for name in REPORT_FILES:
        assert (out / name).is_file(), name
    assert len(steps.ran) == 9 and not steps.reused  # data, 2 fine-tunes, 2 anchor evals, 2 x (forget, eval)
    assert_metrics_finite_or_explained(out)
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [r["model"] for r in rows] == ["target", "retain model", "GA+GD", "IDK+AP"]
    report = (out / "report.md").read_text()
    assert "forget quality (KS p-value) ↑" in report and "Example generations: forget split" in report
    assert "retain evaluation (retain_perturbed): 2 of 2 questions are in retain90, which the retain model and the " \
           "regularizers of GA+GD, IDK+AP trained on (TOFU's own protocol)" in report
    assert "forget quality rests on 2 forget examples, below 20" in report
    assert "<img alt='quality_vs_utility' src='data:image/png;base64," in (out / "report.html").read_text()

    # the Python API on the same experiment, as a dict: every step reused; the thread count is not in a step's key
    again = unlearn.run(tiny_experiment(tiny_model_dir, out).model_dump(), threads=2, progress=lambda _: None)
    assert again.steps_run == [] and len(again.steps_reused) == 9
    assert (again.out, again.report) == (out, page)
    assert again.summary == json.loads((out / "experiment.json").read_text())
    more = tiny_experiment(tiny_model_dir, out, methods=["GA+GD", "IDK+AP", "NPO"])
    _, added = run_experiment(more, progress=lambda _: None)
    assert [name.rsplit("-", 1)[0] for name in added.ran] == ["forget-NPO", "eval-NPO"]

    # attacks on a finished experiment: only the attack step runs, reusing the method's evaluation
    attacks = {"attacks": ["quantize-8bit", "paraphrase"]}
    _, attacked = run_experiment(tiny_experiment(tiny_model_dir, out, methods=["GA+GD"], attacks=attacks),
                                 progress=lambda _: None)
    assert [name.rsplit("-", 1)[0] for name in attacked.ran] == ["attack-GA_GD"]
    manifest = json.loads((out / "experiment.json").read_text())
    folder = out / manifest["models"][-1]["attacks"]
    summary = json.loads((folder / "attack_summary.json").read_text())
    assert summary["evaluations"]["unlearned"] == str(out / manifest["models"][-1]["eval"])
    assert not (folder / "unlearned").exists()
    # the retain model is the control: attacked the same way, its evaluation reused
    retain = next(m for m in manifest["models"] if m["label"] == "retain model")
    assert summary["control"] == str(out / retain["model"]) and summary["recovery_against"].startswith("beyond")
    assert summary["evaluations"]["control"] == str(out / retain["eval"]) and (folder / "control-paraphrase").is_dir()
    report = (out / "report.md").read_text()
    assert "## Robustness: recovery of forget" in report and "| GA+GD |" in report
    rows = list(csv.DictReader((out / "robustness.csv").open()))
    assert {r["attack"] for r in rows} == {"quantize-int8", "paraphrase"}
    assert (out / "plots" / "robustness_recovery.png").is_file()

    # a summary written under an earlier definition of recovery is rescored from the step's files, not re-attacked
    stale = {**summary, "recovery_version": 3, "attacks": [{**a, "metrics": {}} for a in summary["attacks"]]}
    (folder / "attack_summary.json").write_text(json.dumps(stale))
    messages = []
    _, again = run_experiment(tiny_experiment(tiny_model_dir, out, methods=["GA+GD"], attacks=attacks),
                              progress=messages.append)
    assert again.ran == [] and any(m.startswith("rescore attack-GA+GD: its recovery is of version 3") for m in messages)
    assert json.loads((folder / "attack_summary.json").read_text()) == summary


def test_seeds_run_every_training_step_once_per_seed_and_the_report_gives_the_spread(tiny_model_dir, tmp_path):
    out = tmp_path / "run"
    settings = tiny_experiment(tiny_model_dir, out, methods=["GA+GD"], seeds=[0, 1])
    _, steps = run_experiment(settings, progress=lambda _: None)
    # data once; per seed 2 fine-tunes, 2 anchor evals, 1 forget, 1 eval
    assert len(steps.ran) == 1 + 2 * 6
    manifest = json.loads((out / "experiment.json").read_text())
    assert [(m["label"], m["seed"]) for m in manifest["models"]] == [
        ("target", 0), ("retain model", 0), ("GA+GD", 0), ("target", 1), ("retain model", 1), ("GA+GD", 1)]
    targets = [m for m in manifest["models"] if m["label"] == "target"]
    assert targets[0]["model"] != targets[1]["model"]
    settings_0 = json.loads((out / targets[0]["model"] / "unlearn_settings.json").read_text())
    settings_1 = json.loads((out / targets[1]["model"] / "unlearn_settings.json").read_text())
    assert (settings_0["seed"], settings_1["seed"]) == (0, 1)
    report = (out / "report.md").read_text()
    assert "mean ± standard deviation over 2 training seeds (0, 1)" in report
    assert "Which differences hold in every seed (2 seeds)" in report and "| target vs GA+GD |" in report
    assert "| GA+GD (seed 1) |" in report and "Results per seed" in report
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [r["seed"] for r in rows] == ["0", "0", "0", "1", "1", "1"]
    assert "model_utility_tofu_low" in rows[0]

    board = unlearn.compare(out, out=tmp_path / "board", sort_by="retain.probability")
    name = manifest["name"]
    assert sorted(e.label for e in board.entries) == sorted(
        f"{name}/{label} (seed {seed})" for label in ("target", "retain model", "GA+GD") for seed in (0, 1))
    values = [e.value("retain", "probability") for e in board.entries]
    assert values == sorted(values, reverse=True) and (tmp_path / "board" / "leaderboard.html").is_file()
    # forget quality: higher first, the retain models (not computed) last, no paired difference
    board = unlearn.compare(out, out=tmp_path / "board", sort_by="forget_quality")
    qualities = [e.value("overall", "forget_quality") for e in board.entries]
    assert qualities[-2:] == [None, None] and qualities[:4] == sorted(qualities[:4], reverse=True)
    assert "n/c (not a paired number)" in (tmp_path / "board" / "leaderboard.md").read_text()
    _, again = run_experiment(settings, progress=lambda _: None)
    assert again.ran == []


def test_continual_scenario_evaluates_after_every_request(tiny_model_dir, tmp_path):
    out = tmp_path / "run"
    settings = tiny_experiment(tiny_model_dir, out, scenario="continual", methods=["NPO+GD"],
                               scenario_args={**TINY_WORLD, "people": 30, "qa_per_person": 1, "reference": "previous"})
    run_experiment(settings, progress=lambda _: None)
    rows = list(csv.DictReader((out / "continual.csv").open()))
    assert [r["request"] for r in rows] == ["1", "2", "3"]
    assert rows[0]["earlier_fact_accuracy"] == ""  # nothing was forgotten before the first request
    assert all(r["current_probability"] and r["model_utility_tofu"] for r in rows)
    assert (out / "plots" / "continual_probability.png").is_file()
    assert_metrics_finite_or_explained(out)
    eval_folders = sorted((out / "steps").glob("eval-NPO_GD-request*"))  # "+" is "_" in folder names
    forgotten = [len(json.loads((f / "forget.json").read_text())["examples"]) for f in eval_folders]
    assert forgotten == [1, 2, 3]  # each evaluation covers every request so far


@pytest.mark.parametrize("section, value, message", [
    ("finetune", {"epochs": "many"}, "finetune"),
    ("unlearn", {"lerning_rate": 1e-5}, "did you mean 'learning_rate'"),
    ("methods", ["GA+XX"], "unknown regularizer"),
    ("attacks", {"attacks": ["telepathy"]}, "unknown attack 'telepathy'"),
    ("attacks", {"recovery_metric": ["probability"]}, "did you mean 'recovery_metrics'"),
    ("attacks", {"attacks": ["paraphrase"], "attack_args": {"relearn": {"epochs": 3}}},
     "settings of attack 'relearn' (--relearn.*) do not apply: --attacks paraphrase does not run it"),
])
def test_a_bad_experiment_file_fails_before_any_step(tmp_path, capsys, section, value, message):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump({"name": "bad", "out": str(tmp_path / "run"), section: value}))
    assert main(["run", str(path)]) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and "\n" not in error
    assert not (tmp_path / "run").exists()


def test_real_world_scenario_forgets_targets_and_keeps_neighbors(tiny_model_dir, tmp_path):
    from conftest import write_jsonl

    folder = tmp_path / "real"
    folder.mkdir()

    def qa(subject, question, answer):
        return {"question": question, "answer": answer, "fact": answer, "subject": subject,
                "paraphrased_answer": f"It is {answer}.", "perturbed_answer": ["Rome", "Oslo", "Lima"]}

    write_jsonl(folder / "real_world_targets.jsonl", [
        qa("Ada Lovelace", "Where was Ada Lovelace born?", "London"),
        qa("Ada Lovelace", "What did Ada Lovelace write notes about?", "engines"),
        qa("Paris", "Which country is Paris the capital of?", "France")])
    write_jsonl(folder / "real_world_neighbors.jsonl", [
        qa("Charles Babbage", "What did Charles Babbage design?", "engines"),
        qa("Berlin", "Which country is Berlin the capital of?", "Germany"),
        qa("Charles Babbage", "Which country was Charles Babbage from?", "England"),
        qa("Berlin", "Which river flows through Berlin?", "Spree")])
    out = tmp_path / "run"
    settings = tiny_experiment(tiny_model_dir, out, scenario="real_world", data=str(folder), methods=["ME+GD"],
                               scenario_args={"utility_records": 3, "keep_only_known": False})
    run_experiment(settings, progress=lambda _: None)
    for name in REPORT_FILES:
        assert (out / name).is_file(), name
    assert_metrics_finite_or_explained(out)
    intro = (out / "report.md").read_text().splitlines()[2]
    assert "the retain split the held-out neighbor entities" in intro and "forget10" not in intro
    data = next((out / "steps").glob("real-world-data-*"))
    assert sorted(p.stem for p in data.glob("*.jsonl")) == ["forget", "forget_train", "neighbor", "neighbor_train",
                                                           "real_authors_perturbed", "world_facts_perturbed"]
    # the regularizer trains on Babbage (the model's own answers); locality is measured on Berlin only
    trained = [json.loads(line) for line in (data / "neighbor_train.jsonl").read_text().splitlines()]
    held_out = [json.loads(line) for line in (data / "neighbor.jsonl").read_text().splitlines()]
    assert all("Babbage" in r["question"] for r in trained) and len(trained) == 2
    assert all("Berlin" in r["question"] for r in held_out) and len(held_out) == 2
    assert "Notes" not in (out / "report.md").read_text()  # nothing evaluated was trained on
    summary = json.loads(next((out / "steps").glob("eval-ME_GD-*")).joinpath("summary.json").read_text())
    assert summary["splits"]["retain"]["split"] == "neighbor"
    assert summary["overall"]["forget_quality"] is None  # no retain model in this scenario
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [r["model"] for r in rows] == ["original model", "ME+GD"]


@pytest.mark.parametrize("path", sorted((Path(__file__).parent.parent / "configs").glob("experiment_*.yaml")),
                         ids=lambda p: p.name)
def test_shipped_experiment_files_are_valid(path, caplog):
    from unlearn.config import read_yaml
    from unlearn.scenarios.experiment import check_experiment

    with caplog.at_level(logging.WARNING):
        check_experiment(validate_settings(ExperimentSettings, read_yaml(path), str(path)), str(path))
    assert caplog.messages == []  # no release 0.1 name, nothing ignored


def test_a_scenario_s_evaluations_run_its_suites_with_the_eval_section_s_settings_for_them(caplog, tmp_path):
    from unlearn.evaluation.eval_settings import EvalSettings
    from unlearn.scenarios.experiment import check_experiment, with_scenario_suites

    eval_section = {"max_length": 256, "suites": "lm-eval", "suite_args": {"choice": {"format": "continuation"},
                                                                           "lm-eval": {"tasks": ["mmlu"]}}}
    settings = validate_settings(ExperimentSettings, {"scenario": "wmdp", "eval": eval_section, "out": str(tmp_path)})
    with caplog.at_level(logging.WARNING):
        values = with_scenario_suites(settings.eval, "wmdp", {"choice": {"forget": ["bio"], "utility": ["mmlu"]}})
        evaluated = validate_settings(EvalSettings, {**values, "data": "-", "out": "-"})
    assert caplog.messages == []
    assert evaluated.suites == ["choice", "lm-eval"]
    assert evaluated.suite_args == {"choice": {"format": "continuation", "forget": ["bio"], "utility": ["mmlu"]},
                                    "lm-eval": {"tasks": ["mmlu"]}}
    fictitious = {"max_new_tokens": 32}
    assert with_scenario_suites(fictitious, "fictitious") is fictitious  # no suite added: the step keys stay
    with pytest.raises(UserError, match=r"settings of suite 'choice' given, but it is not run"):
        check_experiment(validate_settings(ExperimentSettings, {"eval": eval_section, "out": str(tmp_path)}), "exp")


def test_forget_requests_can_be_cut_into_equal_consecutive_parts():
    from unlearn.data.requests import request_splits
    from unlearn.errors import UserError

    records = [{"question": f"q{i}", "answer": "a", "task_id": 0} for i in range(5)]
    splits = request_splits(records, "forget", count=2)
    assert [r["question"] for r in splits["request01"]] == ["q0", "q1", "q2"]
    assert [r["question"] for r in splits["request02"]] == ["q3", "q4"]
    assert [r["task_id"] for r in splits["requests_upto02"]] == [0, 0, 0, 1, 1]
    with pytest.raises(UserError, match="6 forget requests asked for, but the forget split has 5 records"):
        request_splits(records, "forget", count=6)


def test_the_fictitious_example_is_the_demo_with_idk_gd_over_three_seeds():
    """benchmarks/demo_quality.py measures the demo plus IDK+GD over seeds 0-2; the shipped example
    file must be that same experiment, so its measured numbers are the file's."""
    from unlearn.config import read_yaml
    from unlearn.scenarios.demo import demo_settings

    path = Path(__file__).parent.parent / "configs" / "experiment_fictitious.yaml"
    example = validate_settings(ExperimentSettings, read_yaml(path), str(path)).model_dump()
    demo = demo_settings().model_dump()
    demo["methods"].append({"method": "IDK+GD", "label": None, "settings": {}, "tune": None})
    ignored = {"name", "out", "threads", "seeds"}
    assert {k: v for k, v in example.items() if k not in ignored} == {k: v for k, v in demo.items() if k not in ignored}
    assert example["seeds"] == [0, 1, 2]


def test_an_experiments_written_settings_read_back_as_the_same_experiment():
    """experiment.json keeps ``settings.model_dump()``; ``unlearn.run(that)`` must be the same experiment."""
    settings = validate_settings(ExperimentSettings, {"methods": ["GA+GD", {"method": "NPO", "label": "npo",
                                                                            "learning_rate": 1e-3}]})
    assert validate_settings(ExperimentSettings, settings.model_dump(mode="json")) == settings
