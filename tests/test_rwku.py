"""RWKU's probes and membership sets, scored as RWKU's code scores them."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import make_tokenizer, tiny_experiment, write_jsonl
from unlearn.cli.main import main
from unlearn.data.benchmark import Benchmark
from unlearn.errors import UserError
from unlearn.evaluation.rwku import first_line, probe_prompt
from unlearn.evaluation.whole_text import whole_text_logprobs
from unlearn.metrics.text import rwku_rouge_l_recall
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
    assert rwku_rouge_l_recall("born in London", "London") == 1.0
    assert rwku_rouge_l_recall("engines", "engine") == 0.0
    # LCS of "was born in 1815" with "born 1815 in London": "born in" or "born 1815", 2 of 4 reference tokens
    assert rwku_rouge_l_recall("was born in 1815", "born 1815 in London") == 0.5


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


def rwku_eval(model, folder, out, *extra: str) -> int:
    """``unlearn eval --suites rwku`` of ``model`` on ``folder`` (RWKU's layout) into ``out``: its exit status."""
    return main(["-q", "eval", "--model", str(model), "--data", str(folder), "--forget", "none", "--retain-split",
                 "none", "--real-authors", "none", "--world-facts", "none", "--suites", "rwku", "--embedder", "none",
                 "--nli-model", "none", "--out", str(out), "--device", "cpu", *extra])


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
    assert rwku_eval(tiny_model_dir, folder, out, "--rwku.new-tokens", "5") == 0
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
    losses = [-sum(lp) / len(lp) for lp in whole_text_logprobs(model, tokenizer, texts, window=256)]
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


# sha256 of generate_rwku(0) as sorted JSON, taken before odd seeds drew the validation entities: kept
# RWKU results were measured on exactly these probes
SEED_0_SHA256 = "3a7265323463ffec3ad37fde6f8a705eb68781200d804661367a76e7b0eab093"


def probe_digest(splits: dict) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(splits, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def probe_subjects(splits: dict, prefix: str) -> set[str]:
    return {r["subject"] for name, records in splits.items() if name.startswith(prefix) for r in records}


def test_builtin_rwku_seed_0_is_the_reported_draw_unchanged():
    from unlearn.data.rwku import generate_rwku

    splits = generate_rwku(0)
    assert probe_digest(splits) == SEED_0_SHA256
    assert splits["forget_level3"][5]["query"] == ("Which country was Barack Obama the president of? Choose one "
                                                   "of: Canada; The United States; Kenya; Indonesia.")


def test_builtin_rwku_odd_seeds_draw_other_entities(tmp_path):
    from unlearn.data.rwku import generate_rwku
    from unlearn.scenarios.rwku import _builtin_key, _retain_subjects

    reported, validation = generate_rwku(0), generate_rwku(1)
    for prefix, count in (("forget_", 4), ("neighbor_", 8)):
        assert len(probe_subjects(validation, prefix)) == count
        assert probe_subjects(validation, prefix) == probe_subjects(generate_rwku(3), prefix)
        assert probe_subjects(reported, prefix) == probe_subjects(generate_rwku(2), prefix)
    entities = [probe_subjects(s, "forget_") | probe_subjects(s, "neighbor_") for s in (reported, validation)]
    assert len(entities[0]) == len(entities[1]) == 12 and not entities[0] & entities[1]
    assert not {r["text"] for r in reported["mia_forget"] + reported["mia_retain"]} & \
        {r["text"] for r in validation["mia_forget"] + validation["mia_retain"]}
    # the scenario's data step: seed 0's key as before, an odd seed's names its draw
    assert _builtin_key(0) == {"builtin_rwku": 0}
    assert _builtin_key(1) == {"builtin_rwku": 1, "entities": "validation"}
    assert main(["data", "rwku", "--seed", "1", "--out", str(tmp_path / "v")]) == 0
    probes = Benchmark(str(tmp_path / "v"))
    assert {r["subject"] for r in probes.records("forget_level2")} == probe_subjects(validation, "forget_")
    assert _retain_subjects(probes) == ["Charles Dickens", "Louvre", "Michelangelo", "John F. Kennedy"]


def test_validation_entities_have_the_packaged_fields():
    from unlearn.data.rwku import read_entities

    targets, neighbors = read_entities(1)
    for records, least in ((targets, 5), (neighbors, 3)):
        counts = {}
        for record in records:
            for field in ("question", "answer", "paraphrased_answer", "fact", "subject"):
                assert isinstance(record[field], str) and record[field].strip(), (field, record)
            wrong = record["perturbed_answer"]
            assert len(wrong) == 3 and record["answer"] not in wrong and all(isinstance(w, str) for w in wrong)
            assert record["fact"].lower() in record["answer"].lower()
            counts[record["subject"]] = counts.get(record["subject"], 0) + 1
        assert min(counts.values()) >= least
    assert len({r["subject"] for r in targets}) == 4 and len({r["subject"] for r in neighbors}) == 8


def test_builtin_rwku_seed_orders_the_options_within_a_draw():
    from unlearn.data.rwku import generate_rwku

    def choices(seed: int) -> list[str]:
        return [r["query"] for r in generate_rwku(seed)["forget_level3"] if r["type"] == "multiple choice"]

    def options(queries: list[str]) -> list[set[str]]:
        return [set(q.split(" Choose one of: ")[1].rstrip(".").split("; ")) for q in queries]

    for seed, other in ((0, 2), (1, 3)):
        assert choices(seed) != choices(other) and options(choices(seed)) == options(choices(other))


@pytest.mark.parametrize("data_seed, targets, retained", [
    (0, {"Barack Obama", "Marie Curie", "Napoleon Bonaparte", "Statue of Liberty"},
     "George Washington, Alexander the Great, Empire State Building, Isaac Newton"),
    (1, {"William Shakespeare", "Eiffel Tower", "Leonardo da Vinci", "Neil Armstrong"},
     "Charles Dickens, Louvre, Michelangelo, John F. Kennedy"),
])
def test_rwku_scenario_writes_its_corpus_unlearns_it_and_probes(tiny_model_dir, tmp_path, data_seed, targets,
                                                                  retained):
    import csv
    import shutil

    from transformers import GenerationConfig

    from unlearn.scenarios.runner import run_experiment

    writer = tmp_path / "writer"  # the tiny model, kept from ending its text at once (it has learned nothing)
    shutil.copytree(tiny_model_dir, writer)
    config = GenerationConfig.from_pretrained(writer)
    tokenizer = make_tokenizer()
    config.suppress_tokens = [i for i in range(len(tokenizer)) if not tokenizer.decode([i]).strip()]  # blank ones
    config.save_pretrained(writer)
    out = tmp_path / "run"
    settings = tiny_experiment(writer, out, scenario="rwku", scenario_args={"data_seed": data_seed},
                               methods=["GA+GD"],
                               eval={"nli_model": "none", "embedder": "none",
                                     "suite_args": {"rwku": {"new_tokens": 3}}})
    run_experiment(settings, progress=lambda _: None)
    corpus = next((out / "steps").glob("corpus-*"))
    forget = Benchmark(str(corpus)).records("forget_corpus")
    assert len(forget) == 4 * 2  # 4 targets, 2 writing prompts each
    probes = Benchmark(str(next((out / "steps").glob("data-*"))))
    assert {r["subject"] for r in probes.records("forget_level2")} == targets  # the seed's draw
    rows = {r["model"]: r for r in csv.DictReader((out / "summary.csv").open())}
    assert list(rows) == ["original model", "GA+GD"]
    assert all(rows["GA+GD"][f"rwku.{s}"] != "" for s in ("forget_level1", "forget_level2", "forget_level3",
                                                          "neighbor_level1", "neighbor_level2"))
    report = (out / "report.md").read_text()
    assert "RWKU" in report and f"the regularizers' retain corpus is its writing about {retained}" in report
    assert "RWKU utility parts not computed" in report and "lm-eval's mmlu task" in report
    assert "Min-K%++" in report


@pytest.mark.parametrize("generation, reference, recall", [
    ("Paris, France.", "Paris", 0.0),  # "Paris," is not "Paris" (rouge_score: 1.0)
    ("Paris", "Paris, France.", 0.0),
    ("paris", "Paris", 0.0),  # case kept (rouge_score: 1.0)
    ("born in London", "London", 1.0),
    ("London. Paris", "Paris London", 1.0),  # sentences at ".", union LCS (plain LCS: 0.5)
    ("the the cat", "the cat the", 0.5),  # words counted as sets: 1 of {the, cat}
    ("", "London", 0.0),  # RWKU answers NOANSWER
    ("...", "London", 0.0),  # no sentence left: the package raises; nothing was said
])
def test_probe_recall_is_rwku_s_rouge_package(generation, reference, recall):
    """Values of the rouge package 1.0.1 (pltrdy) as RWKU's eval_forget.py calls it."""
    from unlearn.metrics.text import rwku_rouge_l_recall

    assert rwku_rouge_l_recall(generation, reference) == pytest.approx(recall)
    from rouge import Rouge

    if generation.strip(". "):
        assert Rouge().get_scores(generation, reference, avg=True)["rouge-l"]["r"] == pytest.approx(recall)


def test_probes_are_scored_with_rwku_s_scorer(tiny_model_dir, monkeypatch):
    import unlearn.evaluation.rwku as rwku

    model, tokenizer = load_model(str(tiny_model_dir), device="cpu")
    monkeypatch.setattr(rwku, "generate_greedy", lambda *a, **k: ["Paris, France.\nQuestion: x", "Paris"])
    probes = [{"query": "Capital of France?", "answer": "Paris", "level": "2"},
              {"query": "Capital of France?", "answer": "Paris", "level": "2"}]
    result = rwku.evaluate_probes(model, tokenizer, probes, 5, resamples=50)
    assert [e["rougeL_recall"] for e in result["examples"]] == [0.0, 1.0]  # rouge_score gave 1.0 and 1.0
    assert result["mean"] == 0.5


def test_membership_scores_are_rwku_s_four_oriented_as_loss():
    import zlib

    from unlearn.evaluation.likelihood import SequenceScore
    from unlearn.evaluation.rwku import membership_scores

    logprobs = (-1.0, -2.0, -3.0, -4.0, -5.0, -6.0, -7.0, -8.0, -9.0, -10.0)
    means = (-1.0,) * 5 + (-10.0,) * 5  # z = (lp - mu) / sigma: 0, -1, -2, -3, -4, 4, 3, 2, 1, 0
    stds = (1.0,) * 10
    score = SequenceScore(logprobs, (0,) * 10, (0,) * 10, means, stds)
    text = "Ada Lovelace was born in London."
    values = membership_scores(score, text)
    assert values["loss"] == pytest.approx(5.5)  # mean NLL
    assert values["zlib"] == pytest.approx(5.5 / len(zlib.compress(text.encode())))
    assert values["mink"] == pytest.approx(9.5)  # -mean of the int(0.2 * 10) = 2 lowest: -10, -9
    assert values["mink++"] == pytest.approx(3.5)  # Min-K%++ (RWKU's mink20): -mean(-4, -3)


def test_membership_sets_score_the_whole_text(tiny_model_dir, tmp_path):
    from unlearn.evaluation.rwku import evaluate_membership
    from unlearn.metrics.privacy import min_k_score

    model, tokenizer = load_model(str(tiny_model_dir), device="cpu")
    texts = ["Ada Lovelace was born in London in 1815.", "Ada Lovelace wrote notes about engines " * 5]
    result = evaluate_membership(model, tokenizer, [{"text": t} for t in texts], batch_size=2, resamples=50)
    whole = whole_text_logprobs(model, tokenizer, texts, window=256)
    assert 64 < len(whole[1]) < 255  # longer than the old cut would have kept, within the window
    assert result["loss"] == pytest.approx(sum(-sum(lp) / len(lp) for lp in whole) / 2, abs=1e-5)
    assert result["mink"] == pytest.approx(sum(min_k_score(lp, 0.2) for lp in whole) / 2, abs=1e-5)
    assert result["mink++"] != pytest.approx(result["mink"])
    assert set(result) >= {"loss", "zlib", "mink", "mink++", "loss_interval", "mink++_interval"}


def test_fluency_is_rwku_s_weighted_bigram_trigram_entropy():
    import math

    from unlearn.metrics.text import fluency_entropy

    # bigrams ab, ba, ab: H2 = -(2/3 log2 2/3 + 1/3 log2 1/3) = 0.9183; trigrams aba, bab: H3 = 1
    h2 = -(2 / 3 * math.log2(2 / 3) + 1 / 3 * math.log2(1 / 3))
    assert fluency_entropy(["a", "b", "a", "b"]) == pytest.approx((2 / 3 * h2 + 4 / 3 * 1.0) / 2)
    assert fluency_entropy(["a", "b"]) == pytest.approx((0 + 0) / 2)  # one bigram (H 0), no trigram (adds 0)
    assert fluency_entropy(list("abcdefgh")) == pytest.approx((2 / 3 * math.log2(7) + 4 / 3 * math.log2(6)) / 2)


MMLU = {"question": "2 + 2 =", "choices": ["3", "4", "5", "6"], "answer": 1, "task": "elementary_mathematics",
        "subject": "Ada Lovelace",
        "examples": [{"question": "1 + 1 =", "choices": ["2", "3", "4", "5"], "answer": 0}]}


def test_utility_general_prompt_is_rwku_s():
    from unlearn.evaluation.rwku_utility import general_prompt

    assert general_prompt(MMLU) == (
        "The following are multiple choice questions (with answers) about elementary mathematics.\n\n"
        "Question: 1 + 1 =\nA. 2\nB. 3\nC. 4\nD. 5\nAnswer: A\n\n"
        "Please following the previous examples and answer the given question.\n"
        "Question: 2 + 2 =\nA. 3\nB. 4\nC. 5\nD. 6")


def test_utility_from_a_folder_in_rwku_s_layout_and_the_rest_not_computed(tiny_model_dir, tmp_path):
    folder = tmp_path / "rwku"
    folder.mkdir()
    write_jsonl(folder / "forget_level2.jsonl", [{"query": "Where was Ada Lovelace born?", "answer": "London",
                                                  "level": "2"}])
    (folder / "utility_general.json").write_text(json.dumps([MMLU, {**MMLU, "answer": 2}]))  # a JSON list, as RWKU's
    write_jsonl(folder / "utility_fluency.jsonl", [{"instruction": "Describe London."}])
    out = tmp_path / "eval"
    assert rwku_eval(tiny_model_dir, folder, out, "--rwku.new-tokens", "3") == 0
    summary = json.loads((out / "summary.json").read_text())["rwku"]
    general = json.loads((out / "rwku_utility_general.json").read_text())
    model, tokenizer = load_model(str(tiny_model_dir), device="cpu")
    letters = [tokenizer.encode(" " + c, add_special_tokens=False)[-1] for c in "ABCD"]
    for example in general["examples"]:  # the likeliest letter token after the whole prompt, one at a time
        ids = torch.tensor([tokenizer(example["prompt"], add_special_tokens=False)["input_ids"]])
        assert example["chosen"] == "ABCD"[int(model(ids).logits[0, -1, letters].argmax())]
        assert example["prompt"].endswith("D. 6<|im_end|>\n<|im_start|>assistant\nAnswer:")
    assert summary["utility_general"]["accuracy"] == sum(e["chosen"] == e["correct"] for e in general["examples"]) / 2
    fluency = json.loads((out / "rwku_utility_fluency.json").read_text())["examples"][0]
    from unlearn.evaluation.rwku_utility import fluency_words
    from unlearn.metrics.text import fluency_entropy

    assert summary["utility_fluency"]["entropy"] == pytest.approx(fluency_entropy(fluency_words(
        fluency["generation"])[0]))
    for part, task in (("reason", "bbh"), ("truthfulness", "truthfulqa_mc1"), ("factuality", "triviaqa")):
        reason = summary[f"utility_{part}"]["not_computed"]
        assert "has no utility_" + part in reason and task in reason  # never 0


def test_malformed_utility_records_are_refused(tiny_model_dir, tmp_path):
    folder = tmp_path / "rwku"
    folder.mkdir()
    write_jsonl(folder / "forget_level2.jsonl", [{"query": "q", "answer": "a", "level": "2"}])
    write_jsonl(folder / "utility_general.jsonl", [{**MMLU, "examples": "none"}])
    assert rwku_eval(tiny_model_dir, folder, tmp_path / "e") == 2
    assert not (tmp_path / "e" / "summary.json").exists()
