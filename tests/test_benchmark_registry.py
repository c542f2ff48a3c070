"""A benchmark is one registration (``unlearn.benchmarks.registry``): a toy one defined here is written by
``unlearn data``, evaluated by ``unlearn eval --suites``, listed, and shown by the report and ``unlearn
compare``, with no other file changed. Also: the suites' own flags, and release 0.1's flat names."""

from __future__ import annotations

import json
import logging

import pytest
from pydantic import Field, PositiveFloat

from unlearn.benchmarks.registry import (BenchmarkSpec, Generator, Option, Suite, benchmark_list, benchmarks,
                                         registered)
from unlearn.cli.main import main
from unlearn.config import PartSettings, validate_settings
from unlearn.evaluation.eval_settings import EvalSettings


class ToySettings(PartSettings):
    scale: PositiveFloat = Field(1.0, description="what the mean token count is multiplied by")


def toy_generate(seed: int = 0, count: int = 3) -> dict[str, list[dict]]:
    """Two splits of text records: ``count`` notes each, numbered from the seed."""
    return {"notes": [{"text": f"note {seed + i} about the toy world"} for i in range(count)],
            "extra": [{"text": f"extra {seed + i}"} for i in range(count)]}


def toy_load(source, settings, args):
    return [record["text"] for record in source.records("notes")]


def toy_run(model, tokenizer, texts, context):
    """The mean token count of the notes, times ``scale``: one value."""
    counts = [len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in texts]
    return {"tokens": {"mean": context.args.scale * sum(counts) / len(counts), "examples": counts}}


def toy_values(entry: dict) -> dict[str, tuple]:
    return {f"toy.{part}": (result.get("mean"), None) for part, result in entry.items()}


def toy_tables(results) -> list:
    rows = [[model.label, f"{(model.summary.get('toy') or {}).get('tokens', {}).get('mean')}"]
            for model in results.models if model.summary.get("toy")]
    return [("Toy notes", ["model", "tokens"], rows)] if rows else []


TOY = BenchmarkSpec(
    name="toy", description="a toy benchmark of notes", kinds=("text",),
    generator=Generator(summary="toy notes", description="Write the toy notes.", generate=toy_generate,
                        options=(Option("count", 3, "notes per split"),)),
    suite=Suite(description="mean token count of the notes", summary_key="toy", load=toy_load, run=toy_run,
                values=toy_values, tables=toy_tables, settings=ToySettings, file_prefix="toy", intervals=False,
                reads={"text": "the toy suite counts the tokens of notes"}))


@pytest.fixture
def toy():
    with registered(TOY):
        yield TOY
    assert "toy" not in benchmarks()


def test_a_toy_benchmark_is_written_evaluated_listed_and_reported(toy, tiny_model_dir, tmp_path, capsys):
    from unlearn.models.loading import load_model
    from unlearn.report.benchmark_tables import benchmark_rows, benchmark_tables
    from unlearn.report.collect import ModelResult, RunResults

    data, out = tmp_path / "toy-data", tmp_path / "eval"
    assert main(["data", "toy", "--out", str(data), "--count", "2", "--seed", "5"]) == 0
    assert "wrote 2 splits" in capsys.readouterr().out
    assert [json.loads(line) for line in (data / "notes.jsonl").read_text().splitlines()] == toy_generate(5, 2)["notes"]

    assert main(["-q", "eval", "--model", str(tiny_model_dir), "--data", str(data), "--suites", "toy",
                 "--toy.scale", "2", "--embedder", "none", "--nli-model", "none", "--out", str(out),
                 "--device", "cpu"]) == 0
    _, tokenizer = load_model(str(tiny_model_dir), device="cpu")
    counts = [len(tokenizer(r["text"], add_special_tokens=False)["input_ids"]) for r in toy_generate(5, 2)["notes"]]
    capsys.readouterr()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["toy"] == {"tokens": {"mean": 2 * sum(counts) / 2}}  # per-example values in the suite's file
    assert json.loads((out / "toy_tokens.json").read_text())["examples"] == counts
    assert summary["splits"] == {}  # the TOFU splits left at their defaults are absent, so skipped

    assert main(["data", "--list-benchmarks"]) == 0
    listed = capsys.readouterr().out
    assert "toy          a toy benchmark of notes" in listed and "--toy.scale (default 1.0)" in listed
    assert "unlearn data toy --out DIR [--count 3]" in listed and listed.strip() == benchmark_list()

    model = ModelResult(label="tiny", role="unlearned", summary=summary, splits={})
    results = RunResults(folder=tmp_path, manifest={}, models=[model], continual=[])
    assert ("Toy notes", ["model", "tokens"], [["tiny", str(float(sum(counts)))]]) in benchmark_tables(results)
    assert benchmark_rows(summary) == {"toy.tokens": float(sum(counts))}  # no interval column: it has none
    assert main(["compare", str(out), "--out", str(tmp_path / "board"), "--metrics", "toy.tokens"]) == 0
    board = (tmp_path / "board" / "leaderboard.csv").read_text()
    assert "toy.tokens" in board and str(float(sum(counts))) in board


def test_a_suites_flag_without_the_suite_and_an_unknown_suite_are_refused(toy, tmp_path, capsys):
    common = ["eval", "--model", "m", "--data", str(tmp_path), "--out", str(tmp_path / "eval")]
    assert main([*common, "--toy.scale", "2"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "unlearn: error: command line: settings of suite 'toy' given, but it is not run (add it to --suites; "
        "running: none)"]
    assert main([*common, "--suites", "toys"]) == 2
    assert "unknown suite 'toys' (known: muse, rwku, choice, lm-eval, toy)" in capsys.readouterr().err
    assert main([*common, "--suites", "toy", "--toy.scale", "-1"]) == 2
    assert "suite_args.toy.scale = '-1'" in capsys.readouterr().err


def test_without_the_registration_the_toy_is_unknown(tmp_path, capsys):
    assert "toy" not in benchmarks()
    with pytest.raises(SystemExit) as exit_status:
        main(["data", "toy", "--out", str(tmp_path)])
    assert exit_status.value.code == 2 and "invalid choice: 'toy'" in capsys.readouterr().err


def test_release_0_1_flat_names_reach_their_suite_with_a_warning(caplog):
    base = {"model": "m", "data": "d", "out": "o"}
    with caplog.at_level(logging.WARNING):
        old = validate_settings(EvalSettings, {**base, "muse": True, "muse_verbmem_tokens": ["6"], "rwku_new_tokens": 3,
                                               "choice_forget": "quiz,more", "choice_format": "continuation",
                                               "lm_eval_limit": 0.5})
    new = validate_settings(EvalSettings, {**base, "suites": ["muse", "choice"],
                                           "suite_args": {"muse": {"verbmem_tokens": 6},
                                                          "choice": {"forget": ["quiz", "more"],
                                                                     "format": "continuation"}}})
    assert old.suites == new.suites == ["muse", "choice"] and old.suite_args == new.suite_args
    assert old.args_of("muse").verbmem_tokens == 6 and old.args_of("muse").knowmem_tokens == 32
    warned = [record.getMessage() for record in caplog.records]
    assert ("setting 'muse_verbmem_tokens' is renamed --muse.verbmem-tokens (YAML: suite_args: {muse: "
            "{verbmem_tokens: ...}}); the old name goes in release 0.3") in warned
    assert "setting 'rwku_new_tokens' is for suite rwku, which is not run: ignored" in warned
    assert "setting 'lm_eval_limit' is for suite lm-eval, which is not run: ignored" in warned


def test_the_old_switch_flags_still_run_their_suite(tmp_path, capsys):
    from unlearn.cli.main import build_parser
    from unlearn.config import resolve_settings

    args = build_parser().parse_args(["eval", "--model", "m", "--data", "d", "--out", "o", "--rwku",
                                      "--rwku-new-tokens", "7", "--muse.min-k", "0.3", "--suites", "muse"])
    settings = resolve_settings(EvalSettings, args)
    assert settings.suites == ["muse", "rwku"]
    assert settings.suite_args == {"muse": {"min_k": 0.3}, "rwku": {"new_tokens": 7}}
