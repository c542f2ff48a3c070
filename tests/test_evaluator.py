"""``unlearn eval`` on a tiny model: files, per-example values against a naive path, forget
quality from a retain eval, invalid examples, determinism."""

from __future__ import annotations

import json
import math

import pytest
from scipy import stats

from conftest import naive_nll, person, run_eval, tiny_nli, write_jsonl
from unlearn.data.formatting import PromptFormat, encode_pair
from unlearn.evaluation import evaluator
from unlearn.evaluation.likelihood import SequenceScore
from unlearn.models.loading import load_model


def read(path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_eval_writes_every_split_and_a_summary(tiny_model_dir, eval_benchmark, tmp_path, capsys):
    out = tmp_path / "eval"
    assert run_eval(tiny_model_dir, eval_benchmark, out) == 0
    for role in ("forget", "retain", "real_authors", "world_facts", "holdout"):
        assert (out / f"{role}.json").is_file()
    summary = read(out / "summary.json")
    assert summary["splits"]["forget"]["split"] == "forget10"
    assert summary["splits"]["holdout"]["split"] == "holdout10"
    overall = summary["overall"]
    nine = [summary["splits"][role]["metrics"][name] for role in ("retain", "real_authors", "world_facts")
            for name in ("rougeL_recall", "probability", "truth_ratio")]
    expected = 0.0 if min(nine) == 0 else stats.hmean(nine)
    assert overall["model_utility_tofu"] == pytest.approx(expected)
    assert overall["forget_quality"] is None and summary["not_computed"]["forget_quality"] == "no --retain-eval given"
    assert overall["forget_efficacy"] is None and overall["model_utility_seed_paper"] is None
    assert summary["not_computed"]["forget.entailment_score"] == "disabled (--nli-model none)"
    assert summary["splits"]["forget"]["metrics"]["cosine_similarity"] is not None  # packaged embedder
    assert 0 <= overall["mia_auc_loss"] <= 1
    forget = summary["splits"]["forget"]["metrics"]
    for name in ("rougeL_recall", "probability", "truth_ratio", "token_entropy", "cosine_similarity",
                 "fact_accuracy", "exact_memorization", "extraction_strength"):
        assert math.isfinite(forget[name]), name
    printed = capsys.readouterr().out
    assert "forget (forget10, " in printed and "↓" in printed and "↑" in printed and "→0.5" in printed
    assert "not computed" in printed


def test_per_example_values_equal_a_naive_unbatched_path(tiny_model_dir, eval_benchmark, tmp_path):
    out = tmp_path / "eval"
    assert run_eval(tiny_model_dir, eval_benchmark, out, "--batch-size", "3") == 0
    model, tokenizer = load_model(str(tiny_model_dir), device="cpu")
    fmt = PromptFormat.for_tokenizer(tokenizer)

    def mean_nll(question, answer):
        tokens = sum(label != -100 for label in encode_pair(tokenizer, fmt, question, answer, 512)["labels"])
        return naive_nll(model, tokenizer, fmt, question, answer) / tokens

    for example in read(out / "forget.json")["examples"]:
        q = example["question"]
        assert example["answer_nll"] == pytest.approx(mean_nll(q, example["answer"]), abs=1e-5)
        record = next(r for r in map(json.loads, (eval_benchmark / "forget10.jsonl").read_text().splitlines())
                      if r["question"] == q)
        para = mean_nll(q, record["paraphrased_answer"])
        perturbed = [mean_nll(q, p) for p in record["perturbed_answer"]]
        assert example["truth_ratio"] == pytest.approx(math.exp(sum(perturbed) / len(perturbed) - para), rel=1e-5)
        assert example["mia_loss"] == pytest.approx(example["answer_nll"])
    world = read(out / "world_facts.json")["examples"][0]
    p = [math.exp(-mean_nll(world["question"], a)) for a in ("Paris", "Rome", "Madrid", "Berlin")]
    assert world["normalized_probability"] == pytest.approx(p[0] / sum(p), rel=1e-5)
    assert read(out / "world_facts.json")["metrics"]["probability"] == pytest.approx(p[0] / sum(p), rel=1e-5)


def test_entailment_comes_from_the_nli_model_and_completes_the_seed_paper_numbers(tiny_model_dir, eval_benchmark,
                                                                                 tmp_path):
    out = tmp_path / "eval"
    nli = tiny_nli(tmp_path / "nli", always=0)  # labels every pair "entailment"
    assert run_eval(tiny_model_dir, eval_benchmark, out, "--nli-model", str(nli)) == 0
    summary = read(out / "summary.json")
    for role in ("forget", "retain", "real_authors", "world_facts"):
        examples = read(out / f"{role}.json")["examples"]
        assert all(e["entailed"] for e in examples)
        share = sum(e["rougeL_recall"] >= 0.1 for e in examples) / len(examples)  # low ROUGE counts as not entailed
        assert summary["splits"][role]["metrics"]["entailment_score"] == pytest.approx(share)
    forget = summary["splits"]["forget"]["metrics"]
    parts = [forget["rougeL_recall"], forget["probability"], 1 - forget["truth_ratio"], forget["cosine_similarity"],
             forget["entailment_score"]]
    assert summary["overall"]["forget_efficacy"] == pytest.approx(1 - sum(parts) / 5)
    eighteen = [summary["splits"][role]["metrics"][name] for role in ("retain", "real_authors", "world_facts")
                for name in ("rougeL_recall", "probability", "truth_ratio", "token_entropy", "cosine_similarity",
                             "entailment_score")]
    expected = 0.0 if min(eighteen) == 0 else stats.hmean(eighteen)
    assert summary["overall"]["model_utility_seed_paper"] == pytest.approx(expected)


def test_forget_quality_and_priv_leak_come_from_the_retain_models_eval(tiny_model_dir, eval_benchmark, tmp_path):
    retain_eval, target_eval = tmp_path / "retain-eval", tmp_path / "target-eval"
    assert run_eval(tiny_model_dir, eval_benchmark, retain_eval, "--max-new-tokens", "2") == 0
    assert run_eval(tiny_model_dir, eval_benchmark, target_eval, "--retain-eval", str(retain_eval)) == 0
    summary = read(target_eval / "summary.json")["overall"]
    ours = [e["truth_ratio"] for e in read(target_eval / "forget.json")["examples"]]
    theirs = [e["truth_ratio"] for e in read(retain_eval / "forget.json")["examples"]]
    assert summary["forget_quality"] == pytest.approx(stats.ks_2samp(ours, theirs).pvalue)
    assert summary["forget_quality"] == pytest.approx(1.0)  # same model: identical ratios
    assert summary["priv_leak_loss"] == pytest.approx(0.0)
    # both models' per-example scores resampled together (same model: 0 on every resample; Min-K%, whose
    # AUC here is far from 1, so no resample leaves PrivLeak undefined)
    assert read(target_eval / "summary.json")["overall_intervals"]["priv_leak_min_k"] == [0.0, 0.0]


def test_a_retain_eval_of_another_forget_set_is_refused(tiny_model_dir, eval_benchmark, tmp_path, capsys):
    retain_eval = tmp_path / "retain-eval"
    write_jsonl(eval_benchmark / "forget05.jsonl", person("Ada Lovelace", "London", "1815"))
    assert run_eval(tiny_model_dir, eval_benchmark, retain_eval, "--forget", "forget05", "--holdout", "none") == 0
    capsys.readouterr()
    assert run_eval(tiny_model_dir, eval_benchmark, tmp_path / "x", "--retain-eval", str(retain_eval)) == 2
    error = capsys.readouterr().err.strip()
    assert "different forget set" in error and "\n" not in error
    assert not (tmp_path / "x").exists()
    assert run_eval(tiny_model_dir, eval_benchmark, tmp_path / "y", "--retain-eval", str(tmp_path / "nothing")) == 2


def test_a_non_finite_log_probability_marks_the_example_invalid(tiny_model_dir, eval_benchmark, tmp_path,
                                                                   monkeypatch):
    real = evaluator.score_sequences
    broken_question = "When was Ada Lovelace born?"

    def score_with_a_nan(*args, **kwargs):
        scores = real(*args, **kwargs)
        key = (broken_question, "Ada Lovelace was born in 1815.")
        s = scores[key]
        scores[key] = SequenceScore((math.nan,) + s.token_logprobs[1:], s.argmax_tokens, s.answer_tokens,
                                    s.vocab_logprob_means, s.vocab_logprob_stds)
        return scores

    monkeypatch.setattr(evaluator, "score_sequences", score_with_a_nan)
    out = tmp_path / "eval"
    assert run_eval(tiny_model_dir, eval_benchmark, out) == 0
    forget = read(out / "forget.json")
    broken = next(e for e in forget["examples"] if e["question"] == broken_question)
    assert broken["likelihood_valid"] is False and "answer_nll" not in broken
    others = [e["answer_probability"] for e in forget["examples"] if e["likelihood_valid"]]
    assert len(others) == 3
    assert forget["metrics"]["invalid_examples"] == 1
    assert forget["metrics"]["probability"] == pytest.approx(sum(others) / 3)
    assert "forget.invalid_examples" in read(out / "summary.json")["not_computed"]


def test_the_embedder_can_be_switched_off(tiny_model_dir, eval_benchmark, tmp_path):
    assert run_eval(tiny_model_dir, eval_benchmark, tmp_path / "eval", "--embedder", "none") == 0
    summary = read(tmp_path / "eval" / "summary.json")
    assert summary["splits"]["retain"]["metrics"]["cosine_similarity"] is None
    assert summary["not_computed"]["retain.cosine_similarity"] == "disabled (--embedder none)"


def test_summary_is_byte_identical_across_runs(tiny_model_dir, eval_benchmark, tmp_path):
    assert run_eval(tiny_model_dir, eval_benchmark, tmp_path / "a") == 0
    assert run_eval(tiny_model_dir, eval_benchmark, tmp_path / "a") == 0  # same settings: the folder is reused
    assert run_eval(tiny_model_dir, eval_benchmark, tmp_path / "b") == 0
    first = (tmp_path / "a" / "summary.json").read_bytes()
    assert first == (tmp_path / "b" / "summary.json").read_bytes()


def test_a_retain_eval_of_a_larger_forget_set_gives_forget_quality_on_the_shared_questions(
        tiny_model_dir, eval_benchmark, tmp_path):
    retain_eval, target_eval = tmp_path / "retain-eval", tmp_path / "target-eval"
    write_jsonl(eval_benchmark / "forget05.jsonl", person("Ada Lovelace", "London", "1815"))
    assert run_eval(tiny_model_dir, eval_benchmark, retain_eval) == 0  # forget10: four questions
    assert run_eval(tiny_model_dir, eval_benchmark, target_eval, "--forget", "forget05", "--holdout", "holdout10",
                    "--retain-eval", str(retain_eval)) == 0
    summary = read(target_eval / "summary.json")
    ours = [e["truth_ratio"] for e in read(target_eval / "forget.json")["examples"]]
    theirs = [e["truth_ratio"] for e in read(retain_eval / "forget.json")["examples"] if "Ada" in e["question"]]
    assert len(theirs) == 2
    assert summary["overall"]["forget_quality"] == pytest.approx(stats.ks_2samp(ours, theirs).pvalue)
    assert summary["overall"]["priv_leak_loss"] is None
    assert "larger forget set" in summary["not_computed"]["priv_leak_loss"]


def test_the_refusal_rate_counts_answers_opening_with_a_refusal_phrase(tiny_model_dir, eval_benchmark, tmp_path,
                                                                        monkeypatch):
    """Answers stand in for the model's: Ada's two forget questions and one retain question refused; the
    phrase file given by --refusals decides what counts, the packaged phrases otherwise."""
    def answers(model, tokenizer, fmt, questions, *args, **kwargs):
        refused = [q for q in questions if "Ada" in q] + [q for q in questions if "Imani" in q]
        return ["No comment, sorry." if q in refused else "Paris." for q in questions]

    monkeypatch.setattr(evaluator, "generate_answers", answers)
    phrases = tmp_path / "phrases.txt"
    phrases.write_text("no comment!\n")
    assert run_eval(tiny_model_dir, eval_benchmark, tmp_path / "own", "--refusals", str(phrases)) == 0
    splits = read(tmp_path / "own" / "summary.json")["splits"]
    assert splits["forget"]["metrics"]["refusal_rate"] == pytest.approx(2 / 4)
    assert splits["retain"]["metrics"]["refusal_rate"] == pytest.approx(1 / 3)
    assert splits["world_facts"]["metrics"]["refusal_rate"] == 0.0
    refuses = {e["question"]: e["refuses"] for e in read(tmp_path / "own" / "forget.json")["examples"]}
    assert refuses == {q: "Ada" in q for q in refuses}
    assert run_eval(tiny_model_dir, eval_benchmark, tmp_path / "packaged") == 0
    assert read(tmp_path / "packaged" / "summary.json")["splits"]["forget"]["metrics"]["refusal_rate"] == 0.0
    settings = read(tmp_path / "packaged" / "unlearn_settings.json")
    assert "refusals" not in settings  # left out at its default: folders from before the option stay reusable
