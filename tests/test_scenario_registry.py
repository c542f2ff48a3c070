"""A scenario plugs into ``unlearn run`` with one registration (issue 28).

The toy scenario below is defined here and nowhere else: it generates the built-in fictitious
benchmark at its own size (its one setting, ``people``), fine-tunes nothing (the experiment's
``target_model``), and runs one method and one evaluation through the shared steps of
``scenarios/common.py``. ``unlearn run``, ``unlearn run --list-scenarios``, ``unlearn.run`` and the
report find it in the registry; no other file knows its name.
"""

from __future__ import annotations

import json

import pytest
import yaml
from pydantic import Field, PositiveInt

import unlearn
from unlearn.cli.main import main
from unlearn.config import PartSettings, validate_settings
from unlearn.data.fictitious import generate_fictitious
from unlearn.errors import UserError
from unlearn.scenarios.experiment import ExperimentSettings, check_experiment
from unlearn.scenarios.registry import Scenario, find_scenario, registered, scenarios

SPLITS = ["forget10", "forget10_perturbed", "retain90", "retain_perturbed"]


class ToySettings(PartSettings):
    people: PositiveInt = Field(10, description="invented people of the toy benchmark (one fact each)")


def toy_run(settings, steps) -> dict:
    """Data, one forget step of the first method from the given target, its evaluation."""
    from unlearn.scenarios.common import Generated, data_step, eval_step, forget_step

    people = settings.scenario_settings.people
    generated = Generated({"toy": people}, lambda: generate_fictitious(people, 1, 0))
    data = data_step(settings, steps, SPLITS, generated)
    entry = settings.methods[0]
    model = forget_step(settings, steps, settings.target_model, data, entry, settings.forget, f"forget-{entry.name}")
    evaluated = eval_step(settings, steps, model, data, f"eval-{entry.name}", real_authors=None, world_facts=None,
                          holdout=None)
    return {"models": [{"label": entry.name, "role": "method", "model": model, "eval": evaluated}],
            "notes": [f"toy benchmark of {people} people"]}


@pytest.fixture()
def toy():
    scenario = Scenario("toy", "a toy: one method on a small invented benchmark, nothing fine-tuned", toy_run,
                        ToySettings, intro="Toy run of {model} on {data}, forgetting {forget}.")
    with registered(scenario):
        yield scenario
    assert "toy" not in [s.name for s in scenarios()]


def test_a_registered_scenario_is_listed_and_validated_with_its_own_settings(toy, capsys, tmp_path):
    assert main(["run", "--list-scenarios"]) == 0
    listed = capsys.readouterr().out
    assert "toy          a toy: one method on a small invented benchmark, nothing fine-tuned" in listed
    assert "scenario_args.people (default 10): invented people of the toy benchmark (one fact each)" in listed
    assert "muse " in listed and "scenario_args.protocol (default standard)" in listed  # the shipped ones too

    settings = validate_settings(ExperimentSettings, {"scenario": "toy", "scenario_args": {"people": 4}})
    assert settings.scenario_settings == ToySettings(people=4)
    assert (settings.forget, settings.retain) == ("forget10", "retain90")  # the registration's default splits
    with pytest.raises(UserError, match=r"^exp: scenario_args: 'protocol' is a setting of scenario muse, not scenario "
                                        r"toy \(its settings: people\)$"):
        validate_settings(ExperimentSettings, {"scenario": "toy", "scenario_args": {"protocol": "scalability"}}, "exp")
    with pytest.raises(UserError, match=r"scenario_args.people = 0: Input should be greater than 0"):
        validate_settings(ExperimentSettings, {"scenario": "toy", "scenario_args": {"people": 0}})
    with pytest.raises(ValueError, match="a scenario named 'toy' is already registered"):
        with registered(toy):
            pass
    attacked = validate_settings(ExperimentSettings, {"scenario": "toy", "out": str(tmp_path / "run"),
                                                      "attacks": {"attacks": ["paraphrase"]}})
    with pytest.raises(UserError, match="^exp: attacks: scenario toy does not run attacks; run 'unlearn attack'"):
        check_experiment(attacked, "exp")


def test_an_unregistered_scenario_is_refused_in_one_line(tmp_path, capsys):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump({"name": "x", "out": str(tmp_path / "run"), "scenario": "toy"}))
    assert main(["run", str(path)]) == 2
    error = capsys.readouterr().err.strip()
    assert "unknown scenario 'toy' (registered: fictitious, continual, real_world, wmdp, muse, rwku;" in error
    assert "\n" not in error and not (tmp_path / "run").exists()


def test_release_0_1_flat_names_reach_the_scenario_with_a_warning(caplog):
    settings = validate_settings(ExperimentSettings, {"scenario": "muse", "muse_protocol": "scalability",
                                                      "people": 12, "wmdp_entities": 5})
    assert settings.scenario_args == {"protocol": "scalability", "people": 12}
    assert settings.scenario_settings.protocol == "scalability" and settings.scenario_settings.qa_per_person == 5
    assert "setting 'muse_protocol' is renamed scenario_args: {protocol: ...}" in caplog.text
    assert "setting 'wmdp_entities' is for scenario wmdp, not muse: ignored" in caplog.text
    with pytest.raises(UserError, match="scenario real_world chooses its own splits; remove 'forget'"):
        validate_settings(ExperimentSettings, {"scenario": "real_world", "forget": "forget05"})
    assert find_scenario("wmdp").forget == "forget_corpus"
    assert validate_settings(ExperimentSettings, {"scenario": "wmdp"}).retain == "retain_corpus"


def test_a_toy_scenario_runs_through_unlearn_run_and_writes_its_report(toy, tiny_model_dir, tmp_path):
    out = tmp_path / "run"
    experiment = {"name": "toy", "out": str(out), "scenario": "toy", "scenario_args": {"people": 10},
                  "model": str(tiny_model_dir), "target_model": str(tiny_model_dir), "device": "cpu", "threads": 1,
                  "methods": ["GA"], "unlearn": {"epochs": 1, "batch_size": 4, "gradient_accumulation_steps": 1,
                                                 "warmup_epochs": 0},
                  "eval": {"max_new_tokens": 2, "nli_model": "none", "embedder": "none"}}
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(experiment))
    assert main(["run", str(path)]) == 0

    manifest = json.loads((out / "experiment.json").read_text())
    assert manifest["scenario"] == "toy" and manifest["settings"]["scenario_args"] == {"people": 10}
    assert [m["label"] for m in manifest["models"]] == ["GA"] and manifest["notes"] == ["toy benchmark of 10 people"]
    data = next((out / "steps").glob("data-*"))
    assert sorted(p.stem for p in data.glob("*.jsonl")) == sorted(SPLITS)
    assert len((data / "retain90.jsonl").read_text().splitlines()) == 9  # 10 people, one fact each, one forgotten
    report = (out / "report.md").read_text().splitlines()
    assert report[0] == "# toy: toy scenario"
    assert report[2] == f"Toy run of {tiny_model_dir} on builtin, forgetting forget10."
    assert (out / "report.html").is_file() and (out / "summary.csv").is_file()

    again = unlearn.run(experiment, progress=lambda _: None)  # the Python API: the same steps, all reused
    assert again.steps_run == [] and len(again.steps_reused) == 3
