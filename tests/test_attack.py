"""``unlearn attack`` end to end on a tiny model that learned planted facts and was then unlearned.

Each fact is asked two ways, so relearning on half of the forget questions trains on facts that
the measured half asks about again: the relearned model must get a large share back.
"""

from __future__ import annotations

import json
import math

import pytest

from unlearn.attacks import relearn as relearning
from unlearn.cli.main import main

from conftest import write_jsonl

PEOPLE = [("Ada Lovelace", "London"), ("Paavo Dellacroix", "Bergen"), ("Mina Okafor", "Lagos"),
          ("Ivo Brandt", "Graz"), ("Lena Voss", "Oslo"), ("Tariq Nour", "Cairo")]


def planted_records() -> list[dict]:
    records = []
    for name, city in PEOPLE:
        for question in (f"Where was {name} born?", f"In which city was {name} born?"):
            records.append({"question": question, "answer": f"{name} was born in {city}.", "fact": city,
                            "paraphrased_question": f"What is the birthplace of {name}?",
                            "paraphrased_answer": f"{name}'s birthplace is {city}.",
                            "perturbed_answer": [f"{name} was born in Paris.", f"{name} was born in Rome.",
                                                 f"{name} was born in Lima."]})
    return records


@pytest.fixture(scope="module")
def unlearned(tiny_model_dir, tmp_path_factory):
    """(benchmark, original, unlearned): the tiny model fine-tuned on the facts, then GA on all of them."""
    root = tmp_path_factory.mktemp("attack")
    bench = root / "bench"
    bench.mkdir()
    records = planted_records()
    write_jsonl(bench / "full.jsonl", records)
    write_jsonl(bench / "forget.jsonl", records)
    write_jsonl(bench / "retain.jsonl", records[:2])
    common = ["--data", str(bench), "--device", "cpu", "--warmup-epochs", "0"]
    assert main(["finetune", "--model", str(tiny_model_dir), "--split", "full", "--out", str(root / "original"),
                 "--epochs", "30", "--learning-rate", "5e-3", "--batch-size", "4", "--check-facts", "0",
                 "--no-save-checkpoints", *common]) == 0
    assert main(["forget", "--model", str(root / "original"), "--forget", "forget", "--method", "GA",
                 "--out", str(root / "unlearned"), "--epochs", "3", "--batch-size", "4", "--learning-rate", "5e-3",
                 "--no-save-checkpoints", *common]) == 0
    return bench, root / "original", root / "unlearned"


# relearning fast enough for a tiny model, for each relearning attack that runs
RELEARNING = {"relearn": ["--no-relearn.lora", "--relearn.learning-rate", "5e-3", "--relearn.batch-size", "2",
                          "--relearn.epochs", "6"],
              "relearn-unrelated": ["--no-relearn-unrelated.lora", "--relearn-unrelated.learning-rate", "5e-3",
                                    "--relearn-unrelated.batch-size", "2", "--relearn-unrelated.epochs", "6"],
              "relearn-kfold": ["--relearn-kfold.batch-size", "2", "--relearn-kfold.folds", "2",
                                "--relearn-kfold.epochs", "3", "--relearn-kfold.learning-rates", "5e-3"]}
# the same in release 0.1's flat flags, which still work (each relearning attack's ignored where it does not run)
OLD_FLAGS = ["--no-relearn-lora", "--relearn-learning-rate", "5e-3", "--relearn-batch-size", "2", "--relearn-epochs",
             "6", "--relearn-folds", "2", "--relearn-fold-epochs", "3", "--relearn-fold-learning-rates", "5e-3"]


def attack(bench, model, original, out, *attacks, extra=(), old_flags=False) -> int:
    names = {name for given in attacks for name in given.split(",")}
    relearning = OLD_FLAGS if old_flags else [flag for name, flags in RELEARNING.items()
                                              if name in names or "all" in names for flag in flags]
    return main(["attack", "--model", str(model), "--original", str(original), "--data", str(bench),
                 "--forget", "forget", "--retain-split", "retain", "--real-authors", "none", "--world-facts", "none",
                 "--holdout", "none", "--embedder", "none", "--nli-model", "none", "--max-new-tokens", "6",
                 "--device", "cpu", "--out", str(out), "--attacks", *attacks, *relearning, *extra])


def test_relearning_half_of_the_facts_brings_the_held_out_half_back(unlearned, tmp_path):
    bench, original, model = unlearned
    out = tmp_path / "attack"
    assert attack(bench, model, original, out, "relearn", old_flags=True) == 0
    summary = json.loads((out / "attack_summary.json").read_text())
    (entry,) = summary["attacks"]
    probability = entry["metrics"]["probability"]
    assert entry["name"] == "relearn" and entry["questions"] == 6
    assert probability["original"] - probability["unlearned"] > 0.05  # unlearning removed something
    assert probability["recovery"] > 0.5, probability
    low, high = probability["interval"]
    assert low <= probability["recovery"] <= high
    trained = json.loads((out / "relearn" / "forget.json").read_text())["examples"]
    assert len(trained) == 6 and not (out / "relearn" / "training" / "model").exists()  # the model is removed
    assert summary["robust"]["probability"]["value"] >= probability["attacked"]


def test_attacking_the_original_model_reports_recovery_not_computed_with_the_reason(unlearned, tmp_path):
    bench, original, _ = unlearned
    out = tmp_path / "attack"
    assert attack(bench, original, original, out, "paraphrase,quantize-8bit") == 0
    summary = json.loads((out / "attack_summary.json").read_text())
    for entry in summary["attacks"]:
        probability = entry["metrics"]["probability"]
        assert probability["recovery"] is None and probability["interval"] is None
        assert "nothing to recover" in probability["not_computed"]


def test_every_attack_runs_end_to_end_and_writes_its_files(unlearned, tmp_path):
    bench, original, model = unlearned
    out = tmp_path / "attack"
    assert attack(bench, model, original, out, "all",
                  extra=["--jailbreak.wrappers", "role_play", "--few-shot.shots", "2"]) == 0
    summary = json.loads((out / "attack_summary.json").read_text())
    names = [a["name"] for a in summary["attacks"]]
    assert names == ["relearn", "relearn-unrelated", "relearn-kfold", "quantize-nf4", "quantize-fp4", "quantize-int8",
                     "paraphrase", "few-shot", "jailbreak-role_play", "multiple-choice", "logit-lens"]
    for entry in summary["attacks"]:
        if entry["eval"]:
            assert (out / entry["eval"] / "summary.json").is_file() and (out / entry["eval"] / "forget.json").is_file()
            assert (out / entry["original_eval"] / "forget.json").is_file()
        assert entry["metrics"], entry["name"]
    by_name = {a["name"]: a for a in summary["attacks"]}
    assert (out / "quantize-nf4" / "retain.json").is_file()  # weight attacks also measure utility
    assert by_name["quantize-nf4"]["details"]["layers"] > 0
    assert by_name["relearn-kfold"]["questions"] == 12  # every question measured once over the folds
    assert len(by_name["relearn-unrelated"]["details"]["training"]) == 1
    choice = by_name["multiple-choice"]["metrics"]["choice_accuracy"]
    assert 0.0 <= choice["attacked"] <= 1.0 and choice["unlearned"] == pytest.approx(0.25)  # chance, 4 options
    lens = by_name["logit-lens"]
    assert 1 <= lens["details"]["layer"] <= lens["details"]["layers"]
    few_shot = json.loads((out / "few-shot" / "forget.json").read_text())["examples"]
    assert few_shot[0]["question"].startswith("Question: In which city was Ada Lovelace born?")
    unlearned_summary = json.loads((out / "unlearned" / "summary.json").read_text())
    assert unlearned_summary["robust"] == summary["robust"]

    # rescoring rebuilds the same summary from the files alone (relearning's measured rows by their questions)
    stale = {**summary, "attacks": [{**a, "metrics": {}} for a in summary["attacks"]], "robust": {}}
    (out / "attack_summary.json").write_text(json.dumps(stale))
    assert main(["attack", "--rescore", str(out)]) == 0
    assert json.loads((out / "attack_summary.json").read_text()) == summary
    assert json.loads((out / "unlearned" / "summary.json").read_text())["robust"] == summary["robust"]


def test_every_attack_also_runs_on_the_control_and_recovery_counts_only_what_comes_back_beyond_it(
        unlearned, tiny_model_dir, tmp_path):
    bench, original, model = unlearned
    out = tmp_path / "attack"
    assert attack(bench, model, original, out, "few-shot,multiple-choice,quantize-8bit",
                  extra=["--control", str(tiny_model_dir), "--few-shot.shots", "2"]) == 0
    summary = json.loads((out / "attack_summary.json").read_text())
    assert summary["recovery_against"] == "beyond the control model under the same attack"
    assert summary["control"] == str(tiny_model_dir)
    for name in ("control", "control-few-shot", "control-quantize-int8"):
        assert (out / name / "forget.json").is_file(), name
    assert (out / "multiple-choice" / "control.json").is_file()
    by_name = {a["name"]: a for a in summary["attacks"]}
    few_shot = by_name["few-shot"]["metrics"]["rougeL_recall"]
    control = json.loads((out / "control-few-shot" / "summary.json").read_text())
    assert few_shot["control_attacked"] == pytest.approx(control["splits"]["forget"]["metrics"]["rougeL_recall"])
    assert by_name["few-shot"]["control_eval"] == "control-few-shot"
    choice = by_name["multiple-choice"]["metrics"]["choice_accuracy"]
    assert choice["floor"] == "control" and choice["control_attacked"] is not None
    for metric, robust in summary["robust"].items():
        assert robust["value"] is None or robust["questions_reported_on"] == 6, metric


def test_without_a_control_recovery_is_labelled_against_the_unattacked_floor(unlearned, tmp_path, caplog, capsys):
    bench, original, model = unlearned
    out = tmp_path / "attack"
    assert attack(bench, model, original, out, "paraphrase") == 0
    summary = json.loads((out / "attack_summary.json").read_text())
    assert summary["recovery_against"] == "against the unattacked floor (no control)"
    assert caplog.text.count("no --control model") == 1
    assert "recovery against the unattacked floor (no control)" in capsys.readouterr().out


def test_kfold_relearning_keeps_the_best_learning_rate_chosen_on_fold_1_and_reports_the_other_folds(
        unlearned, tmp_path):
    bench, original, model = unlearned
    out = tmp_path / "attack"
    assert attack(bench, model, original, out, "relearn-kfold",
                  extra=["--relearn-kfold.learning-rates", "1e-6", "5e-3", "--relearn-kfold.epochs", "2"]) == 0
    (entry,) = json.loads((out / "attack_summary.json").read_text())["attacks"]
    details = entry["details"]
    assert details["lora"] is False and details["first_reported_fold"] == 2 and entry["questions"] == 6
    sweep = details["learning_rate_sweep"]
    assert set(sweep["scores"]) == {"1e-06", "0.005"} and sweep["chosen_by"] == "fact_accuracy"
    chosen = max(sweep["scores"], key=lambda rate: sweep["scores"][rate]["fact_accuracy"])
    assert details["learning_rate"] == float(chosen)
    assert (out / "relearn-kfold" / "fold-2-eval" / "forget.json").is_file()
    assert not (out / "relearn-kfold" / "fold-1-eval").exists()  # fold 1 chose the rate: not reported


def test_relearning_splits_never_measure_a_question_they_trained_on():
    trained, measured = relearning.held_out_split(10, 0.5, seed=0)
    assert len(trained) == 5 and not set(trained) & set(measured) and sorted(trained + measured) == list(range(10))
    parts = relearning.folds(7, 3, seed=0)
    assert sorted(i for _, measured in parts for i in measured) == list(range(7))
    for trained, measured in parts:
        assert not set(trained) & set(measured) and len(trained) + len(measured) == 7
    assert len(relearning.unrelated_records("packaged")) == 12


@pytest.mark.parametrize("args,message", [
    (["--attacks", "telepathy"], "unknown attack 'telepathy'"),
    (["--attacks", "jailbreak", "--jailbreak.wrappers", "pleading"], "unknown jailbreak wrapper 'pleading'"),
    (["--attacks", "few-shot", "--few-shot.shots", "40"], "few-shot needs 0 < k <"),
    (["--attacks", ","], "no attack named"),
    (["--attacks", "jailbreak", "--jailbreak.wrappers", ""], "no jailbreak wrapper named"),
    (["--attacks", "paraphrase", "--few-shot.shots", "2"], "settings of attack 'few-shot' (--few-shot.*) do not apply"),
    (["--attacks", "paraphrase", "--recovery-metrics", "fact_acuracy"], "did you mean 'fact_accuracy'"),
    (["--attacks", "paraphrase", "--control-eval", "x"], "give the control model too"),
    (["--attacks", "paraphrase", "--model", "/no/such/model"], "--model: model path /no/such/model does not exist"),
])
def test_bad_attack_settings_are_refused_in_one_line(tiny_model_dir, tmp_path, capsys, args, message):
    bench = tmp_path / "bench"
    bench.mkdir()
    write_jsonl(bench / "forget.jsonl", planted_records())
    write_jsonl(bench / "retain.jsonl", planted_records()[:2])
    status = main(["attack", "--model", str(tiny_model_dir), "--original", str(tiny_model_dir), "--data", str(bench),
                   "--forget", "forget", "--retain-split", "retain", "--real-authors", "none", "--world-facts", "none",
                   "--out", str(tmp_path / "o"), *args])
    assert status == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def same_to_float_noise(a, b) -> bool:
    """``a == b``, their floats to within 1e-6 relative (or 1e-9 absolute)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_to_float_noise(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_to_float_noise(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
    return a == b


def test_a_stopped_attack_run_goes_on_from_its_finished_parts(unlearned, tiny_model_dir, tmp_path):
    """Started again with --resume and the same settings in the same folder, a run redoes only the parts its ledger
    does not list (here: the control's relearning and its paraphrase evaluation, as if stopped before them) and
    writes the same summary; without --resume, or with other settings, every part runs again."""
    bench, original, model = unlearned
    out = tmp_path / "attack"
    chosen = ("relearn,quantize-8bit,paraphrase,multiple-choice",)
    extra = ["--control", str(tiny_model_dir)]
    assert attack(bench, model, original, out, *chosen, extra=extra) == 0
    first = json.loads((out / "attack_summary.json").read_text())
    ledger = json.loads((out / "attack_parts.json").read_text())
    assert {"eval:unlearned", "eval:paraphrase", "eval:control-paraphrase", "change:quantize-int8",
            "probe:multiple-choice:control", "retrain:relearn", "retrain:control-relearn"} <= set(ledger)
    assert ledger["retrain:relearn"]["rows"] and ledger["change:quantize-int8"]["layers"] > 0

    # stopped before the control's relearning and its paraphrase evaluation
    (out / "attack_summary.json").unlink()
    for part in ("retrain:control-relearn", "eval:control-paraphrase"):
        del ledger[part]
    (out / "attack_parts.json").write_text(json.dumps(ledger))
    kept = {name: (out / name / "forget.json").stat().st_mtime_ns for name in
            ("relearn", "quantize-int8", "paraphrase", "control-relearn", "control-paraphrase")}
    assert attack(bench, model, original, out, *chosen, extra=[*extra, "--resume"]) == 0
    again = {name: (out / name / "forget.json").stat().st_mtime_ns for name in kept}
    assert [name for name in kept if again[name] != kept[name]] == ["control-relearn", "control-paraphrase"]
    second = json.loads((out / "attack_summary.json").read_text())
    # the redone parts' floats may differ in the 10th digit (seen on an AMD EPYC: the control's paraphrase
    # probability by 1e-11); every string, count and verdict is the same
    assert same_to_float_noise([a["metrics"] for a in second["attacks"]], [a["metrics"] for a in first["attacks"]])
    assert second["robust"] == first["robust"]

    # without --resume (the model may have changed in place) or with other settings: nothing counts as done
    assert attack(bench, model, original, out, *chosen, extra=extra) == 0
    fresh = (out / "relearn" / "forget.json").stat().st_mtime_ns
    assert fresh != again["relearn"]
    assert attack(bench, model, original, out, *chosen, extra=[*extra, "--overwrite", "--seed", "1", "--resume"]) == 0
    assert (out / "relearn" / "forget.json").stat().st_mtime_ns != fresh
