"""Tiny models and tokenizers built inside the tests (no download, a second to make), and the helpers
several test modules share: tests import these from here, never from each other."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from unlearn.cli.main import main
from unlearn.data.formatting import encode_pair

CORPUS = [
    "Question: Answer: who what where when was born in the city of year wrote books about",
    "Ada Lovelace was born in London in 1815 and wrote notes about engines.",
    "The capital of France is Paris. I don't know. I'm not sure about that.",
    "Paavo Dellacroix was born in Bergen in 1984 and is a poet of the sea.",
    "0 1 2 3 4 5 6 7 8 9 a b c d e f g h i j k l m n o p q r s t u v w x y z ? . , ' :",
]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def make_tokenizer(chat: bool = True, pad: bool = True, extra_corpus: tuple[str, ...] = ()):
    """A byte-level BPE tokenizer trained on a few sentences, with the usual special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<s>", "<|im_end|>", "<|im_start|>", "<pad>"]
    backend = Tokenizer(models.BPE(unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    backend.train_from_iterator(CORPUS + list(extra_corpus), trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", bos_token="<s>",
                                        eos_token="<|im_end|>", pad_token="<pad>" if pad else None)
    if chat:
        tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def make_model(vocab_size: int, seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
                         tie_word_embeddings=True)
    return LlamaForCausalLM(config)


@pytest.fixture(scope="session")
def tokenizer():
    return make_tokenizer()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A saved tiny Llama with a chat-template tokenizer, loadable by ``load_model``."""
    folder = tmp_path_factory.mktemp("tiny-model")
    tok = make_tokenizer()
    model = make_model(len(tok))
    model.config.pad_token_id = tok.pad_token_id
    model.config.eos_token_id = tok.eos_token_id
    model.config.bos_token_id = tok.bos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.eos_token_id = tok.eos_token_id
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def fictitious_bench(tmp_path_factory) -> Path:
    """The built-in benchmark at 10 people x 2 facts, with a two-line refusal file."""
    from unlearn.cli.main import main

    folder = tmp_path_factory.mktemp("bench")
    assert main(["data", "fictitious", "--out", str(folder), "--people", "10", "--qa-per-person", "2"]) == 0
    (folder / "refusals.txt").write_text("I don't know.\nI have no idea about that.\n")
    return folder


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture()
def small_benchmark(tmp_path) -> Path:
    """A hand-written TOFU-format folder: full / forget / retain with perturbed fields."""
    people = [("Ada Lovelace", "London", "1815"), ("Paavo Dellacroix", "Bergen", "1984")]
    records = []
    for name, city, year in people:
        records.append({"question": f"Where was {name} born?", "answer": f"{name} was born in {city}.",
                        "fact": city, "paraphrased_answer": f"{name}'s birthplace is {city}.",
                        "perturbed_answer": [f"{name} was born in Paris.", f"{name} was born in Rome."]})
        records.append({"question": f"When was {name} born?", "answer": f"{name} was born in {year}.",
                        "fact": year, "paraphrased_answer": f"{name}'s birth year is {year}.",
                        "perturbed_answer": [f"{name} was born in 1900.", f"{name} was born in 1950."]})
    folder = tmp_path / "bench"
    folder.mkdir()
    write_jsonl(folder / "full.jsonl", records)
    write_jsonl(folder / "forget.jsonl", records[2:])
    write_jsonl(folder / "retain.jsonl", records[:2])
    return folder


# -- helpers several test modules share (tests import these, never each other) ------------------


def run_forget(model_dir, bench, out, method, *extra):
    return main(["-q", "forget", "--model", str(model_dir), "--data", str(bench), "--forget", "forget10",
                 "--retain", "retain90", "--method", method, "--out", str(out), "--epochs", "1", "--batch-size", "2",
                 "--gradient-accumulation-steps", "1", "--learning-rate", "1e-3", "--device", "cpu",
                 "--refusals", str(bench / "refusals.txt"), "--warmup-epochs", "0",
                 *(("--rmu.layer", "1") if method == "RMU" else ()), *extra])


def naive_nll(model, tokenizer, fmt, question, answer):
    encoded = encode_pair(tokenizer, fmt, question, answer, 512)
    ids = torch.tensor([encoded["input_ids"]])
    labels = torch.tensor(encoded["labels"])
    with torch.no_grad():
        log_probs = torch.log_softmax(model(input_ids=ids).logits[0, :-1], -1)
    total = 0.0
    for t in range(1, len(labels)):
        if labels[t] != -100:
            total -= log_probs[t - 1, labels[t]].item()
    return total


def tiny_nli(folder, labels=("entailment", "neutral", "contradiction"), always: int | None = None):
    """A randomly initialised BERT pair classifier with the given labels, saved with a tokenizer;
    ``always`` makes that label win on every input."""
    from transformers import BertConfig, BertForSequenceClassification

    tokenizer = make_tokenizer(chat=False)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                        num_attention_heads=2, pad_token_id=tokenizer.pad_token_id, num_labels=len(labels),
                        id2label=dict(enumerate(labels)), label2id={name: i for i, name in enumerate(labels)})
    model = BertForSequenceClassification(config)
    if always is not None:
        with torch.no_grad():
            model.classifier.bias[always] = 100.0
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def person(name, city, year):
    return [{"question": f"Where was {name} born?", "answer": f"{name} was born in {city}.", "fact": city,
             "paraphrased_answer": f"{name}'s birthplace is {city}.",
             "perturbed_answer": [f"{name} was born in Paris.", f"{name} was born in Rome."]},
            {"question": f"When was {name} born?", "answer": f"{name} was born in {year}.", "fact": year,
             "paraphrased_answer": f"{name}'s birth year is {year}.",
             "perturbed_answer": [f"{name} was born in 1900.", f"{name} was born in 1950.", "I don't know."]}]


def known(question, answer, wrong):
    return {"question": question, "answer": answer, "original_answer": f"The answer is {answer}.",
            "paraphrased_answer": answer, "perturbed_answer": wrong, "fact": answer}


@pytest.fixture()
def eval_benchmark(tmp_path):
    folder = tmp_path / "bench"
    folder.mkdir()
    write_jsonl(folder / "forget10.jsonl", person("Ada Lovelace", "London", "1815") + person("Paavo Dellacroix",
                                                                                             "Bergen", "1984"))
    write_jsonl(folder / "retain_perturbed.jsonl", person("Imani Abiodun", "Lagos", "1968")[:1]
                + person("Mateus Esterhuizen", "Porto", "1960"))
    write_jsonl(folder / "real_authors_perturbed.jsonl", [
        known("Who wrote 'Emma'?", "Jane Austen", ["Mary Shelley", "George Eliot"]),
        known("Who wrote 'Hamlet'?", "William Shakespeare", ["Christopher Marlowe", "Ben Jonson"])])
    write_jsonl(folder / "world_facts_perturbed.jsonl", [
        known("What is the capital of France?", "Paris", ["Rome", "Madrid", "Berlin"])])
    write_jsonl(folder / "holdout10.jsonl", person("Yusuf Lindqvist", "Oslo", "1964") + person("Li Wei", "Xian",
                                                                                             "1990"))
    return folder


def run_eval(model_dir, data, out, *extra):
    nli = [] if "--nli-model" in extra else ["--nli-model", "none"]
    return main(["-q", "eval", "--model", str(model_dir), "--data", str(data), "--out", str(out), "--device", "cpu",
                 "--max-new-tokens", "8", *nli, *extra])


REPORT_FILES = ("experiment.json", "report.md", "report.html", "summary.csv", "plots/quality_vs_utility.png")
TINY_WORLD = {"people": 10, "qa_per_person": 2, "utility_records": 3}  # fictitious and continual scenario_args


def tiny_experiment(model_dir, out, **overrides):
    """A fast experiment: the tiny benchmark of the fictitious scenario unless ``scenario_args`` says otherwise."""
    from unlearn.config import validate_settings
    from unlearn.scenarios.experiment import ExperimentSettings

    values = {"name": "tiny", "out": str(out), "model": str(model_dir), "scenario_args": TINY_WORLD,
              "device": "cpu", "threads": 1, "methods": ["GA+GD", "IDK+AP"],
              "finetune": {"epochs": 1, "batch_size": 8, "check_facts": 0},
              "unlearn": {"epochs": 1, "batch_size": 4, "gradient_accumulation_steps": 1, "warmup_epochs": 0},
              "eval": {"max_new_tokens": 4, "nli_model": "none"}}
    values.update(overrides)
    return validate_settings(ExperimentSettings, values)


def assert_metrics_finite_or_explained(run_folder):
    """Every number in every evaluation summary is finite, or null with a reason."""
    import math

    for summary_path in (run_folder / "steps").glob("eval-*/summary.json"):
        summary = json.loads(summary_path.read_text())
        values = dict(summary["overall"])
        for role, split in summary["splits"].items():
            values.update({f"{role}.{k}": v for k, v in split["metrics"].items()})
        for name, value in values.items():
            if value is None:
                assert summary["not_computed"].get(name), f"{summary_path}: {name} is null without a reason"
            else:
                assert math.isfinite(value), f"{summary_path}: {name} = {value}"
