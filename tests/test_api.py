"""The Python API: the notebook example of docs/python-api.md as written, in-memory evaluation, errors as exceptions."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

import unlearn
from unlearn.cli.main import main

EXAMPLE_PAGE = Path(__file__).resolve().parent.parent / "docs" / "python-api.md"
QUICK_EVAL = {"forget": "forget", "retain_split": "retain", "real_authors": "none", "world_facts": "none",
              "holdout": "none", "max_new_tokens": 8, "embedder": "none", "nli_model": "none", "device": "cpu"}


def documented_example() -> str:
    text = EXAMPLE_PAGE.read_text(encoding="utf-8")
    start = text.index("```python\n", text.index("<!-- api-example")) + len("```python\n")
    return text[start:text.index("\n```", start)]


def test_the_documented_example_runs_as_written(tiny_model_dir, tmp_path, monkeypatch, capsys):
    code = documented_example()
    model_line = re.search(r'^MODEL = "[^"]+".*$', code, flags=re.M)
    assert model_line, "the example names its model on one line, MODEL = ..."
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code.replace(model_line.group(0), f"MODEL = {str(tiny_model_dir)!r}"), "docs example", "exec"),
         namespace)
    before, after, board = namespace["before"], namespace["after"], namespace["board"]
    summary = json.loads((after.out / "summary.json").read_text())
    assert after.summary == summary and after.overall == summary["overall"]
    assert after.metric("forget", "rougeL_recall") == summary["splits"]["forget"]["metrics"]["rougeL_recall"]
    assert after.interval("forget", "rougeL_recall") == summary["splits"]["forget"]["intervals"]["rougeL_recall"]
    assert summary["model"].startswith("in-memory LlamaForCausalLM")
    assert {e.label for e in board.entries} == {"target", "ME+GD"} and board.page.is_file()
    assert before.out != after.out and (Path(namespace["unlearned"].out) / "train_summary.json").is_file()
    assert "ROUGE-L recall" in capsys.readouterr().out


def test_an_in_memory_model_scores_exactly_as_its_saved_folder(tiny_model_dir, small_benchmark, tmp_path, tokenizer):
    from transformers import AutoModelForCausalLM

    from_folder = unlearn.evaluate(model=tiny_model_dir, data=small_benchmark, out=tmp_path / "a", **QUICK_EVAL)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    model.train()
    in_memory = unlearn.evaluate(model, tokenizer, data=small_benchmark, out=tmp_path / "b", **QUICK_EVAL)
    assert model.training, "the model goes back to the mode it was in"
    assert {k: v for k, v in in_memory.summary.items() if k != "model"} == \
           {k: v for k, v in from_folder.summary.items() if k != "model"}
    assert json.loads((tmp_path / "a" / "forget.json").read_text())["examples"] == \
           json.loads((tmp_path / "b" / "forget.json").read_text())["examples"]


def test_the_command_line_and_the_api_write_the_same_evaluation(tiny_model_dir, small_benchmark, tmp_path):
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in QUICK_EVAL.items()]
    assert main(["eval", "--model", str(tiny_model_dir), "--data", str(small_benchmark),
                 "--out", str(tmp_path / "cli"), *flags]) == 0
    result = unlearn.evaluate(model=tiny_model_dir, data=small_benchmark, out=tmp_path / "api", **QUICK_EVAL)
    assert json.loads((tmp_path / "cli" / "summary.json").read_text()) == result.summary


def test_bad_settings_raise_the_commands_one_line_error(small_benchmark, tmp_path, tokenizer):
    with pytest.raises(unlearn.UserError, match="unknown method 'XY'"):
        unlearn.forget(data=small_benchmark, method="XY", out=tmp_path / "x")
    with pytest.raises(unlearn.UserError, match="unknown setting 'learning_rat' \\(did you mean 'learning_rate'"):
        unlearn.finetune(data=small_benchmark, out=tmp_path / "x", learning_rat=1e-3)
    with pytest.raises(unlearn.UserError, match="needs its tokenizer"):
        unlearn.evaluate(torch.nn.Linear(1, 1), data=small_benchmark, out=tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_settings_can_come_from_a_yaml_file_with_keywords_on_top(small_benchmark, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("method: NPO+GD\nlearning_rate: 0.5\n")
    from unlearn.api import _settings
    from unlearn.training.forget_settings import ForgetSettings

    chosen = _settings(ForgetSettings, None, {"data": small_benchmark, "out": tmp_path / "o", "learning_rate": 0.1},
                       config)
    assert (chosen.method, chosen.learning_rate, chosen.data) == ("NPO+GD", 0.1, str(small_benchmark))


def test_import_unlearn_stays_light():
    import subprocess
    import sys

    code = "import sys, unlearn; print('torch' in sys.modules, 'transformers' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split() == \
           ["False", "False"]
