"""The tuned benchmarks' shared steps (benchmarks/tuning_common.py): the validation draw, the experiment at
the chosen settings, and which study's choice is read."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from tuning_common import (chosen_settings, search_cost, tuned_experiment, validation_experiment,  # noqa: E402
                           shown_space, with_entries, with_run)

from unlearn.config import validate_settings  # noqa: E402
from unlearn.scenarios.experiment import ExperimentSettings, check_experiment  # noqa: E402


def wmdp_like() -> ExperimentSettings:
    return validate_settings(ExperimentSettings, {
        "name": "wmdp", "scenario": "wmdp", "scenario_args": {"entities": 20}, "threads": 2,
        "methods": [{"method": "RMU", "learning_rate": 5e-5}, {"method": "RMU", "label": "RMU-adaptive"}, "NPO+GD"],
        "unlearn": {"epochs": 5, "learning_rate": 3e-4}})


def test_the_validation_draw_tunes_the_named_entries_on_another_data_seed(tmp_path):
    tune = {"trials": 4, "objectives": ["choice.forget_choice:minimize", "choice.retain_choice:maximize"]}
    validation = validation_experiment(wmdp_like(), tmp_path / "v", ["RMU", "GA"], 1, tune, unlearn={"epochs": 2})
    check_experiment(validation, "validation")
    assert validation.name == "wmdp-validation" and validation.out == str(tmp_path / "v")
    assert validation.scenario_args == {"entities": 20, "data_seed": 1}
    assert [(e.name, e.settings, e.tune) for e in validation.methods] == [
        ("RMU", {"learning_rate": 5e-5}, tune), ("GA", {}, tune)]  # GA: no entry, the shared settings
    assert validation.unlearn == {"epochs": 2, "learning_rate": 3e-4}


def test_an_entry_added_to_the_experiment_is_tuned_over_its_own_space_on_top_of_the_shared_one(tmp_path):
    tune = {"trials": 4, "objectives": ["choice.forget_choice:minimize"], "space": {"epochs": {"low": 1, "high": 5}}}
    own = {"epochs": {"low": 1, "high": 10}, "rmu.adaptive_beta": {"low": 0.5, "high": 8.0, "log": True},
           "rmu.steering": None}
    settings = with_entries(wmdp_like(), [{"method": "RMU", "label": "RMU-wide", "method_args": {"RMU": {"layer": 5}}}])
    validation = validation_experiment(settings, tmp_path / "v", ["RMU-wide", "NPO+GD"], 1, tune,
                                       spaces={"RMU-wide": own})
    check_experiment(validation, "validation")
    assert [(e.name, e.settings, e.tune["space"]) for e in validation.methods] == [
        ("RMU-wide", {"method_args": {"RMU": {"layer": 5}}}, own), ("NPO+GD", {}, tune["space"])]
    assert validation.methods[1].tune == tune  # a method without a space of its own: the tune section as given


def test_the_tuned_experiment_runs_each_chosen_trial_over_the_seeds_and_leaves_out_a_study_without_one(tmp_path):
    tuned = {"RMU": {"params": {"learning_rate": 2e-4, "rmu.steering": 20.0}},
             "RMU-adaptive": {"params": None}, "NPO+GD": {"params": {"epochs": 3}}}
    report = tuned_experiment(wmdp_like(), tmp_path / "r", tuned, [0, 1, 2])
    check_experiment(report, "report")
    assert report.seeds == [0, 1, 2] and report.scenario_args == {"entities": 20}
    assert [(e.name, e.method, e.settings) for e in report.methods] == [
        ("RMU tuned", "RMU", {"learning_rate": 2e-4, "method_args": {"RMU": {"steering": 20.0}}}),
        ("NPO+GD tuned", "NPO+GD", {"epochs": 3})]


def test_the_choice_is_read_from_the_runs_own_study_of_that_entry(tmp_path):
    def study(name: str, trial: int, seconds: dict | None) -> None:
        folder = tmp_path / "steps" / name
        folder.mkdir(parents=True)
        (folder / "pareto.json").write_text(json.dumps({
            "chosen": {"trial": trial, "reason": f"trial {trial}"}, "front": [{"trial": trial}],
            "trials": [{"trial": 0, "state": "pruned", "params": {"epochs": 1}, "seconds": {"forget": 30.0}},
                       {"trial": trial, "state": "complete", "params": {"epochs": 4}, "seconds": seconds}]}))

    study("tune-forget-RMU-0123456789ab", 1, {"forget": 90.0, "eval": 30.0})
    study("tune-forget-RMU-adaptive-ba9876543210", 2, {"forget": 60.0, "eval": 30.0})
    study("tune-forget-RMU-ffffffffffff", 3, None)  # a stale study of other settings, not in this run
    steps = SimpleNamespace(ran=["tune-forget-RMU-adaptive-ba9876543210"], reused=["tune-forget-RMU-0123456789ab"])
    chosen = chosen_settings(tmp_path, "RMU", steps)
    assert chosen == {"trial": 1, "params": {"epochs": 4}, "reason": "trial 1", "states": {"pruned": 1, "complete": 1},
                      "front": [1], "trial_seconds": [30.0, 120.0], "complete_seconds": [120.0]}
    assert chosen_settings(tmp_path, "RMU-adaptive", steps)["trial"] == 2
    assert search_cost(chosen) == ("trials {'pruned': 1, 'complete': 1}; 2 min in all (every trial that recorded its "
                                   "time), a finished trial 2.0 min (median)")
    kept_before = {"states": {"complete": 2}, "trial_seconds": [60.0, 180.0]}  # kept before pruned trials had times
    assert search_cost(kept_before) == ("trials {'complete': 2}; 4 min in all (the 2 finished, pruned trials not "
                                        "counted), a finished trial 3.0 min (median)")
    with pytest.raises(SystemExit, match="0 tune steps of NPO\\+GD in this run, not one"):
        chosen_settings(tmp_path, "NPO+GD", steps)
    rechecked = tmp_path / "steps" / "tune-forget-RMU-adaptive-ba9876543210" / "pareto.json"
    summary = json.loads(rechecked.read_text())
    summary["recheck"] = {"seeds": [1, 2], "trials": {
        "2": {"objectives": {}, "seconds": {"forget": 100.0, "eval": 20.0}}, "5": {"failed": "trial 5: out of memory"}}}
    rechecked.write_text(json.dumps(summary))
    chosen = chosen_settings(tmp_path, "RMU-adaptive", steps)
    assert (chosen["recheck_seeds"], chosen["recheck_seconds"]) == ([1, 2], [120.0])
    assert search_cost(chosen).endswith("a finished trial 1.5 min (median); 1 trial re-checked with seeds 1, "
                                        "2: 2 min more")


def test_a_run_that_retunes_a_method_replaces_only_that_methods_numbers():
    def run(methods, note_of=()):
        return {"command": f"tune {' '.join(methods)}", "tuned": {m: {"params": {"lr": 1}} for m in methods},
                "rows": [{"model": f"{m} tuned", "seed": 0} for m in methods],
                "held": {f"{m} tuned": [True] for m in methods}, "notes": [f"{m} note" for m in note_of] + ["Run."]}

    first, second = run(["GA+GD"]), run(["ME+GD", "IDK+AP", "RMU"], ["ME+GD", "IDK+AP"])
    again = run(["IDK+AP"])
    kept = with_run(with_run([first], second), again)
    assert [r["command"] for r in kept] == ["tune GA+GD", "tune ME+GD IDK+AP RMU", "tune IDK+AP"]
    assert list(kept[1]["tuned"]) == ["ME+GD", "RMU"] and list(kept[1]["held"]) == ["ME+GD tuned", "RMU tuned"]
    assert [r["model"] for r in kept[1]["rows"]] == ["ME+GD tuned", "RMU tuned"]
    assert kept[1]["notes"] == ["ME+GD note", "Run."]
    assert [r["command"] for r in with_run(kept, run(["GA+GD"]))] == [
        "tune ME+GD IDK+AP RMU", "tune IDK+AP", "tune GA+GD"]  # a run with no method left goes


def test_a_scenario_run_that_retunes_a_method_keeps_the_other_methods_models_of_each_seed():
    def run(methods):
        models = [{"label": "target"}, *({"label": f"{m} tuned"} for m in methods)]
        return {"command": f"tune {' '.join(methods)}", "tuned": {m: {"params": {"lr": 1}} for m in methods},
                "seeds": {"0": {"scenario": "wmdp", "models": models}, "1": {"scenario": "wmdp", "models": models}}}

    kept = with_run([run(["RMU", "NPO+GD"])], run(["RMU-adaptive", "RMU"]))
    assert [list(r["tuned"]) for r in kept] == [["NPO+GD"], ["RMU-adaptive", "RMU"]]
    assert [m["label"] for m in kept[0]["seeds"]["1"]["models"]] == ["target", "NPO+GD tuned"]
    assert "rows" not in kept[0] and "held" not in kept[0]  # a scenario's record gains no demo fields


def test_the_robustness_benchmark_attacks_only_the_listed_tuned_methods_at_their_chosen_settings():
    import robustness

    entries = robustness.tuned_entries(["RMU-adaptive"])
    assert [e["label"] for e in entries] == ["RMU-adaptive tuned"]
    assert entries[0]["method"] == "RMU" and entries[0]["lr_schedule"] == "constant"  # the added entry's own settings
    assert "adaptive_beta" in entries[0]["method_args"]["RMU"]
    assert len(robustness.tuned_entries()) > 1
    with pytest.raises(SystemExit, match="--methods: NOPE not tuned in tuned_demo.json"):
        robustness.tuned_entries(["NOPE"])


def test_a_space_reads_as_words():
    assert shown_space({"learning_rate": {"low": 1e-5, "high": 1e-3, "log": True}, "epochs": {"low": 1, "high": 10},
                        "rmu.steering": None, "ap.beta": [0.1, 0.2]}) == (
        "learning_rate 1e-05 to 0.001 (log), epochs 1 to 10, rmu.steering left out, ap.beta in [0.1, 0.2]")
