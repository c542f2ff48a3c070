"""A metric defined inside a test and registered once reaches the evaluation, its table, the report,
the leaderboard and ``unlearn eval --list-metrics``, with no other file changed."""

from __future__ import annotations

import json
import math

import pytest

from unlearn.cli.main import main
from unlearn.evaluation.evaluator import aggregate
from unlearn.evaluation.metric_registry import SplitMetric, find_metric, register_metric, registered, split_metrics
from unlearn.evaluation.splits import EvalSplit
from unlearn.report.collect import main_columns, read_run
from unlearn.report.leaderboard import compare
from unlearn.report.tables import result_tables


def _words(values: dict, split) -> float:
    return float(len(values["generation"].split()))


ANSWER_LENGTH = SplitMetric("answer_length", "answer length", "number of words in the greedy answer",
                            ("generation",), _words, headline=("forget",))
# reads a value only the embedder provides: switched off, it is not computed, with the embedder's reason
EMBEDDED = SplitMetric("embedded_toy", "embedded toy", "the cosine similarity again", ("generation", "embedder"),
                       lambda v, s: v.get("cosine_similarity", math.nan))


@pytest.fixture()
def toy_metrics():
    with registered(ANSWER_LENGTH), registered(EMBEDDED):
        yield
    assert find_metric("answer_length") is None and find_metric("embedded_toy") is None


def test_the_shipped_split_metrics_keep_their_order():
    assert [m.name for m in split_metrics()] == [
        "rougeL_recall", "rouge1_recall", "probability", "truth_ratio", "token_entropy", "cosine_similarity",
        "entailment_score", "fact_accuracy", "exact_memorization", "extraction_strength", "refusal_rate"]
    assert main_columns()[4:11] == [("forget", "fact_accuracy"), ("forget", "rougeL_recall"),
                                    ("forget", "token_entropy"), ("forget", "cosine_similarity"),
                                    ("forget", "entailment_score"), ("retain", "fact_accuracy"),
                                    ("retain", "rougeL_recall")]


def test_a_registered_metric_reaches_eval_table_report_leaderboard_and_listing(tiny_model_dir, small_benchmark,
                                                                              tmp_path, capsys, toy_metrics):
    out = tmp_path / "run" / "eval"
    assert main(["-q", "eval", "--model", str(tiny_model_dir), "--data", str(small_benchmark), "--out", str(out),
                 "--device", "cpu", "--max-new-tokens", "8", "--forget", "forget", "--retain-split", "retain",
                 "--real-authors", "none", "--world-facts", "none", "--holdout", "none", "--embedder", "none",
                 "--nli-model", "none"]) == 0
    forget = json.loads((out / "forget.json").read_text(encoding="utf-8"))
    words = [len(e["generation"].split()) for e in forget["examples"]]
    mean = sum(words) / len(words)
    assert forget["metrics"]["answer_length"] == pytest.approx(mean)
    low, high = forget["intervals"]["answer_length"]
    assert low <= mean <= high
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["splits"]["retain"]["metrics"]["answer_length"] is not None
    assert summary["splits"]["forget"]["metrics"]["embedded_toy"] is None
    assert summary["not_computed"]["forget.embedded_toy"] == "disabled (--embedder none)"
    row = next(line for line in capsys.readouterr().out.splitlines() if "answer length" in line)  # forget's
    assert f"{mean:.4f} [{low:.4f}, {high:.4f}]" in row and row.endswith("↓")

    (tmp_path / "run" / "experiment.json").write_text(json.dumps(
        {"name": "toy", "models": [{"label": "toy model", "role": "method", "model": "model", "eval": "eval"}]}))
    run = read_run(tmp_path / "run")
    assert run.models[0].value("forget", "answer_length") == pytest.approx(mean)
    assert ("forget", "answer_length") in main_columns()
    _, header, rows = result_tables(run)[0]
    column = header.index("forget answer length ↓")
    assert rows[0][column].startswith(f"{mean:.3f} [")

    board = compare([out], tmp_path / "board", sort_by="forget.answer_length")
    assert "forget answer length ↓" in (tmp_path / "board" / "leaderboard.md").read_text(encoding="utf-8")
    assert board.sort_by == ("forget", "answer_length")

    assert main(["eval", "--list-metrics"]) == 0
    listed = capsys.readouterr().out.splitlines()
    line = next(line for line in listed if line.startswith("answer_length "))
    assert "↓ / ↑" in line and line.endswith("number of words in the greedy answer")


def test_a_metric_needing_the_likelihood_skips_invalid_examples_and_may_go_without_an_interval():
    tokens = SplitMetric("toy_tokens", "toy tokens", "answer tokens", ("likelihood",),
                         lambda v, s: float(v["answer_tokens"]), interval=False)
    examples = [{"likelihood_valid": True, "answer_tokens": 3, "generation": "a b", "rougeL_recall": 0.5,
                 "rouge1_recall": 0.5, "token_entropy": 1.0},
                {"likelihood_valid": True, "answer_tokens": 5, "generation": "a", "rougeL_recall": 0.0,
                 "rouge1_recall": 0.0, "token_entropy": 0.0},
                {"likelihood_valid": False, "generation": "", "rougeL_recall": 0.0, "rouge1_recall": 0.0,
                 "token_entropy": 0.0}]
    with registered(tokens):
        result = aggregate(EvalSplit("retain", "retain", []), examples, {}, {"resamples": 200})
    assert result.metrics["toy_tokens"] == 4.0
    assert "toy_tokens" not in result.intervals and result.intervals["rougeL_recall"] is not None
    assert "toy_tokens" not in aggregate(EvalSplit("retain", "retain", []), examples, {}).metrics


def test_a_metric_with_an_unknown_need_a_taken_name_or_a_bad_direction_is_refused():
    with pytest.raises(ValueError, match="unknown need 'tokenizer'"):
        register_metric(SplitMetric("toy", "toy", "", ("tokenizer",), _words))
    with pytest.raises(ValueError, match="'rougeL_recall': already registered"):
        register_metric(SplitMetric("rougeL_recall", "toy", "", ("generation",), _words))
    with pytest.raises(ValueError, match="direction '→x' is not"):
        register_metric(SplitMetric("toy", "toy", "", ("generation",), _words, direction="→x"))
    assert find_metric("toy") is None
