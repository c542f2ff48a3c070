"""Splits beyond question-answer records: raw text (unlearned on in windows) and multiple-choice
questions (scored as lm-eval-harness scores WMDP and MMLU)."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import make_model, make_tokenizer, write_jsonl
from unlearn.cli.main import main
from unlearn.data.benchmark import Benchmark
from unlearn.data.formatting import encode_text_windows
from unlearn.errors import UserError
from unlearn.evaluation.choice import lm_eval_prompt

TEXTS = [{"text": "Ada Lovelace was born in London in 1815 and wrote notes about engines."},
         {"text": "Paavo Dellacroix was born in Bergen in 1984.", "title": "ignored"}]
CHOICES = [{"question": " Where was Ada Lovelace born? ", "choices": ["Paris", "London", "Rome", "Bergen"],
            "answer": 1},
           {"question": "When was Paavo born?", "choices": ["1815", "1900", "1984", "1950"], "answer": 2,
            "subject": "high_school_history"}]


@pytest.fixture()
def mixed_benchmark(tmp_path):
    folder = tmp_path / "bench"
    folder.mkdir()
    write_jsonl(folder / "forget_text.jsonl", TEXTS)
    write_jsonl(folder / "retain_text.jsonl", [{"text": "The capital of France is Paris."}] * 3)
    write_jsonl(folder / "quiz.jsonl", CHOICES)
    write_jsonl(folder / "qa.jsonl", [{"question": "Where was Ada born?", "answer": "London."}])
    return folder


def test_text_and_choice_splits_load_as_their_kind(mixed_benchmark):
    bench = Benchmark(str(mixed_benchmark))
    assert [bench.split_kind(s) for s in ("forget_text", "quiz", "qa")] == ["text", "choice", "qa"]
    assert bench.split("forget_text")["text"] == [t["text"] for t in TEXTS]  # other fields dropped
    assert bench.records("quiz")[1] == CHOICES[1]
    assert bench.split("quiz")["answer"] == [1, 2]


@pytest.mark.parametrize("lines, message", [
    ([{"text": "a"}, {"question": "q", "answer": "a"}], "split.jsonl:2: a question-answer record in a split of text"),
    ([{"text": ""}], "field 'text' is empty"),
    ([{"text": 3}], "field 'text' must be a string, got int"),
    ([{"text": "a", "txet": "b"}], None),  # an unrelated extra field is ignored
    ([{"question": "q", "choices": ["a", "b"], "answer": 2}], "answer' is 2, outside 0..1"),
    ([{"question": "q", "choices": ["a", "b"], "answer": "a"}], "index of the correct choice"),
    ([{"question": "q", "choices": ["a"], "answer": 0}], "has 1 options; 2 to 26"),
    ([{"question": "q", "choices": "a, b", "answer": 0}], "'choices' must be a list of non-empty strings"),
    ([{"question": "q", "choices": ["a", "b"], "answr": 0}], "unknown field 'answr' (did you mean 'answer'?)"),
])
def test_malformed_text_and_choice_records_are_refused_with_their_line(tmp_path, lines, message):
    path = write_jsonl(tmp_path / "split.jsonl", lines)
    if message is None:
        Benchmark(str(tmp_path)).records("split")
        return
    with pytest.raises(UserError, match="split.jsonl:") as error:
        Benchmark(str(tmp_path)).records("split")
    assert message in str(error.value) and "\n" not in str(error.value)
    assert path.exists()


def test_text_windows_cut_each_text_with_labels_on_every_token(tokenizer):
    ids = tokenizer("Ada Lovelace was born", add_special_tokens=True)["input_ids"] + [tokenizer.eos_token_id]
    short = tokenizer("Paris", add_special_tokens=True)["input_ids"] + [tokenizer.eos_token_id]
    assert len(ids) == 12 and len(short) == 5  # by hand: windows of 4 + 4 + 4, and 4 + 1 (dropped: predicts nothing)
    columns = encode_text_windows(tokenizer, ["Ada Lovelace was born", "Paris"], 4)
    assert columns["input_ids"] == [ids[0:4], ids[4:8], ids[8:12], short[0:4]]
    assert columns["labels"] == columns["input_ids"]
    assert columns["attention_mask"] == [[1] * 4] * 4


def test_multiple_choice_prompt_is_lm_eval_s_own_template():
    from lm_eval.utils import apply_template

    # lm-eval's tasks/wmdp/_default_template_yaml and wmdp_bio.yaml
    template = ("{{question.strip()}}\nA. {{choices[0]}}\nB. {{choices[1]}}\nC. {{choices[2]}}\nD. {{choices[3]}}"
                "\nAnswer:")
    bio = "The following are multiple choice questions (with answers) about biology.\n\n"
    assert lm_eval_prompt(CHOICES[0], "biology") == bio + apply_template(template, CHOICES[0])
    history = "The following are multiple choice questions (with answers) about high school history.\n\n"
    assert lm_eval_prompt(CHOICES[1], "biology") == history + apply_template(template, CHOICES[1])


@pytest.mark.parametrize("method", ["GA+GD", "NPO+KL", "ME+GD", "RMU"])
def test_methods_unlearn_on_raw_text(tiny_model_dir, mixed_benchmark, tmp_path, method):
    out = tmp_path / "out"
    assert main(["-q", "forget", "--model", str(tiny_model_dir), "--data", str(mixed_benchmark), "--forget",
                 "forget_text", "--retain", "retain_text", "--method", method, "--out", str(out), "--epochs", "1",
                 "--batch-size", "2", "--gradient-accumulation-steps", "1", "--learning-rate", "1e-3",
                 "--max-length", "8", "--rmu-layer", "1", "--warmup-epochs", "0", "--device", "cpu"]) == 0
    summary = json.loads((out / "train_summary.json").read_text())
    tokenizer = make_tokenizer()
    windows = encode_text_windows(tokenizer, [t["text"] for t in TEXTS], 8)["input_ids"]
    assert summary["forget_examples"] == len(windows) and summary["optimizer_steps"] == (len(windows) + 1) // 2


@pytest.mark.parametrize("method, side", [("IDK+GD", "forget"), ("IDK+AP", "forget"), ("LLMU+KL", "retain")])
def test_methods_that_need_answers_are_refused_on_text(tiny_model_dir, mixed_benchmark, tmp_path, capsys, method,
                                                       side):
    forget = "qa" if side == "retain" else "forget_text"
    code = main(["forget", "--model", str(tiny_model_dir), "--data", str(mixed_benchmark), "--forget", forget,
                 "--retain", "retain_text", "--method", method, "--out", str(tmp_path / "out"), "--device", "cpu"])
    message = capsys.readouterr().err.strip()
    assert code == 2 and f"method {method} trains on" in message and f"{side} split" in message
    assert "\n" not in message and not (tmp_path / "out").exists()


def legacy_sentencepiece_tokenizer():
    """A tokenizer built as Llama-2's, Mistral's and Zephyr's ``tokenizer.json`` are (SentencePiece's
    "legacy" behaviour): the normalizer prepends ``▁`` and turns spaces into ``▁``, pieces start at a
    ``▁``, and BOS is added. Encoded alone, `` A`` is ``▁ ▁A``; after ``Answer:`` it is ``▁A``."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = ["The following are multiple choice questions (with answers) about biology.\n\n",
              "Question 7: which one was red or green or blue or gray, born in the city, year of books?\n"
              "A. red\nB. green\nC. blue\nD. gray\nAnswer: A Answer: B Answer: C Answer: D 0 1 2 3 4 5 6 7 8 9"] * 3
    backend = Tokenizer(models.BPE(unk_token="<unk>"))
    backend.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never", split=True)
    backend.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    backend.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=160, special_tokens=["<unk>", "<s>", "</s>"],
                                                            show_progress=False))
    backend.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                                   pad_token="</s>")


def letter_model(folder, legacy: bool = False):
    """A tiny model whose tokenizer has one token for each of `` A`` .. `` D`` after ``Answer:``
    (``legacy``: a legacy SentencePiece one, see above)."""
    tokenizer = legacy_sentencepiece_tokenizer() if legacy else make_tokenizer(
        extra_corpus=("Answer: A Answer: B Answer: C Answer: D A. B. C. D.",) * 3)
    model = make_model(len(tokenizer), seed=3)
    model.config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return model, tokenizer


def test_choice_accuracy_equals_an_independent_lm_eval_style_computation(mixed_benchmark, tmp_path):
    folder = tmp_path / "model"
    model, tokenizer = letter_model(folder)
    out = tmp_path / "eval"
    assert main(["-q", "eval", "--model", str(folder), "--data", str(mixed_benchmark), "--forget", "none",
                 "--retain-split", "none", "--real-authors", "none", "--world-facts", "none", "--suites",
                 "choice", "--choice.forget", "quiz", "--embedder", "none", "--nli-model", "none", "--out", str(out),
                 "--device", "cpu"]) == 0
    summary = json.loads((out / "summary.json").read_text())["multiple_choice"]["quiz"]
    written = json.loads((out / "choice_quiz.json").read_text())["examples"]
    hits = []
    model.eval()
    for record, example in zip(CHOICES, written):
        context = lm_eval_prompt(record, None)
        context_ids = tokenizer(context, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logprobs = torch.log_softmax(model(torch.tensor([context_ids])).logits[0, -1].double(), -1)
        expected = {}
        for letter in "ABCD":  # lm-eval: encode context + continuation whole, the continuation is the rest
            whole = tokenizer(context + " " + letter, add_special_tokens=False)["input_ids"]
            expected[letter] = logprobs[whole[len(context_ids)]].item()
        assert example["letter_logprobs"] == pytest.approx(expected, abs=1e-5)
        hits.append(max(expected, key=expected.get) == "ABCD"[record["answer"]])
    assert summary["accuracy"] == sum(hits) / len(hits) and summary["chance"] == 0.25
    assert summary["role"] == "forget" and summary["questions"] == 2


def test_a_question_answer_split_given_as_multiple_choice_is_refused(tiny_model_dir, mixed_benchmark, tmp_path,
                                                                     capsys):
    code = main(["eval", "--model", str(tiny_model_dir), "--data", str(mixed_benchmark), "--forget", "none",
                 "--retain-split", "none", "--real-authors", "none", "--world-facts", "none", "--suites", "choice",
                 "--choice.utility", "qa", "--out", str(tmp_path / "eval")])
    assert code == 2 and "--choice.utility qa: split 'qa' does not hold multiple-choice" in capsys.readouterr().err


LOCAL_TASK = """task: local_quiz
dataset_path: json
dataset_kwargs:
  data_files:
    test: {path}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{question.strip()}}}}\\nA. {{{{choices[0]}}}}\\nB. {{{{choices[1]}}}}\\nC. {{{{choices[2]}}}}\
\\nD. {{{{choices[3]}}}}\\nAnswer:"
doc_to_choice: ["A", "B", "C", "D"]
doc_to_target: answer
metric_list:
  - metric: acc
"""


def quiz(count: int = 16) -> list[dict]:
    words = ["red", "green", "blue", "gray", "born", "city", "year", "books"]
    answers = [0, 0, 0, 1, 2, 3, 3, 1, 0, 2, 2, 3, 1, 0, 0, 3]  # skewed, so no single letter scores 0.25
    return [{"question": f"Question {i}: which one was {words[i % 8]}?",
             "choices": [words[(i + k) % 8] for k in range(4)], "answer": a} for i, a in enumerate(answers[:count])]


def test_letters_after_a_legacy_sentencepiece_tokenizer_are_scored_as_lm_eval_scores_them():
    """Scored alone, every letter's first token is ``▁``: all four tie and the choice is always "A".
    lm-eval scores ``▁A`` after ``Answer:``; our scores are its log-likelihoods, request for request."""
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    from unlearn.evaluation.choice import evaluate_choices, lm_eval_split

    tokenizer = legacy_sentencepiece_tokenizer()
    alone = [tokenizer.convert_ids_to_tokens(tokenizer(" " + letter, add_special_tokens=False)["input_ids"])
             for letter in "ABCD"]
    assert alone == [["▁", f"▁{letter}"] for letter in "ABCD"]
    [(context, continuation)] = lm_eval_split(tokenizer, ["Answer: "], ["B"], special_tokens=True)
    assert tokenizer.convert_ids_to_tokens(context) == ["<s>", "▁Answer:"]  # the trailing space moves on
    assert tokenizer.convert_ids_to_tokens(continuation) == ["▁B"]
    model = make_model(len(tokenizer), seed=3).eval()
    records = quiz()
    for max_length in (256, 12):  # 12: every context loses its start, as lm-eval cuts it
        examples = evaluate_choices(model, tokenizer, records, "quiz", batch_size=5, max_length=max_length)["examples"]
        lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=4, device="cpu", max_length=max_length)
        requests = [Instance("loglikelihood", doc={}, arguments=(lm_eval_prompt(record), " " + letter), idx=i)
                    for record in records for i, letter in enumerate("ABCD")]
        theirs = [loglik for loglik, _ in lm.loglikelihood(requests, disable_tqdm=True)]
        ours = [e["letter_logprobs"][letter] for e in examples for letter in "ABCD"]
        assert ours == pytest.approx(theirs, abs=1e-4)
        for example, row in zip(examples, range(0, len(theirs), 4)):
            assert len(set(example["letter_logprobs"].values())) == 4  # no tie
            assert example["chosen"] == "ABCD"[max(range(4), key=lambda k: theirs[row + k])]


@pytest.mark.parametrize("legacy", [False, True], ids=["byte-level", "legacy-sentencepiece"])
def test_lm_eval_on_a_local_task_agrees_with_our_multiple_choice_scorer(tmp_path, legacy):
    """lm-eval-harness runs on the model in memory; on the same file its accuracy is ours."""
    questions = quiz()
    bench = tmp_path / "bench"
    bench.mkdir()
    write_jsonl(bench / "quiz.jsonl", questions)
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "local_quiz.yaml").write_text(LOCAL_TASK.format(path=bench / "quiz.jsonl"))
    folder = tmp_path / "model"
    letter_model(folder, legacy)
    out = tmp_path / "eval"
    assert main(["-q", "eval", "--model", str(folder), "--data", str(bench), "--forget", "none", "--retain-split",
                 "none", "--real-authors", "none", "--world-facts", "none", "--suites", "choice,lm-eval",
                 "--choice.utility", "quiz", "--lm-eval.tasks", "local_quiz", "--lm-eval.include-path", str(tasks),
                 "--embedder", "none", "--nli-model", "none", "--out", str(out), "--device", "cpu"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    ours = summary["multiple_choice"]["quiz"]["accuracy"]
    assert summary["lm_eval"]["results"]["local_quiz"]["acc"] == pytest.approx(ours, abs=1e-9)
    assert summary["lm_eval"]["samples"]["local_quiz"]["effective"] == len(questions)
    chosen = {e["chosen"] for e in json.loads((out / "choice_quiz.json").read_text())["examples"]}
    # The byte-level model's choices differ by question: the agreement is not a constant letter's. The
    # legacy one's are all "D", where scoring each letter alone ties them and picks "A" (0.375, not 0.25).
    assert len(chosen) > 1 if not legacy else chosen == {"D"}


def test_an_unknown_lm_eval_task_is_refused_before_the_model_loads(mixed_benchmark, tmp_path, capsys):
    code = main(["eval", "--model", str(tmp_path / "no-model"), "--data", str(mixed_benchmark), "--forget", "none",
                 "--retain-split", "none", "--real-authors", "none", "--world-facts", "none", "--suites",
                 "lm-eval", "--lm-eval.tasks", "wmdp_bioo", "--out", str(tmp_path / "eval")])
    assert code == 2 and "lm-eval has no task 'wmdp_bioo' (did you mean 'wmdp_bio'?)" in capsys.readouterr().err


def test_with_a_suite_absent_default_tofu_splits_are_skipped_but_named_ones_are_required(tmp_path, capsys):
    bench = tmp_path / "bench"
    bench.mkdir()
    write_jsonl(bench / "quiz.jsonl", CHOICES)
    folder = tmp_path / "model"
    letter_model(folder)
    out = tmp_path / "eval"
    assert main(["-q", "eval", "--model", str(folder), "--data", str(bench), "--suites", "choice", "--choice.forget",
                 "quiz", "--embedder", "none", "--nli-model", "none", "--out", str(out), "--device", "cpu"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["splits"] == {} and summary["multiple_choice"]["quiz"]["questions"] == 2
    code = main(["eval", "--model", str(folder), "--data", str(bench), "--suites", "choice", "--choice.forget",
                 "quiz", "--forget", "forget10", "--out", str(tmp_path / "again")])
    assert code == 2 and "split 'forget10' not found" in capsys.readouterr().err


def test_continuation_form_sums_each_choice_s_own_token_logprobs(tmp_path):
    from unlearn.evaluation.choice import continuation_prompt, evaluate_choices

    assert continuation_prompt(CHOICES[0], "biology") == ("The following are questions (with answers) about "
                                                          "biology.\n\nQuestion: Where was Ada Lovelace born?\nAnswer:")
    model, tokenizer = letter_model(tmp_path / "model")
    model.eval()
    result = evaluate_choices(model, tokenizer, CHOICES, "quiz", form="continuation")
    for record, example in zip(CHOICES, result["examples"]):
        context = continuation_prompt(record)
        context_ids = tokenizer(context, add_special_tokens=False)["input_ids"]
        for letter, choice in zip("ABCD", record["choices"]):
            choice_ids = tokenizer(" " + choice, add_special_tokens=False)["input_ids"]
            ids = torch.tensor([context_ids + choice_ids])
            with torch.no_grad():
                logprobs = torch.log_softmax(model(ids).logits[0].double(), -1)
            expected = sum(logprobs[len(context_ids) - 1 + i, t].item() for i, t in enumerate(choice_ids))
            assert example["choice_logliks"][letter] == pytest.approx(expected, abs=1e-4)
        assert example["chosen"] == max(example["choice_logliks"], key=example["choice_logliks"].get)
    assert result["form"] == "continuation"


@pytest.mark.parametrize("split, kind", [("quiz", "multiple-choice questions"), ("probes", "RWKU probes")])
def test_evaluation_only_splits_are_refused_for_training(tiny_model_dir, mixed_benchmark, tmp_path, capsys, split,
                                                         kind):
    write_jsonl(mixed_benchmark / "probes.jsonl", [{"query": "Ada was born in ___.", "answer": "London"}])
    code = main(["finetune", "--model", str(tiny_model_dir), "--data", str(mixed_benchmark), "--split", split,
                 "--out", str(tmp_path / "out")])
    message = capsys.readouterr().err.strip()
    assert code == 2 and f"split '{split}' holds {kind}, which are evaluated, not trained on" in message
    assert not (tmp_path / "out").exists()
