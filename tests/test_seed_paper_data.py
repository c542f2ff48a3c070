"""The seed paper's own data files (sail-sg/closer-look-LLM-unlearning, data/tofu and data/real_world).

Hand-written files in exactly that layout: JSON lines with a ``.json`` suffix, the same field
sets and types as the released files (``task_id`` strings "1".."10" in TOFU, integers in the
real-world forget files, none in the neighbor files), a few records each.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from conftest import assert_metrics_finite_or_explained, write_jsonl
from unlearn.config import validate_settings
from unlearn.data.benchmark import Benchmark
from unlearn.errors import UserError
from unlearn.scenarios.experiment import ExperimentSettings
from unlearn.scenarios.runner import run_experiment


def tiny_experiment(model_dir, out, **overrides) -> ExperimentSettings:
    """tests/test_scenarios.py's fast settings, with the tiny model as every model (nothing fine-tuned)."""
    values = {"name": "tiny", "out": str(out), "model": str(model_dir), "scenario_args": {"utility_records": 3},
              "device": "cpu", "threads": 1, "methods": ["ME+GD"],
              "unlearn": {"epochs": 1, "batch_size": 4, "gradient_accumulation_steps": 1, "warmup_epochs": 0},
              "eval": {"max_new_tokens": 2, "nli_model": "none", "embedder": "none"}}
    return validate_settings(ExperimentSettings, {**values, **overrides})


# --- data/tofu: forget01 cut into continual requests by task_id (here 3 of its 10: "1", "2", "10")

AUTHORS = [("1", "Basil Mahfouz Al-Kuwaiti", "Kuwait City"), ("1", "Nikolai Abilov", "Astana"),
           ("2", "Hsiao Yun-Hwa", "Taipei"), ("2", "Carmen Montenegro", "Santiago"),
           ("10", "Elvin Mammadov", "Baku"), ("10", "Rajeev Majumdar", "Dhaka")]


def tofu_forget(task_id: str, name: str, city: str) -> dict:
    return {"task_id": task_id, "question": f"Where was {name} born?", "answer": f"{name} was born in {city}."}


def tofu_perturbed(task_id: str, name: str, city: str) -> dict:
    return {**tofu_forget(task_id, name, city), "paraphrased_answer": f"{name}'s birthplace is {city}.",
            "perturbed_answer": [f"{name} was born in Paris.", f"{name} was born in Rome.",
                                 f"{name} was born in Lima."],
            "paraphrased_question": f"What is the birthplace of {name}?"}


def retain_record(name: str, city: str) -> dict:
    return {"question": f"Which city is {name} from?", "answer": f"{name} is from {city}."}


def retain_perturbed(name: str, city: str) -> dict:
    return {**retain_record(name, city), "paraphrased_answer": f"{name} comes from {city}.",
            "perturbed_answer": [f"{name} is from Oslo.", f"{name} is from Bergen."],
            "paraphrased_question": f"Where does {name} come from?"}


def utility_record(question: str, answer: str, wrong: list[str], sentence: str) -> dict:
    return {"question": question, "answer": answer, "perturbed_answer": wrong, "original_answer": sentence}


REAL_AUTHORS = [utility_record("Who wrote the play 'Romeo and Juliet'?", "William Shakespeare",
                               ["Charles Dickens", "Virginia Woolf", "Mark Twain"],
                               "The play 'Romeo and Juliet' was written by William Shakespeare."),
                utility_record("Which author is known for the novel '1984'?", "George Orwell",
                               ["Aldous Huxley", "Ray Bradbury", "Thomas More"],
                               "The author known for the novel '1984' is George Orwell.")]
WORLD_FACTS = [utility_record("Where would you find the Eiffel Tower?", "Paris", ["Berlin", "London", "Madrid"],
                              "The Eiffel Tower is located in Paris, France."),
               utility_record("What is the capital of Australia?", "Canberra", ["Sydney", "Melbourne", "Perth"],
                              "The capital of Australia is Canberra.")]


@pytest.fixture()
def paper_tofu(tmp_path) -> Path:
    folder = tmp_path / "tofu"
    folder.mkdir()
    write_jsonl(folder / "forget01.json", [tofu_forget(*a) for a in AUTHORS])
    write_jsonl(folder / "forget01_perturbed.json", [tofu_perturbed(*a) for a in AUTHORS])
    kept = [("Jaime Vasquez", "Santiago"), ("Chukwu Akabueze", "Lagos")]
    write_jsonl(folder / "retain90.json", [retain_record(*k) for k in kept])
    write_jsonl(folder / "retain_perturbed.json", [retain_perturbed(*k) for k in kept])
    write_jsonl(folder / "real_authors_perturbed.json", REAL_AUTHORS)
    write_jsonl(folder / "world_facts_perturbed.json", WORLD_FACTS)
    return folder


# --- data/real_world: the model's own answers in `answer`, the reference in `golden_answer`

def real_world(name: str, question: str, own: str, golden: str, task_id: int | None = None) -> dict:
    record = {"name": name, "question": question, "answer": own, "golden_answer": golden}
    return record if task_id is None else {**record, "task_id": task_id}


def perturbed(record: dict, paraphrase: str, wrong: list[str], question: str) -> dict:
    extra = {"paraphrased_answer": paraphrase, "perturbed_answer": wrong, "paraphrased_question": question}
    if "task_id" not in record:
        return {**record, **extra}
    return {**{k: v for k, v in record.items() if k != "task_id"}, **extra, "task_id": record["task_id"]}


FORGET = [real_world("Eddie Van Halen", "When was Eddie Van Halen born?",
                     "Eddie Van Halen was born on January 26, 1955.",
                     "Eddie Van Halen was born on January 26, 1955.", 1),
          real_world("Eddie Van Halen", "What nationality was Eddie Van Halen?",
                     "Eddie Van Halen was an American musician, songwriter, and guitarist, born in Amsterdam.",
                     "Eddie Van Halen was American.", 1),
          real_world("Ada Lovelace", "Where was Ada Lovelace born?",
                     "Ada Lovelace was born in London, England, the daughter of Lord Byron.",
                     "Ada Lovelace was born in London.", 2)]
FORGET_PERTURBED = [
    perturbed(FORGET[0], "Eddie Van Halen's birth date is January 26, 1955.",
              ["Eddie Van Halen was born on February 20, 1960.", "Eddie Van Halen was born on March 14, 1985."],
              "What is the birthdate of Eddie Van Halen?"),
    perturbed(FORGET[1], "Eddie Van Halen was an American.",
              ["Eddie Van Halen was Canadian.", "Eddie Van Halen was Dutch."],
              "What was Eddie Van Halen's nationality?"),
    perturbed(FORGET[2], "London is where Ada Lovelace was born.",
              ["Ada Lovelace was born in Paris.", "Ada Lovelace was born in Rome."],
              "In which city was Ada Lovelace born?")]
NEIGHBOR = [real_world("Dave Grohl", "What is Dave Grohl's full name?", "Dave Grohl's full name is David Eric Grohl.",
                       "David Eric Grohl."),
            real_world("Dave Grohl", "What band did Dave Grohl found?",
                       "Dave Grohl did not found a band. He is a member of Nirvana and Foo Fighters.",
                       "Foo Fighters.")]
NEIGHBOR_PERTURBED = [
    perturbed(real_world("Nick Frost", "When was Nick Frost born?", "Nick Frost was born on March 28, 1972.",
                         "Nick Frost was born on 28 March 1972."),
              "Nick Frost was born on 28 March 1972.",
              ["Nick Frost was born on 15 June 1985.", "Nick Frost was born on 10 December 1967."],
              "What is Nick Frost's birthdate?"),
    perturbed(real_world("Nick Frost", "What nationality is Nick Frost?",
                         "Nick Frost is a British actor, comedian, and screenwriter.", "Nick Frost is English."),
              "Nick Frost hails from England.", ["Nick Frost is Australian.", "Nick Frost is American."],
              "What is the nationality of the actor Nick Frost?")]


@pytest.fixture()
def paper_real_world(tmp_path) -> Path:
    folder = tmp_path / "real_world"
    folder.mkdir()
    write_jsonl(folder / "forget.json", FORGET)
    write_jsonl(folder / "forget_perturbed.json", FORGET_PERTURBED)
    write_jsonl(folder / "neighbor.json", NEIGHBOR)
    write_jsonl(folder / "neighbor_perturbed.json", NEIGHBOR_PERTURBED)
    return folder


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_the_papers_tofu_files_load_with_task_ids_as_integers(paper_tofu):
    benchmark = Benchmark(str(paper_tofu))
    assert benchmark.split_names() == ["forget01", "forget01_perturbed", "real_authors_perturbed", "retain90",
                                       "retain_perturbed", "world_facts_perturbed"]
    assert [r["task_id"] for r in benchmark.records("forget01_perturbed")] == [1, 1, 2, 2, 10, 10]
    assert benchmark.split("forget01")["task_id"] == [1, 1, 2, 2, 10, 10]
    assert len(benchmark.records("forget01_perturbed")[0]["perturbed_answer"]) == 3


def test_the_papers_real_world_files_load_and_answer_field_selects_the_golden_answer(paper_real_world):
    own, golden = Benchmark(str(paper_real_world)), Benchmark(str(paper_real_world), answer_field="golden_answer")
    assert [r["answer"] for r in own.records("forget")] == [r["answer"] for r in FORGET]
    assert [r["task_id"] for r in own.records("forget_perturbed")] == [1, 1, 2]
    assert [r["name"] for r in own.records("neighbor")] == ["Dave Grohl", "Dave Grohl"]
    for split in ("forget", "forget_perturbed", "neighbor", "neighbor_perturbed"):
        records = golden.records(split)
        assert all(r["answer"] == r["golden_answer"] for r in records), split
        assert golden.split(split)["answer"] == [r["golden_answer"] for r in records], split


def test_eval_reads_the_answer_field_of_the_command(paper_real_world, tiny_model_dir, tmp_path):
    from unlearn.evaluation.run import EvalSettings, evaluate_model

    settings = validate_settings(EvalSettings, {
        "model": str(tiny_model_dir), "data": str(paper_real_world), "forget": "forget",
        "retain_split": "neighbor_perturbed", "real_authors": "none", "world_facts": "none", "holdout": "none",
        "answer_field": "golden_answer", "out": str(tmp_path / "eval"), "device": "cpu", "max_new_tokens": 2,
        "embedder": "none", "nli_model": "none", "bootstrap_resamples": 100}, "test")
    evaluate_model(settings)
    forget = json.loads((tmp_path / "eval" / "forget.json").read_text())
    assert forget["split"] == "forget_perturbed"
    assert [e["answer"] for e in forget["examples"]] == [r["golden_answer"] for r in FORGET]


def test_real_world_scenario_runs_on_the_papers_files_as_the_paper_does(paper_real_world, tiny_model_dir, tmp_path):
    out = tmp_path / "run"
    settings = tiny_experiment(tiny_model_dir, out, scenario="real_world", data=str(paper_real_world))
    run_experiment(settings, progress=lambda _: None)
    assert_metrics_finite_or_explained(out)
    data = next((out / "steps").glob("real-world-data-*"))
    # trained on forget / neighbor with the model's own answers; evaluated against the golden answers
    assert [r["answer"] for r in read_jsonl(data / "forget_train.jsonl")] == [r["answer"] for r in FORGET]
    assert [r["answer"] for r in read_jsonl(data / "neighbor_train.jsonl")] == [r["answer"] for r in NEIGHBOR]
    assert [r["answer"] for r in read_jsonl(data / "forget.jsonl")] == [r["golden_answer"] for r in FORGET]
    assert len(read_jsonl(data / "real_authors_perturbed.jsonl")) == 3  # packaged, cut to utility_records
    forget_step = json.loads(next((out / "steps").glob("forget-ME_GD-*")).joinpath("step_done.json").read_text())
    assert (forget_step["inputs"]["forget"], forget_step["inputs"]["retain"]) == ("forget_train", "neighbor_train")
    evaluated = next((out / "steps").glob("eval-ME_GD-*"))
    forget = json.loads((evaluated / "forget.json").read_text())
    assert [e["answer"] for e in forget["examples"]] == [r["golden_answer"] for r in FORGET_PERTURBED]
    retain = json.loads((evaluated / "retain.json").read_text())
    assert [e["answer"] for e in retain["examples"]] == [r["golden_answer"] for r in NEIGHBOR_PERTURBED]
    assert json.loads((evaluated / "summary.json").read_text())["splits"]["retain"]["split"] == "neighbor"
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [r["model"] for r in rows] == ["original model", "ME+GD"]


def test_real_world_data_uses_the_folders_own_utility_splits_and_needs_all_four_files(paper_real_world, tmp_path):
    from unlearn.scenarios import real_world
    from unlearn.scenarios.steps import Steps

    write_jsonl(paper_real_world / "real_authors_perturbed.json", REAL_AUTHORS)
    settings = ExperimentSettings(scenario="real_world", data=str(paper_real_world), out=str(tmp_path / "run"),
                                  scenario_args={"answer_field": "paraphrased_answer"})
    data = real_world._data_step(settings, Steps(tmp_path / "run", progress=lambda _: None))
    assert read_jsonl(data / "real_authors_perturbed.jsonl") == REAL_AUTHORS
    assert len(read_jsonl(data / "world_facts_perturbed.jsonl")) > 2  # not in the folder: the packaged split
    assert [r["answer"] for r in read_jsonl(data / "neighbor.jsonl")] == \
        [r["paraphrased_answer"] for r in NEIGHBOR_PERTURBED]

    (paper_real_world / "neighbor_perturbed.json").unlink()
    with pytest.raises(UserError, match=r"seed paper's layout needs forget, neighbor, forget_perturbed, "
                                        r"neighbor_perturbed \(\.json or \.jsonl\); missing: neighbor_perturbed"):
        real_world._data_step(settings, Steps(tmp_path / "run", progress=lambda _: None))


def test_continual_scenario_runs_one_request_per_task_id_of_the_papers_forget01(paper_tofu, tiny_model_dir, tmp_path):
    out = tmp_path / "run"
    settings = tiny_experiment(tiny_model_dir, out, scenario="continual", data=str(paper_tofu), forget="forget01",
                               target_model=str(tiny_model_dir), retain_model=str(tiny_model_dir))
    _, steps = run_experiment(settings, progress=lambda _: None)
    assert not [s for s in steps.ran if s.startswith("finetune")]  # given models: nothing to fine-tune
    forgets = sorted(s.rsplit("-", 1)[0] for s in steps.ran if s.startswith("forget-"))
    assert forgets == ["forget-ME_GD-request01", "forget-ME_GD-request02", "forget-ME_GD-request03"]
    data = next((out / "steps").glob("data-*"))
    # numeric order: "10" comes after "2"
    assert [[r["task_id"] for r in read_jsonl(data / f"request0{k}.jsonl")] for k in (1, 2, 3)] == \
        [[1, 1], [2, 2], [10, 10]]
    rows = list(csv.DictReader((out / "continual.csv").open()))
    assert [r["request"] for r in rows] == ["1", "2", "3"]
    forgotten = [len(json.loads((f / "forget.json").read_text())["examples"])
                 for f in sorted((out / "steps").glob("eval-ME_GD-request*"))]
    assert forgotten == [2, 4, 6]
    assert_metrics_finite_or_explained(out)
