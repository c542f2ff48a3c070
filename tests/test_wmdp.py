"""The WMDP scenario and its built-in benchmark: invented facts, unlearned from raw text,
measured by multiple choice."""

from __future__ import annotations

import csv
import json

from conftest import tiny_experiment
from unlearn.cli.main import main
from unlearn.data.wmdp import generate_wmdp
from unlearn.scenarios.runner import run_experiment


def test_builtin_wmdp_is_deterministic_and_every_question_is_stated_in_its_corpus():
    splits = generate_wmdp(viruses=6, minerals=4, seed=3)
    assert splits == generate_wmdp(viruses=6, minerals=4, seed=3) and splits != generate_wmdp(6, 4, seed=4)
    assert [len(splits[s]) for s in ("forget_corpus", "retain_corpus", "forget_choice", "retain_choice")] == \
        [12, 8, 30, 20]
    assert splits["train_corpus"] == splits["forget_corpus"] + splits["retain_corpus"]
    for side in ("forget", "retain"):
        texts = [r["text"] for r in splits[f"{side}_corpus"]]
        for question in splits[f"{side}_choice"]:
            right = question["choices"][question["answer"]]
            assert len(set(question["choices"])) == 4
            # both paragraphs about the entity state the right value, and none of the wrong ones
            entity = next(word for word in question["question"].rstrip("?").split() if word.istitle()
                          and word not in ("Which", "What", "How", "Where")) if side == "forget" else None
            about = [t for t in texts if entity is None or entity in t]
            assert any(right in t for t in about)


def test_wmdp_scenario_fine_tunes_unlearns_text_and_reports_choice_accuracy(tiny_model_dir, tmp_path):
    out = tmp_path / "run"
    settings = tiny_experiment(tiny_model_dir, out, scenario="wmdp", scenario_args={"entities": 3},
                               methods=["GA+GD", "RMU"],
                               unlearn={"epochs": 1, "batch_size": 4, "gradient_accumulation_steps": 1,
                                        "warmup_epochs": 0, "max_length": 32,
                                        "method_args": {"RMU": {"layer": 1}}},
                               eval={"nli_model": "none", "embedder": "none"})
    page, steps = run_experiment(settings, progress=lambda _: None)
    assert page.is_file()
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [r["model"] for r in rows] == ["target", "GA+GD", "RMU"]
    for row in rows:
        for split in ("forget_choice", "retain_choice"):
            assert 0.0 <= float(row[f"choice.{split}"]) <= 1.0
    report = (out / "report.md").read_text()
    assert "Multiple-choice accuracy, lm-eval's zero-shot format" in report and "forget_choice (forget) ↓" in report
    assert "Results (95% intervals" not in report  # no question-answer splits: no TOFU table
    train = json.loads(next((out / "steps").glob("forget-GA_GD-*")).joinpath("train_summary.json").read_text())
    assert train["forget_split"] == "forget_corpus" and train["retain_split"] == "retain_corpus"


def test_data_wmdp_writes_the_builtin_benchmark(tmp_path, capsys):
    assert main(["data", "wmdp", "--out", str(tmp_path / "w"), "--entities", "4"]) == 0
    assert "forget_choice 20" in capsys.readouterr().out
    again = tmp_path / "again"
    assert main(["data", "wmdp", "--out", str(again), "--entities", "4"]) == 0
    assert (again / "forget_choice.jsonl").read_bytes() == (tmp_path / "w" / "forget_choice.jsonl").read_bytes()


def two_source_wmdp(tiny_model_dir, tmp_path, methods: list):
    """A WMDP experiment whose questions and corpora are two folders, as cais/wmdp and its corpora are."""
    from unlearn.data.benchmark import write_benchmark

    splits = generate_wmdp(viruses=3, minerals=3)
    questions, corpora = tmp_path / "wmdp", tmp_path / "wmdp-corpora"
    bio = [{k: v for k, v in q.items() if k != "subject"} for q in splits["forget_choice"]]  # as cais/wmdp's
    write_benchmark({"wmdp-bio.test": bio, "mmlu.test": splits["retain_choice"]}, questions)
    write_benchmark({"bio-forget-corpus": splits["forget_corpus"], "bio-retain-corpus": splits["retain_corpus"]},
                    corpora)
    return tiny_experiment(tiny_model_dir, tmp_path / "run", scenario="wmdp", data=str(questions),
                           scenario_args={"corpora": str(corpora), "choice_forget": ["wmdp-bio.test"],
                                          "choice_utility": ["mmlu.test"]},
                           target_model=str(tiny_model_dir), forget="bio-forget-corpus",
                           retain="bio-retain-corpus", methods=methods,
                           unlearn={"epochs": 1, "batch_size": 4, "gradient_accumulation_steps": 1,
                                    "warmup_epochs": 0, "max_length": 32},
                           eval={"nli_model": "none", "embedder": "none"})


def test_wmdp_questions_and_corpora_can_come_from_two_sources(tiny_model_dir, tmp_path):
    out = tmp_path / "run"
    settings = two_source_wmdp(tiny_model_dir, tmp_path, ["GA+GD"])
    run_experiment(settings, progress=lambda _: None)
    train = json.loads(next((out / "steps").glob("forget-GA_GD-*")).joinpath("train_summary.json").read_text())
    assert train["forget_split"] == "bio-forget-corpus"
    choice = json.loads(next((out / "steps").glob("eval-GA_GD-*")).joinpath("choice_wmdp-bio.test.json").read_text())
    assert choice["examples"][0]["prompt"].startswith(  # lm-eval's wmdp_bio description, from the split's config
        "The following are multiple choice questions (with answers) about biology.")


def test_a_tuned_wmdp_method_is_tuned_on_the_scenarios_own_questions(tiny_model_dir, tmp_path):
    """The trials unlearn the corpus and are evaluated as the scenario evaluates its models: multiple-choice
    accuracy on the questions' folder (no question-answer forget split; the corpora are in another folder),
    so tune's default objectives are the forget and utility questions' accuracies."""
    settings = two_source_wmdp(tiny_model_dir, tmp_path, [{"method": "GA+GD", "tune": {"trials": 1}}])
    _, steps = run_experiment(settings, progress=lambda _: None)
    (tuned,) = [name for name in steps.ran if name.startswith("tune-")]
    folder = tmp_path / "run" / "steps" / tuned
    summary = json.loads((folder / "pareto.json").read_text())
    assert summary["objectives"] == ["choice.wmdp-bio.test:minimize", "choice.mmlu.test:maximize"]
    (trial,) = summary["trials"]
    assert trial["state"] == "complete"
    evaluated = json.loads((folder / "trials" / "0000" / "eval" / "summary.json").read_text())
    assert trial["objectives"]["choice.wmdp-bio.test"]["value"] == evaluated["multiple_choice"]["wmdp-bio.test"][
        "accuracy"]
    assert "forget" not in evaluated["splits"]  # the corpus is trained on, not asked
    # scored as the scenario scores (not at the forget run's max length 32), so the study reads the scenario's
    # own evaluation of the target instead of evaluating it again
    trial_settings = json.loads((folder / "trials" / "0000" / "eval" / "unlearn_settings.json").read_text())
    assert trial_settings["max_length"] == 256
    (target_eval,) = [name for name in steps.ran if name.startswith("eval-target-")]
    assert target_eval in steps.reused and not (folder / "target_eval").exists()
    target = json.loads((tmp_path / "run" / "steps" / target_eval / "summary.json").read_text())
    assert summary["target"]["values"]["choice.wmdp-bio.test"] == target["multiple_choice"]["wmdp-bio.test"]["accuracy"]

