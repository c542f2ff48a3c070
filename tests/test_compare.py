"""``unlearn compare``: the leaderboard across evaluations and experiments."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pytest

import unlearn
from conftest import make_model, make_tokenizer, write_jsonl
from unlearn.cli.main import main
from unlearn.evaluation.compare import paired_difference
from unlearn.report.collect import INTERVALS

QUICK_EVAL = {"forget": "forget", "retain_split": "retain", "real_authors": "none", "world_facts": "none",
              "holdout": "none", "max_new_tokens": 4, "embedder": "none", "nli_model": "none", "device": "cpu"}


@pytest.fixture(scope="module")
def evaluations(tmp_path_factory) -> list[Path]:
    """Three tiny models (three initialisations) evaluated on the same questions."""
    root = tmp_path_factory.mktemp("compare")
    people = [f"Person {i}" for i in range(6)]
    records = [{"question": f"Where was {p} born?", "answer": f"{p} was born in city {i}.",
                "paraphrased_answer": f"{p}'s birthplace is city {i}.",
                "perturbed_answer": [f"{p} was born in town {i + 1}.", f"{p} was born in village {i}."]}
               for i, p in enumerate(people)]
    bench = root / "bench"
    bench.mkdir()
    write_jsonl(bench / "forget.jsonl", records[:3])
    write_jsonl(bench / "retain.jsonl", records[3:])
    tokenizer = make_tokenizer()
    folders = []
    for seed in range(3):
        model_dir = root / f"model{seed}"
        make_model(len(tokenizer), seed=seed).save_pretrained(model_dir)
        tokenizer.save_pretrained(model_dir)
        folders.append(unlearn.evaluate(model=model_dir, data=bench, out=root / f"eval{seed}", **QUICK_EVAL).out)
    return folders


def expected_order(folders: list[Path], metric: str, reverse: bool) -> list[str]:
    values = {f.name: json.loads((f / "summary.json").read_text())["splits"][metric.split(".")[0]]["metrics"]
              [metric.split(".")[1]] for f in folders}
    return sorted(values, key=lambda name: values[name], reverse=reverse)


@pytest.mark.parametrize("metric,higher_first", [("forget.probability", False), ("retain.probability", True)])
def test_entries_are_ranked_better_first_in_the_metrics_direction(evaluations, tmp_path, metric, higher_first):
    board = unlearn.compare(*evaluations, out=tmp_path / "board", sort_by=metric)
    assert [e.label for e in board.entries] == expected_order(evaluations, metric, higher_first)
    assert board.columns[0] == tuple(metric.split("."))


def test_each_entry_is_compared_with_the_leader_on_the_same_questions(evaluations, tmp_path):
    board = unlearn.compare(*evaluations, out=tmp_path / "board", sort_by="forget.probability")
    leader = board.entries[0]
    assert board.leads[0] is None
    for entry, lead in zip(board.entries[1:], board.leads[1:]):
        expected = paired_difference(entry.splits, leader.splits, "forget", "probability", INTERVALS)
        assert lead == expected
        assert lead[0] == pytest.approx(entry.value("forget", "probability") - leader.value("forget", "probability"))
        assert lead[0] >= 0  # lower is better on the forget split, and the leader is lowest
        assert lead[1][0] <= lead[0] <= lead[1][1]


def test_markdown_html_csv_and_plots_are_written(evaluations, tmp_path):
    out = tmp_path / "board"
    main(["compare", *map(str, evaluations), "--out", str(out), "--sort-by", "forget.probability",
          "--labels", "a", "b", "c"])
    markdown = (out / "leaderboard.md").read_text()
    assert "sorted by forget probability ↓" in markdown and "cells: value [95% interval]" in markdown
    assert "| 1 |" in markdown and "vs #1 (paired)" in markdown
    assert "src='data:image/png;base64," in (out / "leaderboard.html").read_text()
    rows = list(csv.DictReader((out / "leaderboard.csv").open()))
    assert sorted(r["model"] for r in rows) == ["a", "b", "c"] and [r["rank"] for r in rows] == ["1", "2", "3"]
    assert float(rows[0]["forget.probability_low"]) <= float(rows[0]["forget.probability"]) <= \
           float(rows[0]["forget.probability_high"])
    assert (out / "plots" / "bar_forget_probability.png").is_file()
    # written again into the same folder: replaced, not refused
    unlearn.compare(*evaluations[:2], out=out, metrics=["retain.truth_ratio"])
    assert len(list(csv.DictReader((out / "leaderboard.csv").open()))) == 2
    assert [p.name for p in (out / "plots").iterdir()] == ["bar_retain_truth_ratio.png"]


def test_an_experiment_folder_gives_one_entry_per_model_and_seed(evaluations, tmp_path):
    run = tmp_path / "run"
    models = []
    for seed, folder in zip((0, 1), evaluations):
        shutil.copytree(folder, run / f"eval{seed}")
        (run / f"model{seed}").mkdir()
        models.append({"label": "GA+GD", "role": "method", "model": f"model{seed}", "eval": f"eval{seed}",
                       "seed": seed})
    (run / "experiment.json").write_text(json.dumps({"name": "tiny", "scenario": "fictitious", "models": models}))
    board = unlearn.compare(run, evaluations[2], out=tmp_path / "board")
    assert [e.label for e in board.entries] == ["tiny/GA+GD (seed 0)", "tiny/GA+GD (seed 1)", "eval2"]
    assert board.sources == [str(run), str(run), str(evaluations[2])]


@pytest.mark.parametrize("extra,message", [
    (["--sort-by", "forget.nonsense"], r"metric 'forget.nonsense' is computed for none of the entries \(available: "),
    (["--labels", "only-one"], r"--labels gives 1 names for 2 sources"),
])
def test_bad_compare_arguments_are_one_line_errors(evaluations, tmp_path, capsys, extra, message):
    status = main(["compare", str(evaluations[0]), str(evaluations[1]), "--out", str(tmp_path / "b"), *extra])
    error = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(error) == 1 and re.search(message, error[0]), error
    assert not (tmp_path / "b").exists()


def test_the_output_folder_is_never_a_source_or_another_folder(evaluations, tmp_path):
    with pytest.raises(unlearn.UserError, match="is one of the compared folders"):
        unlearn.compare(*evaluations, out=evaluations[0])
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(unlearn.UserError, match="holds other files"):
        unlearn.compare(*evaluations, out=tmp_path / "mine")
    with pytest.raises(unlearn.UserError, match="holds neither a finished evaluation"):
        unlearn.compare(tmp_path / "mine", out=tmp_path / "board")
