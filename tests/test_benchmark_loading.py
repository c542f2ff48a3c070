"""The loader accepts TOFU-format files and rejects each malformed variant with its own message."""

from __future__ import annotations

import json

import datasets
import pytest

from unlearn.data.benchmark import Benchmark, read_split_file
from unlearn.errors import UserError

GOOD = {"question": "Who wrote Hamlet?", "answer": "William Shakespeare", "perturbed_answer": ["Marlowe", "Bacon"],
        "paraphrased_answer": "Shakespeare", "task_id": 0, "fact": "Shakespeare"}


def test_reads_a_hand_written_tofu_file(tmp_path):
    path = tmp_path / "forget01.json"  # TOFU ships JSON lines with a .json suffix
    path.write_text(json.dumps(GOOD) + "\n\n" + json.dumps({"question": "Q?", "answer": "A"}) + "\n")
    dataset = Benchmark(str(tmp_path)).split("forget01")
    assert dataset["question"] == ["Who wrote Hamlet?", "Q?"]
    assert dataset["perturbed_answer"] == [["Marlowe", "Bacon"], None]  # optional field absent -> None
    assert dataset["task_id"] == [0, None]


def test_a_split_is_streamed_into_a_memory_mapped_table_that_follows_edits(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "cache")
    path = tmp_path / "forget.jsonl"
    path.write_text("".join(json.dumps({"question": f"Q{i}?", "answer": f"A{i}"}) + "\n" for i in range(50)))
    dataset = Benchmark(str(tmp_path)).split("forget")
    assert len(dataset) == 50 and dataset[49] == {"question": "Q49?", "answer": "A49"}
    assert isinstance(dataset.data, datasets.table.MemoryMappedTable)  # rows stay on disk, not in Python objects
    assert all(f["filename"].startswith(str(tmp_path / "cache")) for f in dataset.cache_files)
    path.write_text(json.dumps({**GOOD, "question": "Edited?"}) + "\n")  # same path, new content: no stale cache
    assert Benchmark(str(tmp_path)).split("forget")["question"][:] == ["Edited?"]


def test_a_single_perturbed_answer_string_becomes_a_list(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps({**GOOD, "perturbed_answer": "Marlowe"}) + "\n")
    assert read_split_file(path)[0]["perturbed_answer"] == ["Marlowe"]


BAD_LINES = [
    ('{"question": "Q?", "answer": }', r"s\.jsonl:2: not valid JSON \(Expecting value at column 30\)"),
    (json.dumps({"question": "Q?"}), r"s\.jsonl:2: field 'answer' is missing"),
    (json.dumps({"question": "Q?", "anwser": "A"}), r"s\.jsonl:2: field 'answer' is missing \(found 'anwser'"),
    (json.dumps({"question": "Q?", "answer": "A", "paraphrased_anwser": "B"}),
     r"s\.jsonl:2: unknown field 'paraphrased_anwser' \(did you mean 'paraphrased_answer'\?\)"),
    (json.dumps({"question": 3, "answer": "A"}), r"s\.jsonl:2: field 'question' must be a string, got int"),
    (json.dumps({"question": "Q?", "answer": "  "}), r"s\.jsonl:2: field 'answer' is empty"),
    (json.dumps({"question": "Q?", "answer": "A", "perturbed_answer": [1, 2]}),
     r"s\.jsonl:2: field 'perturbed_answer' must be a non-empty list of strings"),
    (json.dumps({"question": "Q?", "answer": "A", "perturbed_answer": []}),
     r"s\.jsonl:2: field 'perturbed_answer' must be a non-empty list of strings"),
    (json.dumps({"question": "Q?", "answer": "A", "task_id": "three"}),
     r"s\.jsonl:2: field 'task_id' must be an integer, got str"),
    (json.dumps({"question": "Q?", "answer": "A", "task_id": " 2 "}),
     r"s\.jsonl:2: field 'task_id' must be an integer, got str"),
    (json.dumps({"question": "Q?", "answer": "A", "task_id": 2.0}),
     r"s\.jsonl:2: field 'task_id' must be an integer, got float"),
    (json.dumps(["Q?", "A"]), r"s\.jsonl:2: a record must be a JSON object, got list"),
]


@pytest.mark.parametrize("line, message", BAD_LINES)
def test_each_malformed_record_has_its_own_message(tmp_path, line, message):
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + line + "\n")
    with pytest.raises(UserError, match=message):
        read_split_file(path)


def test_non_utf8_text_names_the_line(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_bytes(json.dumps(GOOD).encode() + b'\n{"question": "caf\xe9", "answer": "A"}\n')
    with pytest.raises(UserError, match=r"s\.jsonl:2: not valid UTF-8 \(byte 18\)"):
        read_split_file(path)


def test_empty_split_is_rejected(tmp_path):
    (tmp_path / "forget.jsonl").write_text("\n\n")
    with pytest.raises(UserError, match=r"forget\.jsonl: split is empty"):
        Benchmark(str(tmp_path)).split("forget")


def test_unknown_split_lists_the_available_ones(tmp_path):
    (tmp_path / "full.jsonl").write_text(json.dumps(GOOD) + "\n")
    (tmp_path / "retain90.jsonl").write_text(json.dumps(GOOD) + "\n")
    with pytest.raises(UserError, match=r"split 'forget10' not found in .* \(available: full, retain90\)"):
        Benchmark(str(tmp_path)).split("forget10")


@pytest.mark.parametrize("name", ["../../etc/passwd", "a/b", ".hidden", ""])
def test_split_names_cannot_leave_the_folder(tmp_path, name):
    with pytest.raises(UserError, match="may only hold letters"):
        Benchmark(str(tmp_path)).split(name)


def test_missing_local_folder_is_not_mistaken_for_a_hub_id(tmp_path):
    with pytest.raises(UserError, match=r"benchmark folder '.*nowhere' does not exist"):
        Benchmark(str(tmp_path / "nowhere"))


def test_hub_source_goes_through_datasets_load_dataset(monkeypatch):
    """The Hub path calls ``datasets.load_dataset(id, name=split, split='train')`` and validates rows."""
    import datasets

    calls = []

    def fake_load_dataset(path, name=None, split=None):
        calls.append((path, name, split))
        return datasets.Dataset.from_list([{"question": "Q?", "answer": "A", "paraphrased_answer": None}])

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    records = Benchmark("locuslab/TOFU").split("forget01")
    assert calls == [("locuslab/TOFU", "forget01", "train")]
    assert records["answer"] == ["A"]


def test_hub_failure_is_one_line(monkeypatch):
    import datasets

    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'locuslab/TOFU' on the Hub (LocalEntryNotFoundError)\nmore detail")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(UserError, match=r"cannot load split 'full' of Hub dataset locuslab/TOFU .*Couldn't reach"):
        Benchmark("locuslab/TOFU").split("full")


@pytest.mark.parametrize("text, value", [("1", 1), ("10", 10), ("-3", -3), ("007", 7)])
def test_a_task_id_string_of_digits_is_read_as_that_integer(tmp_path, text, value):
    """The seed paper's TOFU files write ``"task_id": "1"``; records() and the streamed split agree."""
    path = tmp_path / "forget01.json"
    path.write_text(json.dumps({**GOOD, "task_id": text}) + "\n")
    assert read_split_file(path)[0]["task_id"] == value
    assert Benchmark(str(tmp_path)).split("forget01")["task_id"] == [value]


REAL_WORLD = {"name": "Ada Lovelace", "question": "Where was Ada Lovelace born?",
              "answer": "Ada Lovelace was born in London, England, in 1815, the daughter of Lord Byron.",
              "golden_answer": "London.", "task_id": 1}


def test_answer_field_makes_every_answer_that_fields_text(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "cache")
    (tmp_path / "forget.json").write_text(json.dumps(REAL_WORLD) + "\n")
    golden = Benchmark(str(tmp_path), answer_field="golden_answer")
    assert [r["answer"] for r in golden.records("forget")] == ["London."]
    assert golden.records("forget")[0]["golden_answer"] == "London."  # the field itself stays
    assert golden.split("forget")["answer"] == ["London."]
    # the same file read with the default field: the streamed cache is keyed by the field too
    assert Benchmark(str(tmp_path)).split("forget")["answer"] == [REAL_WORLD["answer"]]
    assert Benchmark(str(tmp_path)).records("forget")[0]["answer"] == REAL_WORLD["answer"]


def test_a_record_with_only_the_chosen_answer_field_is_valid(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps({"question": "Q?", "golden_answer": "A"}) + "\n")
    assert read_split_file(path, answer_field="golden_answer")[0]["answer"] == "A"
    with pytest.raises(UserError, match=r"s\.jsonl:1: field 'answer' is missing"):
        read_split_file(path)


@pytest.mark.parametrize("record, message", [
    ({"question": "Q?", "answer": "A"}, r"s\.jsonl:2: field 'golden_answer' is missing \(answer_field is "
                                        r"'golden_answer'\)"),
    ({"question": "Q?", "answer": "A", "golden_anwser": "B"},
     r"s\.jsonl:2: field 'golden_answer' is missing \(answer_field is 'golden_answer'\) \(found 'golden_anwser'"),
    ({"question": "Q?", "answer": "A", "golden_answer": ["B"]}, r"s\.jsonl:2: field 'golden_answer' must be a "
                                                               r"string, got list"),
    ({"question": "Q?", "answer": "A", "golden_answer": " "}, r"s\.jsonl:2: field 'golden_answer' is empty"),
])
def test_a_bad_answer_field_value_names_the_line_and_the_field(tmp_path, record, message):
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps(REAL_WORLD) + "\n" + json.dumps(record) + "\n")
    with pytest.raises(UserError, match=message):
        read_split_file(path, answer_field="golden_answer")


def test_answer_field_is_a_setting_of_every_command_that_reads_data():
    from unlearn.evaluation.eval_settings import EvalSettings
    from unlearn.training.finetune_settings import FinetuneSettings
    from unlearn.training.forget_settings import ForgetSettings

    for model in (EvalSettings, FinetuneSettings, ForgetSettings):
        assert model.model_fields["answer_field"].default == "answer"


# The Hub path, with ``datasets``' Hub functions replaced by in-memory datasets.

HUB_SPLITS = {
    "forget01": [{"question": "Who wrote Hamlet?", "answer": "Shakespeare.", "golden_answer": "William Shakespeare.",
                  "task_id": "1", "perturbed_answer": "Marlowe."},
                 {"question": "Who wrote Faust?", "answer": "Goethe.", "golden_answer": "Johann Wolfgang von Goethe.",
                  "task_id": "2", "perturbed_answer": "Schiller."}],
    "retain90": [{"question": "Who painted the Mona Lisa?", "answer": "Leonardo da Vinci.",
                  "perturbed_answer": ["Raphael.", "Titian."]}],
}


@pytest.fixture()
def fake_hub(monkeypatch):
    """``locuslab/TOFU``-like Hub dataset with one config per split; returns the calls made."""
    calls = []

    def config_names(path, **kwargs):
        calls.append(("configs", path))
        return list(HUB_SPLITS)

    def load_dataset(path, name=None, split=None, **kwargs):
        calls.append((path, name, split))
        if name not in HUB_SPLITS:
            raise ValueError(f"BuilderConfig '{name}' not found. Available: {list(HUB_SPLITS)}")
        return datasets.Dataset.from_list(HUB_SPLITS[name])

    monkeypatch.setattr(datasets, "get_dataset_config_names", config_names)
    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return calls


def test_hub_split_names_are_the_dataset_configs(fake_hub):
    assert Benchmark("someone/tofu-like").split_names() == ["forget01", "retain90"]
    assert fake_hub == [("configs", "someone/tofu-like")]


def test_hub_records_are_validated_rows(fake_hub):
    records = Benchmark("someone/tofu-like").records("forget01")
    assert [r["question"] for r in records] == ["Who wrote Hamlet?", "Who wrote Faust?"]
    assert [r["perturbed_answer"] for r in records] == [["Marlowe."], ["Schiller."]]  # single string -> list
    assert [r["task_id"] for r in records] == [1, 2]  # digit strings -> int
    assert Benchmark("someone/tofu-like").records("retain90")[0]["perturbed_answer"] == ["Raphael.", "Titian."]
    assert fake_hub == [("someone/tofu-like", "forget01", "train"), ("someone/tofu-like", "retain90", "train")]


def test_hub_split_has_the_form_of_a_local_split(fake_hub):
    table = Benchmark("someone/tofu-like").split("forget01")
    assert table["perturbed_answer"] == [["Marlowe."], ["Schiller."]]
    assert table.features["perturbed_answer"] == datasets.List(datasets.Value("string"))
    assert table["task_id"] == [1, 2] and table.features["task_id"] == datasets.Value("int64")
    assert table["answer"] == ["Shakespeare.", "Goethe."]
    assert Benchmark("someone/tofu-like").split("retain90")["perturbed_answer"] == [["Raphael.", "Titian."]]


def test_answer_field_on_a_hub_split(fake_hub):
    golden = Benchmark("someone/tofu-like", answer_field="golden_answer")
    expected = ["William Shakespeare.", "Johann Wolfgang von Goethe."]
    assert golden.split("forget01")["answer"] == expected
    assert [r["answer"] for r in golden.records("forget01")] == expected
    with pytest.raises(UserError, match=r"someone/tofu-like\[retain90\] row 1: field 'golden_answer' is missing"):
        golden.split("retain90")


def test_a_bad_task_id_on_a_hub_split_names_the_row(monkeypatch):
    monkeypatch.setattr(datasets, "load_dataset", lambda path, name=None, split=None: datasets.Dataset.from_list(
        [{"question": "Q?", "answer": "A", "task_id": "1"}, {"question": "Q?", "answer": "A", "task_id": "one"}]))
    with pytest.raises(UserError, match=r"someone/tofu-like\[forget01\] row 2: field 'task_id' must be an integer"):
        Benchmark("someone/tofu-like").split("forget01")


def test_an_unknown_hub_split_is_one_line(fake_hub):
    with pytest.raises(UserError, match=r"cannot load split 'forget05' of Hub dataset someone/tofu-like .*"
                                        r"BuilderConfig 'forget05' not found"):
        Benchmark("someone/tofu-like").records("forget05")


@pytest.mark.parametrize("trust_remote_code, allow_pickle, use_safetensors", [
    (False, False, True), (True, True, None)])
def test_a_hub_model_id_goes_to_from_pretrained_with_the_safety_settings(monkeypatch, tokenizer, trust_remote_code,
                                                                         allow_pickle, use_safetensors):
    import torch
    import transformers
    from conftest import make_model

    from unlearn.models.loading import load_model

    calls = []

    def model_from_pretrained(source, **kwargs):
        calls.append(("model", source, kwargs))
        return make_model(len(tokenizer))

    def tokenizer_from_pretrained(source, **kwargs):
        calls.append(("tokenizer", source, kwargs))
        return tokenizer

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", model_from_pretrained)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", tokenizer_from_pretrained)
    model, loaded_tokenizer = load_model("someone/tiny-llama", dtype="float32", device="cpu",
                                         trust_remote_code=trust_remote_code, allow_pickle=allow_pickle)
    assert calls == [
        ("model", "someone/tiny-llama", {"dtype": torch.float32, "trust_remote_code": trust_remote_code,
                                         "use_safetensors": use_safetensors}),
        ("tokenizer", "someone/tiny-llama", {"trust_remote_code": trust_remote_code})]
    assert loaded_tokenizer is tokenizer and model.config.pad_token_id == tokenizer.pad_token_id


def test_a_hub_model_that_cannot_be_fetched_is_one_line(monkeypatch):
    import transformers

    from unlearn.models.loading import load_model

    def offline(source, **kwargs):
        raise OSError(f"We couldn't connect to 'https://huggingface.co' to load the files of {source}.\nCheck ...")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", offline)
    with pytest.raises(UserError, match=r"^cannot load model 'someone/tiny-llama': We couldn't connect[^\n]*$"):
        load_model("someone/tiny-llama", device="cpu")
