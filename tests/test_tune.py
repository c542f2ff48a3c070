"""``unlearn tune`` (issue 29, item 3): a study writes its front, the chosen trial and a best.yaml that
``unlearn forget`` loads; a killed study resumes with its lost trial failed and retried while two workers
share it; a trial is pruned from its curve; the space, the objectives and the prune rule by hand."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
import multiprocessing
import os
import re
import signal
import sqlite3
import time
from types import SimpleNamespace

import optuna
import pytest
import yaml

from conftest import tiny_experiment
from unlearn.cli.main import main
from unlearn.config import settings_from
from unlearn.errors import UserError
from unlearn.selection import Checkpoint
from unlearn.training.forget_settings import ForgetSettings
from unlearn.tuning.objectives import (MetricMissing, Objective, default_objectives, parse_objective, read_objective,
                                       stored_interval)
from unlearn.tuning.pruning import prune_reason, reference_utility
from unlearn.tuning.space import Dimension, fixed_defaults, search_space
from unlearn.tuning.study import HeartbeatJournalStorage, TrialSeededSampler, fail_dead_trials, open_storage
from unlearn.tuning.trial import Surplus, TrialFailed, check_not_surplus

# the evaluation of every trial: the forget, retain and holdout splits, short answers, few resamples
EVAL = {"max_new_tokens": 4, "nli_model": "none", "embedder": "none", "real_authors": "none", "world_facts": "none",
        "bootstrap_resamples": 100}
OBJECTIVES = ["forget.probability:minimize", "retain.probability:maximize"]


def tune_argv(model, bench, out, tmp_path, trials: int, **config) -> list[str]:
    path = tmp_path / f"tune-{out.name}.yaml"
    path.write_text(yaml.safe_dump({"eval": EVAL, **config}))
    return ["-q", "tune", "--config", str(path), "--model", str(model), "--data", str(bench), "--out", str(out),
            "--method", "GA+GD", "--forget", "forget10", "--retain", "retain90", "--epochs", "1", "--batch-size", "2",
            "--gradient-accumulation-steps", "1", "--warmup-epochs", "0", "--device", "cpu", "--threads", "1",
            "--objectives", *OBJECTIVES, "--n-trials", str(trials), "--heartbeat-interval", "1",
            "--grace-period", "2"]


def study_of(out):
    return optuna.load_study(study_name="GA+GD-forget10", storage=f"sqlite:///{out / 'study.db'}")


def test_a_study_writes_its_front_the_chosen_trial_and_a_best_yaml_that_loads(tiny_model_dir, fictitious_bench,
                                                                              tmp_path, capsys):
    out = tmp_path / "study"
    assert main(tune_argv(tiny_model_dir, fictitious_bench, out, tmp_path, 2)) == 0
    summary = json.loads((out / "pareto.json").read_text())
    assert summary["counts"]["complete"] == 2 and summary["objectives"] == OBJECTIVES
    assert [d["name"] for d in summary["space"]] == ["learning_rate", "regularizer_weight"]  # epochs given: fixed
    trials = {t["trial"]: t for t in summary["trials"]}
    front = [row["trial"] for row in summary["front"]]
    assert front and set(front) <= {0, 1}
    for row in summary["front"]:  # each objective with its interval around it
        for stored in row["objectives"].values():
            low, high = stored["interval"]
            assert low <= stored["value"] <= high
    chosen = summary["chosen"]["trial"]
    assert chosen in front and summary["chosen"]["args"]["utility_metric"] == "retain.probability"
    target = summary["target"]["values"]["retain.probability"]
    assert summary["chosen"]["args"]["target_utility"] == target
    assert f"trial {chosen}: the lower forget.probability" in summary["chosen"]["reason"]
    lines = (out / "pareto.csv").read_text().splitlines()
    assert lines[0].startswith("trial,forget.probability,forget.probability_low,forget.probability_high,")
    assert len(lines) == 1 + len(front) and (out / "pareto.png").stat().st_size > 1000
    best = settings_from(ForgetSettings, {}, out / "best.yaml")  # unlearn forget --config best.yaml, as it is
    assert best.learning_rate == trials[chosen]["params"]["learning_rate"]
    assert best.regularizer_weight == trials[chosen]["params"]["regularizer_weight"]
    assert (best.method, best.forget, best.epochs) == ("GA+GD", "forget10", 1.0)
    assert not (out / "trials" / "0000" / "model").exists()  # weights deleted once evaluated
    assert (out / "trials" / "0000" / "train_summary.json").is_file()
    assert "chosen: trial" in capsys.readouterr().out
    # run again: the study is complete, nothing is trained or evaluated again
    target_eval = (out / "target_eval" / "summary.json").stat().st_mtime_ns
    assert main(tune_argv(tiny_model_dir, fictitious_bench, out, tmp_path, 2)) == 0
    assert len(study_of(out).trials) == 2 and (out / "target_eval" / "summary.json").stat().st_mtime_ns == target_eval


def _worker(argv):
    import torch

    torch.set_num_threads(1)  # a forked child runs no OpenMP region its parent may have opened
    os._exit(main(argv))


def test_a_killed_study_resumes_and_two_workers_share_it(tiny_model_dir, fictitious_bench, tmp_path):
    """kill -9 after the first trial is committed; then two workers (a forked process and this one) resume the
    same SQLite study: it reaches its total, the killed trial is failed and retried, never left RUNNING."""
    import unlearn.training.forget  # noqa: F401 (imported once here, not in each forked worker)
    import unlearn.tuning.run  # noqa: F401

    out = tmp_path / "shared"
    argv = tune_argv(tiny_model_dir, fictitious_bench, out, tmp_path, 3)
    fork = multiprocessing.get_context("fork")
    first = fork.Process(target=_worker, args=(argv,))
    first.start()
    deadline = time.time() + 120
    while time.time() < deadline:
        if (out / "study.db").is_file():
            with sqlite3.connect(out / "study.db", timeout=30) as db:
                try:
                    done = db.execute("SELECT count(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0]
                except sqlite3.OperationalError:  # the tables are not there yet
                    done = 0
            if done:
                break
        time.sleep(0.1)
    os.kill(first.pid, signal.SIGKILL)
    first.join()
    killed = [t.number for t in study_of(out).trials if t.state == optuna.trial.TrialState.RUNNING]
    second = fork.Process(target=_worker, args=(argv,))
    second.start()
    assert main(argv) == 0
    second.join(timeout=120)
    assert second.exitcode == 0
    trials = study_of(out).trials
    states = [t.state for t in trials]
    assert sum(s in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED) for s in states) == 3
    assert optuna.trial.TrialState.RUNNING not in states
    assert len({t.number for t in trials}) == len(trials)
    for number in killed:  # failed, and its settings run again in a retry
        assert trials[number].state == optuna.trial.TrialState.FAIL
        retry = next(t for t in trials if t.system_attrs.get("failed_trial") == number)
        assert retry.params == trials[number].params
        assert not (out / "trials" / f"{number:04d}" / "model").exists()  # its weights deleted too
    workers = {t.user_attrs["worker"] for t in trials if t.state == optuna.trial.TrialState.COMPLETE}
    assert len(workers) >= 2  # the killed one's first trial and at least one of the two resuming workers
    failed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL and t.number not in killed]
    assert all("the study already had its 3 trials" in t.user_attrs["fail_reason"] for t in failed)


def test_a_trial_whose_utility_falls_below_the_floor_is_pruned_with_its_step(tiny_model_dir, fictitious_bench,
                                                                              tmp_path):
    out = tmp_path / "pruned"
    curve = {"at_start": False, "examples": 2, "max_new_tokens": 4, "real_authors": None, "world_facts": None}
    # a floor above 1 x the target: the first point is below it whatever the trial does
    argv = tune_argv(tiny_model_dir, fictitious_bench, out, tmp_path, 1, curve=curve, prune_floor=5.0)
    assert main(argv) == 0
    summary = json.loads((out / "pareto.json").read_text())
    (trial,) = summary["trials"]
    assert trial["state"] == "pruned" and trial["pruned_step"] == 1
    assert list(trial["seconds"]) == ["forget"] and trial["seconds"]["forget"] > 0  # its cost counts too
    assert trial["pruned_reason"].startswith("step 1 (epoch 1): retain.probability ")
    assert "is below 5 x the target's" in trial["pruned_reason"]
    assert summary["front"] == [] and summary["chosen"]["trial"] is None and not (out / "best.yaml").exists()


def same(found: Dimension, expected: Dimension) -> bool:
    """Equal, the bounds to rounding (1e-5 / 10 is 1.0000000000000002e-06)."""
    ends = [(found.low, expected.low), (found.high, expected.high)]
    return dataclasses.replace(found, low=None, high=None) == dataclasses.replace(expected, low=None, high=None) \
        and all(a == pytest.approx(b) for a, b in ends)


def test_space_defaults_overrides_and_one_line_errors():
    defaults = {"learning_rate": 1e-5, "epochs": 5.0, "regularizer_weight": None}
    dims = {d.name: d for d in search_space("NPO+GD", "none", set(), {}, defaults)}
    assert same(dims["learning_rate"], Dimension("learning_rate", 1e-6, 1e-4, log=True))
    assert dims["epochs"] == Dimension("epochs", 1.0, 5.0, step=1.0)
    assert same(dims["regularizer_weight"], Dimension("regularizer_weight", 0.1, 10.0, log=True))
    assert dims["npo.beta"] == Dimension("npo.beta", 0.025, 0.4, log=True)
    assert set(dims) == {"learning_rate", "epochs", "regularizer_weight", "npo.beta"}  # not dual.*: PDU's
    given = {d.name for d in search_space("NPO+GD", "none", {"epochs", "npo.beta"}, {}, defaults)}
    assert given == {"learning_rate", "regularizer_weight"}  # settings given explicitly stay fixed
    # ... and are named to the user, unless the space brings them back
    assert fixed_defaults("NPO+GD", "none", {"epochs", "npo.beta", "learning_rate"}, {"lr": [1e-5]},
                          defaults) == ["epochs", "npo.beta"]
    space = {"lr": {"low": 1e-6, "high": 1e-3, "log": True}, "NPO.beta": {"low": 0.05, "high": 0.5},
             "epochs": [1, 2, 3], "regularizer_weight": None, "rmu.layer": None}
    with pytest.raises(UserError, match=r"^space: 'rmu.layer' is not a setting method NPO\+GD can tune \(its "
                                        r"settings: .*npo.beta, dual.epsilon"):
        search_space("NPO+GD", "none", set(), space, defaults)
    del space["rmu.layer"]
    dims = {d.name: d for d in search_space("NPO+GD", "none", set(), space, defaults)}
    assert dims == {"learning_rate": Dimension("learning_rate", 1e-6, 1e-3, log=True),
                    "npo.beta": Dimension("npo.beta", 0.05, 0.5),
                    "epochs": Dimension("epochs", choices=(1.0, 2.0, 3.0))}
    rmu = {d.name: d for d in search_space("RMU", "none", set(), {"rmu.layer": [5, 6]}, defaults)}
    assert rmu["rmu.layer"].choices == (5, 6)
    assert rmu["rmu.steering"] == Dimension("rmu.steering", 1.625, 26.0, log=True)
    assert same(rmu["regularizer_weight"], Dimension("regularizer_weight", 120.0, 12000.0, log=True))  # RMU's b 1200
    for bad, message in [({"npo.beta": {"low": -1, "high": 1}}, "space: npo.beta = -1: Input should be greater than 0"),
                         ({"lr": {"low": 1e-3, "high": 1e-5}}, "space: learning_rate needs low < high"),
                         ({"lr": {"low": 1e-5}}, "space: learning_rate needs both low and high"),
                         ({"lr": 1e-5}, "space: learning_rate must be {low, high[, log, step]} or a list"),
                         ({"lr_schedule": {"low": 0, "high": 1}}, "space: lr_schedule is not a number")]:
        with pytest.raises(UserError, match=f"^{re.escape(message)}"):
            search_space("NPO+GD", "none", set(), bad, defaults)


def test_bad_tune_settings_exit_2_in_one_line(tiny_model_dir, fictitious_bench, tmp_path, capsys):
    base = ["tune", "--model", str(tiny_model_dir), "--data", str(fictitious_bench), "--out", str(tmp_path / "x"),
            "--method", "NPO"]
    cases = [(["--objectives", "forget.fact_accuracy:up"], "objective 'forget.fact_accuracy:up': the direction is "),
             (["--objectives", "muse.knowmem_f"], "objective 'muse.knowmem_f': give its direction"),
             (["--select", "best"], "unknown selection rule 'best'"),
             (["--config", str(tmp_path / "space.yaml")], "space: 'npo.bta' is not a setting method NPO can tune"),
             (["--config", str(tmp_path / "eval.yaml")], "eval: 'model' is set by tune")]
    (tmp_path / "space.yaml").write_text("space: {npo.bta: {low: 0.05, high: 0.5}}\n")
    (tmp_path / "eval.yaml").write_text("eval: {model: other}\n")
    for flags, message in cases:
        assert main([*base, *flags]) == 2
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and message in error, error
    assert not (tmp_path / "x").exists()


def test_the_prune_rule_on_hand_made_checkpoints():
    name = "model_utility_tofu"
    start = Checkpoint(0, 0.0, {name: 0.40})
    assert reference_utility(start, name, 0.45) == 0.40  # the target on the curve's own subset
    assert reference_utility(Checkpoint(5, 0.5, {name: 0.3}), name, 0.45) == 0.45  # no step 0: the full evaluation
    assert reference_utility(Checkpoint(0, 0.0, {name: None}), name, 0.45) == 0.45
    assert prune_reason(Checkpoint(10, 1.0, {name: 0.25}), name, 0.40, 0.5) is None  # 0.25 >= 0.2
    collapsed = prune_reason(Checkpoint(20, 2.0, {name: 0.05}), name, 0.40, 0.5)
    assert collapsed == ("step 20 (epoch 2): model_utility_tofu 0.05 is below 0.5 x the target's 0.4 = 0.2; a "
                         "collapsed model does not recover")
    # judged by the interval's high end: a noisy low value whose interval reaches the floor is kept
    assert prune_reason(Checkpoint(20, 2.0, {name: 0.15}, {name: (0.05, 0.22)}), name, 0.40, 0.5) is None
    assert "0.15 (interval up to 0.18) is below" in prune_reason(
        Checkpoint(20, 2.0, {name: 0.15}, {name: (0.1, 0.18)}), name, 0.40, 0.5)
    assert prune_reason(Checkpoint(20, 2.0, {name: None}), name, 0.40, 0.5) is None  # not computed: no evidence
    assert prune_reason(Checkpoint(20, 2.0, {"forget.fact_accuracy": 0.0}), name, 0.40, 0.5) is None


def test_objectives_directions_defaults_and_missing_values():
    assert parse_objective("forget.fact_accuracy") == Objective("forget.fact_accuracy", "minimize")
    assert parse_objective("overall.model_utility_tofu") == Objective("model_utility_tofu", "maximize")
    assert parse_objective("muse.knowmem_f:min") == Objective("muse.knowmem_f", "minimize")
    summary = {"overall": {"model_utility_tofu": 0.4, "forget_quality": None},
               "overall_intervals": {"model_utility_tofu": [0.35, 0.45]},
               "splits": {"forget": {"metrics": {"fact_accuracy": 0.9, "rougeL_recall": 0.8}, "intervals": {}}},
               "not_computed": {"forget_quality": "no --retain-eval given"}}
    assert [o.text for o in default_objectives(summary)] == ["forget.fact_accuracy:minimize",
                                                            "model_utility_tofu:maximize"]
    # a suite's own forget and utility score (its registered headline): WMDP's by the splits' roles
    wmdp = {"splits": {"forget": {"metrics": {"rougeL_recall": 0.8}}},
            "multiple_choice": {"mmlu.test": {"role": "utility", "accuracy": 0.49, "interval": [0.39, 0.59]},
                                "wmdp-bio.test": {"role": "forget", "accuracy": 0.42, "interval": [0.32, 0.52]},
                                "wmdp-cyber.test": {"role": "forget", "accuracy": 0.3, "interval": [0.2, 0.4]}}}
    assert [o.text for o in default_objectives(wmdp)] == ["choice.wmdp-bio.test:minimize",
                                                         "choice.mmlu.test:maximize"]
    assert read_objective(wmdp, parse_objective("choice.wmdp-bio.test:min")) == (0.42, [0.32, 0.52])
    muse = {"muse": {"knowmem_f": {"mean": 0.3, "interval": [0.2, 0.4]}, "knowmem_r": {"mean": 0.5}}}
    assert [o.text for o in default_objectives(muse)] == ["muse.knowmem_f:minimize", "muse.knowmem_r:maximize"]
    assert read_objective(summary, parse_objective("model_utility_tofu")) == (0.4, [0.35, 0.45])
    with pytest.raises(MetricMissing, match="^forget_quality was not computed: no --retain-eval given$"):
        read_objective(summary, parse_objective("forget_quality:maximize"))
    with pytest.raises(MetricMissing, match="has no such number"):
        read_objective(summary, parse_objective("forget.truth_ratio"))
    # what a finished trial stored: an objective's interval, None where it has none or was not stored
    stored = SimpleNamespace(user_attrs={"objectives": {"model_utility_tofu": {"value": 0.4, "interval": [0.35, 0.45]},
                                                        "forget.fact_accuracy": {"value": 0.9, "interval": None}}})
    assert stored_interval(stored, "model_utility_tofu") == [0.35, 0.45]
    assert stored_interval(stored, "forget.fact_accuracy") is None and stored_interval(stored, "x") is None
    assert stored_interval(SimpleNamespace(user_attrs={}), "model_utility_tofu") is None


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
def test_seeded_sampling_dead_journal_trials_and_no_surplus(tmp_path):
    """Trial k samples from (seed, k): reproducible, and two workers draw different settings. A journal storage's
    running trial without a heartbeat for the grace period is failed and queued again with its settings. A trial
    asked for when the study has its total gives way."""
    def drawn(seed: int, trials: int) -> list[float]:
        study = optuna.create_study(sampler=TrialSeededSampler("tpe", seed, 10))
        return [study.ask().suggest_float("x", 0, 1) for _ in range(trials)]

    assert drawn(0, 3) == drawn(0, 3) and len(set(drawn(0, 3))) == 3 and drawn(0, 3) != drawn(1, 3)
    storage = open_storage(f"journal:{tmp_path / 'journal.log'}", 1, 1)
    assert isinstance(storage, HeartbeatJournalStorage)
    study = optuna.create_study(storage=storage, study_name="s")
    dead = study.ask()
    dead.suggest_float("x", 0, 1)
    storage.record_heartbeat(dead._trial_id)
    fail_dead_trials(study)
    assert study.trials[0].state == optuna.trial.TrialState.RUNNING  # beat just now
    time.sleep(1.2)
    fail_dead_trials(study)
    first, retry = study.trials
    assert first.state == optuna.trial.TrialState.FAIL and retry.state == optuna.trial.TrialState.WAITING
    assert retry.params == first.params and retry.system_attrs["failed_trial"] == 0
    full = optuna.create_study()
    full.tell(full.ask(), 1.0)
    with pytest.raises(Surplus, match="^the study already had its 1 trials when trial 1 started$"):
        check_not_surplus(full.ask(), 1)
    check_not_surplus(full.ask(), 3)  # trial 2, after trial 0 complete and trial 1 running: 2 of 3


def test_a_scenario_method_with_tune_unlearns_with_the_chosen_settings(tiny_model_dir, fictitious_bench, tmp_path):
    """``tune:`` in a method entry: the study runs first as a step of its own, on the validation split it names,
    and the forget step uses its chosen trial's settings; both steps are reused when run again."""
    from unlearn.scenarios.common import forget_step
    from unlearn.scenarios.experiment import check_experiment
    from unlearn.scenarios.steps import Steps

    section = {"trials": 1, "forget": "forget05", "objectives": OBJECTIVES, "eval": EVAL}
    settings = tiny_experiment(tiny_model_dir, tmp_path / "exp", methods=[{"method": "GA+GD", "tune": section}])
    check_experiment(settings, "exp.yaml")
    entry = settings.methods[0]
    steps = Steps(tmp_path / "exp", progress=lambda message: None)
    model = forget_step(settings, steps, tiny_model_dir, fictitious_bench, entry, "forget10", "forget-GA+GD")
    target_eval, tuned, forgot = steps.ran  # the target scored on the validation split, the study, the forget step
    assert target_eval.startswith("eval-target-") and tuned.startswith("tune-forget-GA_GD-") and forgot == model.name
    summary = json.loads((model.parent / tuned / "pareto.json").read_text())
    (trial,) = summary["trials"]
    assert summary["chosen"]["trial"] == 0 and trial["state"] == "complete"
    trained = json.loads((model.parent / tuned / "trials" / "0000" / "eval" / "summary.json").read_text())
    assert trained["splits"]["forget"]["split"] == "forget05_perturbed"  # the validation split, not the reported one
    run = json.loads((model / "unlearn_settings.json").read_text())
    assert run["forget"] == "forget10" and run["learning_rate"] == trial["params"]["learning_rate"]
    assert run["regularizer_weight"] == trial["params"]["regularizer_weight"]
    again = Steps(tmp_path / "exp", progress=lambda message: None)
    other_threads = tiny_experiment(tiny_model_dir, tmp_path / "exp", threads=2,
                                    methods=[{"method": "GA+GD", "tune": section}])  # not part of any step's key
    assert forget_step(other_threads, again, tiny_model_dir, fictitious_bench, entry, "forget10",
                       "forget-GA+GD") == model
    assert again.ran == [] and again.reused == [target_eval, tuned, forgot]
    bad = tiny_experiment(tiny_model_dir, tmp_path / "bad", methods=[{"method": "GA+GD", "tune": {"trails": 8}}])
    with pytest.raises(UserError, match=r"^exp.yaml: method GA\+GD: tune: unknown setting 'trails' \(tune settings: "):
        check_experiment(bad, "exp.yaml")
    bad = tiny_experiment(tiny_model_dir, tmp_path / "bad", methods=[{"method": "GA+GD", "tune": {"space": {"x": []}}}])
    with pytest.raises(UserError, match=r"^exp.yaml: method GA\+GD: tune: space: 'x' is not a setting method GA\+GD"):
        check_experiment(bad, "exp.yaml")


def test_a_scenario_study_rechecked_over_seeds_reuses_the_study_and_unlearns_with_the_rechecks_choice(
        tiny_model_dir, fictitious_bench, tmp_path):
    """``tune: {recheck_seeds: [...]}``: the study's step is the one without it (its key unchanged, so it is
    reused), then a recheck step reads the study from its storage and re-runs the front with the seed; the
    forget step takes the recheck's choice."""
    from unlearn.scenarios.common import forget_step
    from unlearn.scenarios.steps import Steps

    section = {"trials": 1, "forget": "forget05", "objectives": OBJECTIVES, "eval": EVAL}
    entry_of = lambda tune: tiny_experiment(tiny_model_dir, tmp_path / "exp",  # noqa: E731
                                            methods=[{"method": "GA+GD", "tune": tune}])
    plain = Steps(tmp_path / "exp", progress=lambda message: None)
    settings = entry_of(section)
    forget_step(settings, plain, tiny_model_dir, fictitious_bench, settings.methods[0], "forget10", "forget-GA+GD")
    study = next(name for name in plain.ran if name.startswith("tune-forget-GA_GD-"))
    rechecked = Steps(tmp_path / "exp", progress=lambda message: None)
    settings = entry_of({**section, "recheck_seeds": [7]})
    model = forget_step(settings, rechecked, tiny_model_dir, fictitious_bench, settings.methods[0], "forget10",
                        "forget-GA+GD")
    assert study in rechecked.reused
    (recheck,) = [name for name in rechecked.ran if name.startswith("recheck-forget-GA_GD-")]
    summary = json.loads((model.parent / recheck / "pareto.json").read_text())
    assert summary["recheck"]["seeds"] == [7] and set(summary["recheck"]["trials"]["0"]["per_seed"]) == {"0", "7"}
    assert summary["chosen"]["trial"] == 0 and "worst of seeds 0, 7" in summary["chosen"]["reason"]
    assert (model.parent / recheck / "trials" / "0000" / "recheck-seed-7" / "objectives.json").is_file()
    assert not (model.parent / study / "trials" / "0000" / "recheck-seed-7").exists()  # the study's folder as it was
    run = json.loads((model / "unlearn_settings.json").read_text())
    assert run["learning_rate"] == summary["trials"][0]["params"]["learning_rate"]


def test_a_scenario_study_gets_the_retain_models_evaluation_of_the_split_its_trials_are_evaluated_on(tmp_path):
    """Forget quality and PrivLeak need the retain model's evaluation of the same questions: a scenario's study
    gets it only where its trials are evaluated on the forget split that evaluation scored."""
    from unlearn.scenarios.tuned import with_retain_eval

    retain_eval = tmp_path / "eval-retain-model"
    retain_eval.mkdir()
    (retain_eval / "unlearn_settings.json").write_text(json.dumps({"forget": "forget10"}))
    same = {"method": "GA", "eval": {"forget": "forget10", "max_new_tokens": 8}}
    assert with_retain_eval(same, retain_eval, "GA")["eval"] == {"forget": "forget10", "max_new_tokens": 8,
                                                                  "retain_eval": retain_eval}
    assert same["eval"] == {"forget": "forget10", "max_new_tokens": 8}  # not changed in place
    validation = {"method": "GA", "eval": {"forget": "forget05"}}
    assert with_retain_eval(validation, retain_eval, "GA") == validation
    given = {"method": "GA", "eval": {"forget": "forget10", "retain_eval": "mine"}}
    assert with_retain_eval(given, retain_eval, "GA") == given
    assert with_retain_eval(same, None, "GA") == same


def test_a_scenario_study_can_tune_for_forget_quality(tiny_model_dir, tmp_path):
    """With the retain model's evaluation, a scenario's trials compute TOFU's forget quality, so it can be
    an objective: the trial's value is the KS p-value its own evaluation reports."""
    from unlearn.scenarios.runner import run_experiment

    section = {"trials": 1, "objectives": ["forget_quality:maximize", "retain.probability:maximize"], "eval": EVAL}
    settings = tiny_experiment(tiny_model_dir, tmp_path / "exp", methods=[{"method": "GA", "tune": section}])
    _, steps = run_experiment(settings, "exp.yaml", progress=lambda message: None)
    (tuned,) = [name for name in steps.ran if name.startswith("tune-")]
    folder = settings.run_folder / "steps" / tuned
    (trial,) = json.loads((folder / "pareto.json").read_text())["trials"]
    evaluated = json.loads((folder / "trials" / "0000" / "eval" / "summary.json").read_text())
    assert trial["state"] == "complete" and evaluated["overall"]["forget_quality"] is not None
    assert trial["objectives"]["forget_quality"]["value"] == evaluated["overall"]["forget_quality"]


def test_a_given_target_evaluation_is_read_only_when_made_with_the_trials_settings(tmp_path):
    from unlearn.config import validate_settings
    from unlearn.tuning.run import read_target_eval
    from unlearn.tuning.settings import TuneSettings

    folder = tmp_path / "eval-target"
    folder.mkdir()
    settings = validate_settings(TuneSettings, {"model": str(tmp_path / "target"), "data": str(tmp_path / "bench"),
                                                "out": str(tmp_path / "study"), "method": "GA", "forget": "forget10",
                                                "eval": {"max_new_tokens": 8}, "target_eval": str(folder)})
    made = settings.eval_settings(settings.model, folder).model_dump(mode="json")
    (folder / "summary.json").write_text(json.dumps({"overall": {"model_utility_tofu": 0.4}}))
    (folder / "unlearn_settings.json").write_text(json.dumps({**made, "out": "elsewhere"}))
    assert read_target_eval(settings) == {"overall": {"model_utility_tofu": 0.4}}
    (folder / "unlearn_settings.json").write_text(json.dumps({**made, "max_new_tokens": 32}))
    with pytest.raises(UserError, match=r"^--target-eval .*: evaluated with max_new_tokens = 32, the trials with 8; "
                                        r"leave it out to evaluate the target with the trials' settings$"):
        read_target_eval(settings)
    with pytest.raises(UserError, match=r"^--target-eval .*: no finished evaluation there \(FileNotFoundError\)"):
        read_target_eval(settings.model_copy(update={"target_eval": str(tmp_path / "none")}))


def test_a_target_evaluation_made_from_another_directory_is_read_when_it_names_the_same_places(tmp_path,
                                                                                                monkeypatch):
    """Its settings were recorded with paths relative to where it ran (``ran_in``); the study's name the
    same folders relative to another directory."""
    from unlearn.config import validate_settings
    from unlearn.training.run_folder import record_run_settings
    from unlearn.tuning.run import read_target_eval
    from unlearn.tuning.settings import TuneSettings

    for folder in ("target", "bench", "scripts"):
        (tmp_path / folder).mkdir()
    given = {"model": "target", "data": "bench", "out": "study", "method": "GA", "forget": "forget10",
             "eval": {"max_new_tokens": 8}}
    monkeypatch.chdir(tmp_path)
    made = validate_settings(TuneSettings, given).eval_settings("target", Path("eval-target")).model_dump(mode="json")
    record_run_settings("eval-target", made)
    (tmp_path / "eval-target" / "summary.json").write_text(json.dumps({"overall": {"model_utility_tofu": 0.4}}))
    monkeypatch.chdir(tmp_path / "scripts")
    settings = validate_settings(TuneSettings, {**given, "model": "../target", "data": "../bench",
                                                "out": "../study", "target_eval": "../eval-target"})
    assert read_target_eval(settings) == {"overall": {"model_utility_tofu": 0.4}}
    elsewhere = settings.model_copy(update={"data": str(tmp_path / "scripts")})
    with pytest.raises(UserError, match=r"evaluated with data = 'bench', the trials with '.*scripts'"):
        read_target_eval(elsewhere)


def test_toward_objectives_minimize_the_distance_to_a_value():
    """``NAME:toward=VALUE`` (MUSE's PrivLeak toward 0): the study's number is |value - VALUE|, its interval
    the distance's; a registered metric whose best is a value (``→0``) takes it; the front and the rule read
    the distance and say so."""
    from unlearn.tuning.front import choose, csv_text
    from unlearn.tuning.objectives import distance_interval, trial_entry

    leak = parse_objective("muse.privleak:toward=0")
    assert leak == Objective("muse.privleak", "minimize", 0.0) and leak.text == "muse.privleak:toward=0"
    assert parse_objective(leak.text) == leak and leak.label == "|muse.privleak - 0|"
    assert parse_objective("priv_leak_min_k") == Objective("priv_leak_min_k", "minimize", 0.0)
    assert parse_objective("mia_auc_loss") == Objective("mia_auc_loss", "minimize", 0.5)
    assert parse_objective("x.y:toward=-2.5").toward == -2.5
    for bad, said in (("muse.privleak:toward=", "toward= takes a finite number"),
                      ("muse.privleak:toward=nan", "toward= takes a finite number"),
                      ("muse.privleak:near=0", "minimize, maximize or toward=VALUE, not 'near=0'"),
                      ("muse.privleak", "give its direction, muse.privleak:minimize")):
        with pytest.raises(UserError, match=re.escape(said)):
            parse_objective(bad)
    # by hand: -30 is 30 from 0; [-45, -12] lies below 0, so [12, 45]; [-10, 20] holds 0, so [0, 20]
    assert leak.score(-30.0, [-45.0, -12.0]) == (30.0, [12.0, 45.0])
    assert distance_interval([-10.0, 20.0], 0.0) == [0.0, 20.0] and distance_interval(None, 0.0) is None
    assert parse_objective("mia_auc_loss").score(0.75, [0.625, 0.875]) == (0.25, [0.125, 0.375])
    plain = parse_objective("muse.knowmem_r:max")
    assert plain.score(0.4, [0.3, 0.5]) == (0.4, [0.3, 0.5])
    assert trial_entry(leak, 50.0, None) == {"value": 50.0, "interval": None, "measured": 50.0,
                                             "measured_interval": None}
    assert trial_entry(plain, 0.4, [0.3, 0.5]) == {"value": 0.4, "interval": [0.3, 0.5]}
    # three trials: over-unlearned (+50), under (-100, the target's own), near (-10 [-30, 15]); the utility-floor
    # rule picks the nearest to 0 that keeps utility, not the lowest PrivLeak
    objectives = [leak, plain]
    measured = [(50.0, None, 0.40), (-100.0, None, 0.41), (-10.0, [-30.0, 15.0], 0.39)]
    trials = []
    for number, (value, interval, utility) in enumerate(measured):
        entries = {leak.name: trial_entry(leak, value, interval), plain.name: trial_entry(plain, utility, None)}
        trials.append(SimpleNamespace(number=number, values=[entries[leak.name]["value"], utility],
                                      params={"lr": number}, user_attrs={"objectives": entries}))
    study = SimpleNamespace(get_trials=lambda deepcopy, states: trials)
    settings = SimpleNamespace(select="utility-floor", select_args={})
    chosen = choose(study, settings, objectives, {plain.name: 0.40})
    assert chosen["trial"] == 2 and chosen["args"]["better"] == "lower"
    assert "the lower |muse.privleak - 0| (10)" in chosen["reason"]
    lines = csv_text(trials[2:], objectives, ["lr"]).splitlines()
    assert lines == ["trial,|muse.privleak - 0|,|muse.privleak - 0|_low,|muse.privleak - 0|_high,muse.privleak,"
                     "muse.knowmem_r,muse.knowmem_r_low,muse.knowmem_r_high,lr", "2,10.0,0.0,30.0,-10.0,0.39,,,2"]


def test_worst_seed_per_objective_by_hand():
    from unlearn.tuning.trial import worst

    low, high = {"value": 0.2, "interval": [0.1, 0.3]}, {"value": 0.6, "interval": [0.5, 0.7]}
    assert worst(parse_objective("forget.fact_accuracy:min"), [low, high]) is high  # forgets least
    assert worst(parse_objective("model_utility_tofu:max"), [high, low]) is low  # keeps least
    near, far = {"value": 5.0, "measured": -5.0}, {"value": 40.0, "measured": 40.0}
    assert worst(parse_objective("muse.privleak:toward=0"), [near, far]) is far  # farthest from 0, either side
    tie = {"value": 0.2, "interval": None}
    assert worst(parse_objective("forget.fact_accuracy:min"), [low, tie]) is low  # the first of equal values


def test_a_trial_over_several_seeds_counts_each_objectives_worst_seed(tiny_model_dir, fictitious_bench, tmp_path,
                                                                     capsys):
    """``trial_seeds``: the trial unlearns and evaluates once per training seed, in a folder each; its value of
    each objective is the worst seed's, every seed's kept beside it; the best settings carry no seed."""
    out = tmp_path / "seeds"
    assert main(tune_argv(tiny_model_dir, fictitious_bench, out, tmp_path, 1, trial_seeds=[3, 4])) == 0
    summary = json.loads((out / "pareto.json").read_text())
    (trial,) = summary["trials"]
    per_seed = trial["per_seed"]
    assert set(per_seed) == {"3", "4"} and trial["state"] == "complete"
    forget = [per_seed[s]["forget.probability"]["value"] for s in ("3", "4")]
    retain = [per_seed[s]["retain.probability"]["value"] for s in ("3", "4")]
    assert forget[0] != forget[1]  # the seeds trained differently
    assert trial["objectives"]["forget.probability"]["value"] == max(forget)
    assert trial["objectives"]["retain.probability"]["value"] == min(retain)
    for seed in (3, 4):
        assert json.loads((out / "trials" / "0000" / f"seed-{seed}" / "train_summary.json").read_text())
        assert (out / "trials" / "0000" / f"seed-{seed}" / "eval" / "summary.json").is_file()
        assert not (out / "trials" / "0000" / f"seed-{seed}" / "model").exists()
    assert trial["seconds"]["forget"] > 0 and trial["seconds"]["eval"] > 0
    assert "seed" not in yaml.safe_load((out / "best.yaml").read_text())
    assert main(tune_argv(tiny_model_dir, fictitious_bench, tmp_path / "twice", tmp_path, 1, trial_seeds=[3, 3])) == 2
    assert "trial_seeds [3, 3]: a seed is named twice" in capsys.readouterr().err


def test_the_rules_choice_rechecked_over_more_seeds_holds_at_each_objectives_worst_seed(tiny_model_dir,
                                                                                        fictitious_bench, tmp_path,
                                                                                        capsys):
    """``recheck_seeds``: after the trials, the chosen trial unlearns again with each recheck seed and counts its
    worst seed, until the rule's choice is a re-checked trial; a resumed study reads the finished rechecks."""
    out = tmp_path / "recheck"
    argv = tune_argv(tiny_model_dir, fictitious_bench, out, tmp_path, 2, recheck_seeds=[5])
    assert main(argv) == 0
    summary = json.loads((out / "pareto.json").read_text())
    trials = {row["trial"]: row for row in summary["trials"]}
    rechecked = summary["recheck"]["trials"]
    chosen = summary["chosen"]
    assert summary["recheck"]["seeds"] == [5] and str(chosen["trial"]) in rechecked
    for number, checked in rechecked.items():
        assert set(checked["per_seed"]) == {"0", "5"}
        assert checked["per_seed"]["0"] == trials[int(number)]["objectives"]  # the study's own run, as it stored it
        forget = [entries["forget.probability"]["value"] for entries in checked["per_seed"].values()]
        retain = [entries["retain.probability"]["value"] for entries in checked["per_seed"].values()]
        assert checked["objectives"]["forget.probability"]["value"] == max(forget)
        assert checked["objectives"]["retain.probability"]["value"] == min(retain)
        assert checked["seconds"]["forget"] > 0 and checked["seconds"]["eval"] > 0
        folder = out / "trials" / f"{int(number):04d}" / "recheck-seed-5"
        assert (folder / "eval" / "summary.json").is_file() and not (folder / "model").exists()
    assert "re-checked, each objective at its worst of seeds 0, 5)" in chosen["reason"]
    assert yaml.safe_load((out / "best.yaml").read_text())["learning_rate"] == trials[chosen["trial"]]["params"][
        "learning_rate"]
    done = out / "trials" / f"{chosen['trial']:04d}" / "recheck-seed-5" / "objectives.json"
    before = done.stat().st_mtime_ns
    assert main(argv) == 0  # resumed: the study has its trials and the rechecks are read
    assert done.stat().st_mtime_ns == before
    assert json.loads((out / "pareto.json").read_text())["recheck"] == summary["recheck"]
    assert main(tune_argv(tiny_model_dir, fictitious_bench, tmp_path / "same", tmp_path, 1, recheck_seeds=[0])) == 2
    assert "recheck_seeds [0]: every trial already runs seed 0" in capsys.readouterr().err


def test_a_choice_that_loses_utility_at_a_recheck_seed_gives_way_until_the_choice_holds(monkeypatch):
    """By hand, the utility floor at 0.9x: trial 0 forgets best on the study's seed but keeps 0.5 of the target's
    utility with seed 5; trial 1's recheck fails; trial 2 keeps 0.95 on both; trial 3, which forgets least, is
    never re-checked. The rule's choice is re-checked until it holds: trials 0, 1, then 2."""
    from unlearn.config import validate_settings
    from unlearn.tuning import recheck as recheck_module
    from unlearn.tuning.front import choose
    from unlearn.tuning.objectives import OBJECTIVES_ATTR
    from unlearn.tuning.settings import TuneSettings

    settings = validate_settings(TuneSettings, {"model": "-", "data": "-", "out": "-", "method": "GA+GD",
                                                "objectives": OBJECTIVES}, "test")
    objectives = [parse_objective(text) for text in OBJECTIVES]
    entry = lambda value: {"value": value, "interval": [value - 0.01, value + 0.01]}  # noqa: E731
    entries = lambda f, r: {"forget.probability": entry(f), "retain.probability": entry(r)}  # noqa: E731
    study = optuna.create_study(directions=["minimize", "maximize"])
    for forget, retain in [(0.10, 1.0), (0.20, 1.0), (0.30, 0.96), (0.60, 1.0)]:
        study.add_trial(optuna.trial.create_trial(values=[forget, retain],
                                                  user_attrs={OBJECTIVES_ATTR: entries(forget, retain)}))
    at_seed_5 = {0: entries(0.15, 0.5), 2: entries(0.30, 0.95)}
    ran = []

    def run_at_seed_5(runner, trial, seed, where):
        ran.append(trial.number)
        if trial.number == 1:
            raise TrialFailed("trial 1: out of memory")
        return at_seed_5[trial.number], {"forget": 2.0, "eval": 1.0}

    monkeypatch.setattr(recheck_module, "rechecked", run_at_seed_5)
    runner = SimpleNamespace(settings=SimpleNamespace(out="-", seeds_per_trial=[0]), objectives=objectives)
    target = {"forget.probability": 0.9, "retain.probability": 1.0}
    result = recheck_module.recheck(study, runner, [5],
                                    lambda so_far: choose(study, settings, objectives, target, so_far)["trial"])
    assert ran == [0, 1, 2] and result["trials"][1] == {"failed": "trial 1: out of memory"}
    assert result["trials"][0]["objectives"]["retain.probability"]["value"] == 0.5  # its worst seed's
    assert result["trials"][2]["seconds"] == {"forget": 2.0, "eval": 1.0}
    chosen = choose(study, settings, objectives, target, result)
    assert chosen["trial"] == 2
    assert chosen["reason"].endswith("(trials 0, 1, 2 re-checked, each objective at its worst of seeds 0, 5)")


def test_a_study_stored_before_trial_seeds_existed_continues_with_the_default():
    """A fingerprint stored without ``trial_seeds`` is the same study as one with the default (one seed); other
    seeds are a change."""
    from unlearn.tuning.study import STUDY_ATTR, check_same_study

    old = {"method": "GA+GD", "learning_rate": 1e-5}
    study = SimpleNamespace(study_name="s", user_attrs={STUDY_ATTR: {"objectives": ["a:min"], "settings": old}})
    check_same_study(study, {**old, "trial_seeds": []}, ["a:min"])
    with pytest.raises(UserError, match=r"was started with other settings \(trial_seeds\)"):
        check_same_study(study, {**old, "trial_seeds": [0, 1]}, ["a:min"])


def test_a_study_stored_before_the_refusal_rate_existed_continues_with_its_default():
    """The evaluation's ``refusals`` (the refusal rate's phrases) came later: a study whose stored ``eval`` lacks it
    continues at its default (the packaged phrases); a phrase file given is a change."""
    from unlearn.tuning.study import STUDY_ATTR, check_same_study

    old = {"method": "GA+GD", "eval": {"max_new_tokens": 32}}
    study = SimpleNamespace(study_name="s", user_attrs={STUDY_ATTR: {"objectives": ["a:min"], "settings": old}})
    check_same_study(study, {**old, "eval": {"max_new_tokens": 32, "refusals": None}}, ["a:min"])
    with pytest.raises(UserError, match=r"was started with other settings \(eval\)"):
        check_same_study(study, {**old, "eval": {"max_new_tokens": 32, "refusals": "mine.txt"}}, ["a:min"])
