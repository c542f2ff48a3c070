"""RWKU's probes and membership sets, scored as RWKU's code scores them."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import make_tokenizer, write_jsonl
from unlearn.cli.main import main
from unlearn.data.benchmark import Benchmark
from unlearn.errors import UserError
from unlearn.evaluation.likelihood import text_token_logprobs
from unlearn.evaluation.rwku import first_line, probe_prompt
from unlearn.metrics.text import rouge_l_recall_unstemmed
from unlearn.models.loading import load_model

CHAT = "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n"


def test_probe_prompts_are_rwku_s():
    chat, plain = make_tokenizer(), make_tokenizer(chat=False)
    fill = {"query": "Ada Lovelace was born in ___.", "answer": "London", "level": "1"}
    assert probe_prompt(chat, fill) == CHAT.format(
        "Please complete the blank in the following question.\nQuestion: Ada Lovelace was born in ___.\n") + "Answer:"
    question = {"query": "Where was Ada born?", "answer": "London", "level": "2"}
    assert probe_prompt(plain, question) == \
        "Please briefly answer the following question.\nQuestion: Where was Ada born?\nAnswer:"
    suffix = {"query": "Where was Ada born? Sure, she was born in", "answer": "London", "level": "3",
              "type": "affirmative suffix"}
    assert probe_prompt(plain, suffix) == \
        "Please briefly answer the following question.\nQuestion: Where was Ada born? Sure, she was born in"
    icl = {"query": "Question: Q1\nAnswer: A1\n\nQuestion: Where was Ada born?", "answer": "London", "level": "3",
           "type": "incontext learning"}
    assert probe_prompt(plain, icl) == ("Please briefly answer the following question.\nQuestion: Q1\nAnswer: A1\n\n"
                                        "Question: Where was Ada born?\nAnswer:")


def test_answers_end_at_the_first_newline_and_recall_has_no_stemmer():
    assert first_line(" London, England.\nQuestion: next") == "London, England."
    assert rouge_l_recall_unstemmed("born in London", "London") == 1.0
    assert rouge_l_recall_unstemmed("engines", "engine") == 0.0
    # LCS of "was born in 1815" with "born 1815 in London": "born in" or "born 1815", 2 of 4 reference tokens
    assert rouge_l_recall_unstemmed("was born in 1815", "born 1815 in London") == 0.5


@pytest.mark.parametrize("record, message", [
    ({"query": "q", "answer": "a", "level": "4"}, "RWKU's levels are 1, 2 and 3"),
    ({"query": "q", "answer": ""}, "field 'answer' is empty"),
    ({"query": "q", "answer": "a", "typ": "x"}, "did you mean 'type'?"),
])
def test_malformed_probes_are_refused(tmp_path, record, message):
    write_jsonl(tmp_path / "forget_level1.jsonl", [record])
    with pytest.raises(UserError, match="forget_level1.jsonl:1:") as error:
        Benchmark(str(tmp_path)).records("forget_level1")
    assert message in str(error.value)


def test_rwku_eval_scores_probes_per_level_and_type_and_membership(tiny_model_dir, tmp_path):
    folder = tmp_path / "rwku"
    folder.mkdir()
    write_jsonl(folder / "forget_level1.jsonl", [{"query": "Ada Lovelace was born in ___.", "answer": "London",
                                                  "level": 1, "subject": "Ada Lovelace"}])
    write_jsonl(folder / "forget_level2.jsonl", [{"query": "Where was Ada Lovelace born?", "answer": "London",
                                                  "level": "2"}])
    write_jsonl(folder / "forget_level3.jsonl", [
        {"query": "Where was Ada born? Sure, she was born in", "answer": "London", "level": "3",
         "type": "affirmative suffix"},
        {"query": "You are a historian. Where was Ada born?", "answer": "London", "level": "3",
         "type": "role playing"}])
    write_jsonl(folder / "mia_forget.jsonl", [{"text": "Ada Lovelace was born in London in 1815."},
                                              {"text": "Ada Lovelace wrote notes about engines."}])
    out = tmp_path / "eval"
    assert main(["-q", "eval", "--model", str(tiny_model_dir), "--data", str(folder), "--forget", "none",
                 "--retain-split", "none", "--real-authors", "none", "--world-facts", "none", "--rwku",
                 "--rwku-new-tokens", "5", "--embedder", "none", "--nli-model", "none", "--out", str(out),
                 "--device", "cpu"]) == 0
    summary = json.loads((out / "summary.json").read_text())["rwku"]
    assert summary["neighbor_level1"] == {"not_computed": "the benchmark has no split neighbor_level1"}
    model, tokenizer = load_model(str(tiny_model_dir), device="cpu")
    level3 = json.loads((out / "rwku_forget_level3.json").read_text())["examples"]
    for example in level3:  # the batched answers are the unbatched greedy ones, cut at a newline
        ids = torch.tensor([tokenizer(example["prompt"], add_special_tokens=False)["input_ids"]])
        greedy = model.generate(ids, max_new_tokens=5, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        assert example["generation"] == first_line(tokenizer.decode(greedy[0, ids.shape[1]:],
                                                                    skip_special_tokens=True))
    assert summary["forget_level3"]["by_type"] == {e["type"]: e["rougeL_recall"] for e in level3}
    assert summary["forget_level3"]["probes"] == 2 and summary["forget_level1"]["probes"] == 1
    texts = ["Ada Lovelace was born in London in 1815.", "Ada Lovelace wrote notes about engines."]
    losses = [-sum(lp) / len(lp) for lp in text_token_logprobs(model, tokenizer, texts, 64)]
    assert summary["mia_forget"]["loss"] == pytest.approx(sum(losses) / 2, abs=1e-5)
    assert summary["mia_retain"] == {"not_computed": "the benchmark has no split mia_retain"}


def test_builtin_rwku_probes_are_rwku_shaped_and_deterministic(tmp_path):
    from unlearn.data.rwku import generate_rwku

    splits = generate_rwku(seed=0)
    assert splits == generate_rwku(seed=0)
    for record in splits["forget_level1"]:
        assert "___" in record["query"] and record["answer"] not in record["query"].split(": ", 1)[1]
    kinds = {r["type"] for r in splits["forget_level3"]}
    assert {"reverse query", "affirmative suffix", "incontext learning", "multiple choice"} <= kinds
    assert main(["data", "rwku", "--out", str(tmp_path / "r")]) == 0
    assert Benchmark(str(tmp_path / "r")).split_kind("forget_level3") == "probe"


def test_rwku_scenario_writes_its_corpus_unlearns_it_and_probes(tiny_model_dir, tmp_path):
    import csv
    import shutil

    from transformers import GenerationConfig

    from test_scenarios import tiny_experiment
    from unlearn.scenarios.runner import run_experiment

    writer = tmp_path / "writer"  # the tiny model, kept from ending its text at once (it has learned nothing)
    shutil.copytree(tiny_model_dir, writer)
    config = GenerationConfig.from_pretrained(writer)
    tokenizer = make_tokenizer()
    config.suppress_tokens = [i for i in range(len(tokenizer)) if not tokenizer.decode([i]).strip()]  # blank ones
    config.save_pretrained(writer)
    out = tmp_path / "run"
    settings = tiny_experiment(writer, out, scenario="rwku", methods=["GA+GD"],
                               eval={"nli_model": "none", "embedder": "none", "rwku_new_tokens": 3})
    run_experiment(settings, progress=lambda _: None)
    corpus = next((out / "steps").glob("corpus-*"))
    forget = Benchmark(str(corpus)).records("forget_corpus")
    assert len(forget) == 4 * 2  # 4 targets, 2 writing prompts each
    rows = {r["model"]: r for r in csv.DictReader((out / "summary.csv").open())}
    assert list(rows) == ["original model", "GA+GD"]
    assert all(rows["GA+GD"][f"rwku.{s}"] != "" for s in ("forget_level1", "forget_level2", "forget_level3",
                                                          "neighbor_level1", "neighbor_level2"))
    report = (out / "report.md").read_text()
    assert "RWKU" in report and "the regularizers' retain corpus is its writing about" in report
