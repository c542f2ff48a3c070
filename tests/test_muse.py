"""MUSE's metrics: VerbMem, KnowMem, PrivLeak, on splits named as MUSE's Hub configs."""

from __future__ import annotations

import json

import datasets
import pytest
import torch

from conftest import tiny_experiment, write_jsonl
from unlearn.cli.main import main
from unlearn.data.benchmark import Benchmark, hub_config_and_split
from unlearn.evaluation.muse import cut_answer, knowmem_prompt
from unlearn.evaluation.whole_text import whole_text_logprobs, windows
from unlearn.metrics.privacy import min_k_score
from unlearn.metrics.text import rouge_l_f1
from unlearn.models.loading import load_model

ARTICLE = "Ada Lovelace was born in London in 1815 and wrote notes about engines."
QA = [{"question": "Where was Ada Lovelace born?", "answer": "London"},
      {"question": "When was Paavo Dellacroix born?", "answer": "1984"}]


def test_rouge_l_f1_is_hand_worked_and_has_no_stemmer():
    # LCS of "the cat sat" in "the cat sat on the mat" is 3 tokens: P = 3/3, R = 3/6, F1 = 2/3
    assert rouge_l_f1("the cat sat", "the cat sat on the mat") == pytest.approx(2 / 3)
    assert rouge_l_f1("cats", "cat") == 0.0  # with a stemmer these would match


def test_knowmem_prompt_and_answer_cut_are_muse_s():
    assert knowmem_prompt("Q3?", [("Q1?", "A1"), ("Q2?", "A2")]) == \
        "Question: Q1?\nAnswer: A1\n\nQuestion: Q2?\nAnswer: A2\n\nQuestion: Q3?\nAnswer: "
    assert cut_answer("London.\n\nQuestion: next?") == "London."
    assert cut_answer("London\nQuestion: next") == "London"
    assert cut_answer("In London. Question: why") == "In London. "


def test_min_40_percent_is_hand_worked():
    # 40% of 5 tokens = 2 lowest log-probs, -5 and -4: minus their mean
    assert min_k_score([-1.0, -2.0, -3.0, -4.0, -5.0], 0.4) == pytest.approx(4.5)


def test_config_dot_split_names_read_muse_and_wmdp_hub_layouts(monkeypatch):
    assert hub_config_and_split("verbmem.forget") == ("verbmem", "forget")
    assert hub_config_and_split("knowmem.forget_qa_icl") == ("knowmem", "forget_qa_icl")
    assert hub_config_and_split("forget10") == ("forget10", "train")
    calls = []

    def load_dataset(source, name, split):
        calls.append((source, name, split))
        return datasets.Dataset.from_list([{"prompt": "Once upon", "gt": "a time"}])

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    assert Benchmark("muse-bench/MUSE-News").records("verbmem.forget") == [{"prompt": "Once upon", "gt": "a time"}]
    assert calls == [("muse-bench/MUSE-News", "verbmem", "forget")]


@pytest.fixture()
def muse_folder(tmp_path):
    folder = tmp_path / "muse"
    folder.mkdir()
    write_jsonl(folder / "verbmem.forget.jsonl", [{"prompt": "Ada Lovelace was born", "gt": " in London in 1815."},
                                                  {"prompt": "The capital of France", "gt": " is Paris."}])
    for side in ("forget", "retain"):
        write_jsonl(folder / f"knowmem.{side}_qa.jsonl", QA)
        write_jsonl(folder / f"knowmem.{side}_qa_icl.jsonl", QA[::-1])
    write_jsonl(folder / "privleak.forget.jsonl", [{"text": ARTICLE}, {"text": "The capital of France is Paris."}])
    write_jsonl(folder / "privleak.holdout.jsonl", [{"text": "Paavo Dellacroix was born in Bergen in 1984."},
                                                    {"text": "0 1 2 3 4 5 6 7 8 9 a b c"}])
    return folder


def run_muse_eval(model_dir, folder, out, *extra):
    return main(["-q", "eval", "--model", str(model_dir), "--data", str(folder), "--forget", "none",
                 "--retain-split", "none", "--real-authors", "none", "--world-facts", "none", "--suites",
                 "muse", "--muse.verbmem-tokens", "6", "--muse.knowmem-tokens", "5", "--embedder", "none",
                 "--nli-model", "none", "--out", str(out), "--device", "cpu", *extra])


def test_muse_eval_writes_every_metric_as_muse_computes_it(tiny_model_dir, muse_folder, tmp_path):
    out = tmp_path / "eval"
    assert run_muse_eval(tiny_model_dir, muse_folder, out, "--muse.retrained-auc", "0.5") == 0
    summary = json.loads((out / "summary.json").read_text())["muse"]
    model, tokenizer = load_model(str(tiny_model_dir), device="cpu")
    verbmem = json.loads((out / "muse_verbmem_f.json").read_text())
    for example in verbmem["examples"]:  # each continuation is the unbatched greedy one
        ids = torch.tensor([tokenizer(example["prompt"])["input_ids"]])
        greedy = model.generate(ids, max_new_tokens=6, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        assert example["generation"] == tokenizer.decode(greedy[0, ids.shape[1]:], skip_special_tokens=True).strip()
        assert example["rougeL_f1"] == rouge_l_f1(example["generation"], example["gt"])
    assert summary["verbmem_f"]["mean"] == pytest.approx(sum(e["rougeL_f1"] for e in verbmem["examples"]) / 2)
    knowmem = json.loads((out / "muse_knowmem_f.json").read_text())["examples"]
    assert all("Question" not in e["generation"] and "\n\n" not in e["generation"] for e in knowmem)
    privleak = summary["privleak"]
    scores = json.loads((out / "muse_privleak.json").read_text())
    forget, holdout = scores["member_scores"], scores["holdout_scores"]
    # MUSE's orientation: P(holdout score < forget score), ties one half
    pairs = [(h < f) + 0.5 * (h == f) for f in forget for h in holdout]
    assert privleak["auc"] == pytest.approx(sum(pairs) / 4) and privleak["auc_orientation"] == "muse"
    assert privleak["priv_leak"] == pytest.approx(100 * (privleak["auc"] - 0.5) / 0.5)
    assert privleak["priv_leak_unit"] == "percent"
    assert "constant (--muse.retrained-auc)" in privleak["priv_leak_interval_kind"]
    assert privleak["members"] == privleak["holdout"] == 2 and privleak["min_k"] == 0.4


def test_privleak_reads_the_retrained_model_s_auc_from_its_evaluation(tiny_model_dir, muse_folder, tmp_path):
    words = ARTICLE.split()
    for side, first in (("forget", 0), ("holdout", 1)):  # 6 texts a side: ARTICLE's words rotated
        write_jsonl(muse_folder / f"privleak.{side}.jsonl",
                    [{"text": " ".join(words[i:] + words[:i])} for i in range(first, 12, 2)])
    retrained = tmp_path / "retrained"
    assert run_muse_eval(tiny_model_dir, muse_folder, retrained) == 0
    alone = json.loads((retrained / "summary.json").read_text())["muse"]["privleak"]
    assert alone["priv_leak"] is None and "no retrained model's AUC" in alone["not_computed"]
    assert 0 < alone["auc"] < 1
    out = tmp_path / "eval"
    assert run_muse_eval(tiny_model_dir, muse_folder, out, "--retain-eval", str(retrained)) == 0
    privleak = json.loads((out / "summary.json").read_text())["muse"]["privleak"]
    assert privleak["priv_leak"] == 0.0  # same model
    # both models' per-text scores resampled together: the same model gives 0 on every resample
    assert privleak["priv_leak_interval"] == [0.0, 0.0] and "joint" in privleak["priv_leak_interval_kind"]


def test_a_retrained_evaluation_in_the_old_auc_orientation_is_refused(tiny_model_dir, muse_folder, tmp_path, capsys):
    retrained = tmp_path / "retrained"
    assert run_muse_eval(tiny_model_dir, muse_folder, retrained) == 0
    summary = json.loads((retrained / "summary.json").read_text())
    del summary["muse"]["privleak"]["auc_orientation"]  # as an older version wrote it
    (retrained / "summary.json").write_text(json.dumps(summary))
    assert run_muse_eval(tiny_model_dir, muse_folder, tmp_path / "eval", "--retain-eval", str(retrained)) == 2
    assert "other orientation" in capsys.readouterr().err


def test_windows_score_every_token_once_with_half_a_window_of_context():
    assert windows(5, 8) == [(0, 5, 1)]
    assert windows(10, 4) == [(0, 4, 1), (2, 6, 4), (4, 8, 6), (6, 10, 8)]
    for length, window in ((1000, 256), (257, 256), (300, 7)):
        spans = windows(length, window)
        scored = [t for _, end, first in spans for t in range(first, end)]
        assert scored == list(range(1, length))  # every token after the first, once, in order
        assert all(end - begin <= window and (begin == 0 or first - begin >= window // 2)
                   for begin, end, first in spans)


def test_whole_text_log_probs_are_not_cut_and_equal_a_direct_computation(tiny_model_dir):
    model, tokenizer = load_model(str(tiny_model_dir), device="cpu")
    long_text = " ".join([ARTICLE] * 30)  # longer than the tiny model's 256-token context
    texts = [ARTICLE, long_text, "Paris."]
    ids = [tokenizer(t)["input_ids"] for t in texts]
    assert len(ids[1]) > 256
    values = whole_text_logprobs(model, tokenizer, texts, window=256, batch_size=2)
    assert [len(v) for v in values] == [len(i) - 1 for i in ids]
    for text_ids, got in zip(ids, values):
        expected = []
        for begin, end, first in windows(len(text_ids), 256):
            piece = torch.tensor([text_ids[begin:end]])
            with torch.no_grad():
                log_probs = torch.log_softmax(model(piece).logits[0, :-1].double(), -1)
            expected += log_probs.gather(-1, piece[0, 1:].unsqueeze(-1)).squeeze(-1).tolist()[first - begin - 1:]
        assert got == pytest.approx(expected, abs=1e-5)


def test_missing_muse_splits_are_not_computed_with_the_reason(tiny_model_dir, muse_folder, tmp_path):
    (muse_folder / "verbmem.forget.jsonl").unlink()
    out = tmp_path / "eval"
    assert run_muse_eval(tiny_model_dir, muse_folder, out, "--muse.retrained-auc", "0.5") == 0
    summary = json.loads((out / "summary.json").read_text())["muse"]
    assert summary["verbmem_f"] == {"not_computed": "the benchmark has no split verbmem.forget"}
    assert summary["knowmem_r"]["mean"] is not None


def test_builtin_muse_is_deterministic_in_muse_s_layout(tmp_path):
    from unlearn.data.muse import generate_muse

    splits = generate_muse(people=20, qa_per_person=3, seed=1)
    assert splits == generate_muse(people=20, qa_per_person=3, seed=1)
    assert len(splits["raw.forget"]) == 5 and len(splits["raw.retain1"]) == 15 and len(splits["raw.holdout"]) == 5
    assert splits["raw.full"] == splits["raw.forget"] + splits["raw.retain1"]
    for article, cut in zip(splits["raw.forget"], splits["verbmem.forget"]):
        assert cut["prompt"] + cut["gt"] == article["text"]
    icl = {r["question"] for r in splits["knowmem.forget_qa_icl"]}
    assert len(icl) == 4 and not icl & {r["question"] for r in splits["knowmem.forget_qa"]}
    forget_text = " ".join(a["text"] for a in splits["raw.forget"])
    assert all(r["answer"] in forget_text for r in splits["knowmem.forget_qa"])  # every answer is in the corpus
    # PrivLeak's texts: every sentence of the articles, members from the forget articles, holdout from the others
    assert len(splits["privleak.forget"]) == len(splits["privleak.holdout"]) == 5 * 3
    assert all(t["text"] in forget_text for t in splits["privleak.forget"])
    holdout_text = " ".join(a["text"] for a in splits["raw.holdout"])
    assert " ".join(t["text"] for t in splits["privleak.holdout"]) == holdout_text
    parts = [a["text"] for fold in range(1, 5) for a in splits[f"sust.forget_{fold}"]]
    assert sorted(parts) == sorted(a["text"] for a in splits["raw.forget"])  # sust: disjoint, covering
    assert [len(splits[f"scal.forget_{fold}"]) for fold in range(1, 5)] == [1, 2, 3, 5]
    assert main(["data", "muse", "--out", str(tmp_path / "m"), "--people", "20", "--qa-per-person", "3",
                 "--seed", "1"]) == 0
    assert Benchmark(str(tmp_path / "m")).records("verbmem.forget") == splits["verbmem.forget"]


def test_muse_scenario_reports_every_metric_against_the_retrained_model(tiny_model_dir, tmp_path):
    import csv

    from unlearn.scenarios.runner import run_experiment

    out = tmp_path / "run"
    settings = tiny_experiment(tiny_model_dir, out, scenario="muse", scenario_args={"people": 12, "qa_per_person": 3},
                               methods=["NPO+GD"], eval={"nli_model": "none", "embedder": "none", "suite_args": {
                                   "muse": {"verbmem_tokens": 4, "knowmem_tokens": 4}}})
    run_experiment(settings, progress=lambda _: None)
    rows = {r["model"]: r for r in csv.DictReader((out / "summary.csv").open())}
    assert list(rows) == ["target", "retrained", "NPO+GD"]
    assert rows["retrained"]["muse.privleak"] == "" and rows["retrained"]["muse.privleak_auc"] != ""  # the reference
    for row in (rows["target"], rows["NPO+GD"]):
        assert all(row[f"muse.{m}"] != "" for m in ("verbmem_f", "knowmem_f", "knowmem_r", "privleak"))
    assert "| NPO+GD |" in (out / "report.md").read_text() and "KnowMem forget ↓" in (out / "report.md").read_text()
    assert main(["compare", str(out), "--out", str(tmp_path / "board"), "--metrics", "muse.knowmem_f",
                 "muse.privleak", "--sort-by", "muse.knowmem_f"]) == 0
    board = (tmp_path / "board" / "leaderboard.csv").read_text()
    assert "NPO+GD" in board and rows["NPO+GD"]["muse.knowmem_f"][:5] in board


def test_muse_sustainability_unlearns_the_folds_one_after_another(tiny_model_dir, tmp_path):
    import json as _json

    from unlearn.scenarios.runner import run_experiment

    out = tmp_path / "run"
    settings = tiny_experiment(tiny_model_dir, out, scenario="muse", methods=["GA"],
                               scenario_args={"people": 16, "qa_per_person": 2, "protocol": "sustainability",
                                              "retrained_auc": 0.5},
                               eval={"nli_model": "none", "embedder": "none",
                                     "suite_args": {"muse": {"verbmem_tokens": 2, "knowmem_tokens": 2}}})
    run_experiment(settings, progress=lambda _: None)
    manifest = _json.loads((out / "experiment.json").read_text())
    labels = [row["label"] for row in manifest["models"]]
    assert labels == ["target", *[f"GA sust.forget_{k}" for k in range(1, 5)]]  # no retrained model: its AUC given
    for k in range(2, 5):  # each request starts from the previous request's model
        step = next((out / "steps").glob(f"forget-GA_sust.forget_{k}-*"))
        model = _json.loads((step / "unlearn_settings.json").read_text())["model"]
        assert f"forget-GA_sust.forget_{k - 1}-" in model
