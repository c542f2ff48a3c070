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
    (json.dumps({"question": "Q?", "answer": "A", "task_id": "3"}),
     r"s\.jsonl:2: field 'task_id' must be an integer, got str"),
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
