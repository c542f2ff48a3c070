"""The report's Robustness part, from a run folder written by hand: real-format evaluation folders
(through the evaluator's own aggregation and writer) and two attack folders as `unlearn attack` writes them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from unlearn.evaluation.evaluator import aggregate
from unlearn.evaluation.run import EvalSettings, write_evaluation
from unlearn.evaluation.splits import EvalSplit
from unlearn.report.collect import INTERVALS
from unlearn.report.render import write_report

QUESTIONS = [("Where was Ada born?", "London"), ("When was Ada born?", "1815"), ("What did Ada write?", "notes")]


def write_eval(folder: Path, generations: list[str], questions=QUESTIONS) -> None:
    """An evaluation folder of forget and retain splits whose rows carry ``generations``."""
    folder.mkdir(parents=True)
    examples = [{"question": q, "answer": a, "generation": g, "likelihood_valid": True, "rougeL_recall": float(a in g),
                 "rouge1_recall": float(a in g), "token_entropy": 1.0, "answer_probability": 0.5, "truth_ratio": 0.8,
                 "fact_in_generation": a in g} for (q, a), g in zip(questions, generations)]
    results = {role: aggregate(EvalSplit(role, role, []), examples, {}, INTERVALS) for role in ("forget", "retain")}
    write_evaluation(folder, EvalSettings(model="tiny", data="builtin", out=str(folder)), results)


def metric(unlearned, attacked, original, recovery, interval=None, reason=None) -> dict:
    return {"unlearned": unlearned, "attacked": attacked, "original": original, "recovery": recovery,
            "interval": interval, "not_computed": reason}


def attack(name, kind, metrics, eval_folder=None) -> dict:
    return {"name": name, "kind": kind, "description": name, "settings": {}, "questions": 3, "eval": eval_folder,
            "original_eval": "original" if eval_folder else None, "details": {}, "metrics": metrics}


def write_attacks(folder: Path, attacks: list[dict], robust: dict, control: str | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)  # it may hold the attacks' evaluations already
    (folder / "attack_summary.json").write_text(json.dumps({
        "model": "m", "original": "o", "control": control, "data": "builtin", "forget": "forget", "min_gap": 0.05,
        "evaluations": {"unlearned": "../eval-GA", "original": "original"},
        "recovery_metrics": ["fact_accuracy", "rougeL_recall"],
        "intervals": {"confidence": 0.95, "resamples": 1000, "method": "paired percentile bootstrap over questions"},
        "attacks": attacks, "robust": robust}))


def fake_run(folder: Path, with_attacks: bool) -> Path:
    steps = folder / "steps"
    write_eval(steps / "eval-target", ["London", "1815", "notes"])
    write_eval(steps / "eval-GA", ["Paris", "no idea", "books"])
    models = [{"label": "target", "role": "anchor", "model": "steps/target", "eval": "steps/eval-target"},
              {"label": "GA", "role": "method", "model": "steps/GA", "eval": "steps/eval-GA"},
              {"label": "NPO", "role": "method", "model": "steps/NPO", "eval": "steps/eval-GA"}]
    if with_attacks:
        write_eval(steps / "attack-GA" / "quantize-nf4", ["London", "no idea", "notes"])
        write_eval(steps / "attack-NPO" / "relearn", ["1815"], questions=QUESTIONS[1:2])
        write_attacks(steps / "attack-GA", [
            attack("quantize-nf4", "model", {"fact_accuracy": metric(0.0, 0.667, 1.0, 0.667, [0.333, 1.0]),
                                             "rougeL_recall": metric(0.0, 0.667, 1.0, 0.667, [0.333, 1.0])},
                   "quantize-nf4"),
            attack("paraphrase", "prompt", {"fact_accuracy": metric(0.9, 0.9, 0.92, None, None, "gap below 0.05")},
                   "paraphrase"),
            attack("multiple-choice", "probe", {"choice_accuracy": metric(0.25, 0.5, 1.0, 0.333, [0.1, 0.6])}),
        ], {"fact_accuracy": {"value": 0.9, "attack": "paraphrase", "unlearned": 0.0, "control": 0.1,
                              "questions_reported_on": 2}}, control="steps/retain")
        write_attacks(steps / "attack-NPO", [
            attack("relearn", "model", {"fact_accuracy": metric(0.0, 1.0, 1.0, 1.0)}, "relearn"),
        ], {"fact_accuracy": {"value": 1.0, "attack": "relearn", "unlearned": 0.0, "control": None,
                              "questions_reported_on": 1}})
        models[1]["attacks"], models[2]["attacks"] = "steps/attack-GA", "steps/attack-NPO"
    (folder / "experiment.json").write_text(json.dumps({"name": "tiny", "scenario": "fictitious", "models": models,
                                                        "settings": {"report_examples": 2}, "notes": []}))
    write_report(folder)
    return folder


def table_rows(report: str, title_start: str) -> list[str]:
    """The body rows of the Markdown table whose title starts with ``title_start``."""
    table = report.split(f"## {title_start}", 1)[1].split("\n\n")[1]
    return table.splitlines()[2:]


def test_the_recovery_table_gives_each_methods_headline_recovery_per_attack(tmp_path):
    report = (fake_run(tmp_path / "run", with_attacks=True) / "report.md").read_text()
    title = report.split("## Robustness: recovery of forget ", 1)[1].splitlines()[0]
    assert title.startswith("fact accuracy under each attack, knowledge beyond the control model under the same "
                            "attack") and "[95% paired interval]" in title
    assert "for NPO: (attacked - unlearned) / (original - unlearned) against the unattacked floor (no control)" in title
    assert "not fact-based" not in title
    assert "| method | quantize-nf4 | paraphrase | multiple-choice (choice_accuracy) | relearn |" in report
    assert table_rows(report, "Robustness: recovery") == [
        "| GA | 0.667 [0.333, 1.000] | n/c | 0.333 [0.100, 0.600] | n/c |",
        "| NPO | n/c | n/c | n/c | 1.000 |"]
    assert table_rows(report, "Robustness: why a recovery is n/c") == [
        "| GA | paraphrase | gap below 0.05 |", "| GA | relearn | attack not run on this model |",
        "| NPO | quantize-nf4 | attack not run on this model |", "| NPO | paraphrase | attack not run on this model |",
        "| NPO | multiple-choice | attack not run on this model |"]
    assert table_rows(report, "Robustness: forget score without attack") == [
        "| GA | fact accuracy | 0.000 | 0.900 | 0.100 | paraphrase | 2 |",
        "| NPO | fact accuracy | 0.000 | 1.000 | n/c | relearn | 1 |"]


def test_the_strongest_attack_shows_generations_before_and_after_on_the_same_questions(tmp_path):
    report = (fake_run(tmp_path / "run", with_attacks=True) / "report.md").read_text()
    assert table_rows(report, "Robustness: GA before and after its strongest attack, quantize-nf4") == [
        "| Where was Ada born? | London | Paris | London |", "| When was Ada born? | 1815 | no idea | no idea |"]
    # relearning measured only the second question: matched by its text, not its position
    assert table_rows(report, "Robustness: NPO before and after its strongest attack, relearn") == [
        "| When was Ada born? | 1815 | no idea | 1815 |"]


def test_robustness_csv_has_one_row_per_method_attack_and_metric_and_the_heat_map_is_drawn(tmp_path):
    run = fake_run(tmp_path / "run", with_attacks=True)
    rows = list(csv.DictReader((run / "robustness.csv").open()))
    assert [(r["model"], r["attack"], r["metric"]) for r in rows] == [
        ("GA", "quantize-nf4", "fact_accuracy"), ("GA", "quantize-nf4", "rougeL_recall"),
        ("GA", "paraphrase", "fact_accuracy"), ("GA", "multiple-choice", "choice_accuracy"),
        ("NPO", "relearn", "fact_accuracy")]
    assert {k: rows[0][k] for k in ("unlearned", "attacked", "original", "recovery", "recovery_low",
                                    "recovery_high", "not_computed")} == {
        "unlearned": "0.0", "attacked": "0.667", "original": "1.0", "recovery": "0.667", "recovery_low": "0.333",
        "recovery_high": "1.0", "not_computed": ""}
    assert (rows[2]["recovery"], rows[2]["recovery_low"], rows[2]["not_computed"]) == ("", "", "gap below 0.05")
    assert (run / "plots" / "robustness_recovery.png").stat().st_size > 1000
    assert "<img alt='robustness_recovery'" in (run / "report.html").read_text()


def test_a_run_without_attacks_has_no_robustness_part(tmp_path):
    run = fake_run(tmp_path / "run", with_attacks=False)
    assert "Robustness" not in (run / "report.md").read_text() + (run / "report.html").read_text()
    assert not (run / "robustness.csv").exists() and not (run / "plots" / "robustness_recovery.png").exists()
