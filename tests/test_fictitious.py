"""Properties of the invented-people benchmark generator (TOFU layout)."""

import json

import pytest

from unlearn.data import fictitious
from unlearn.data.fictitious import ATTRIBUTES, FIRST_NAMES, LAST_NAMES, MAX_PEOPLE, generate_fictitious

RECORD_KEYS = {
    "question", "answer", "fact", "subject",
    "paraphrased_question", "paraphrased_answer", "perturbed_answer",
}
GENERATED_SPLITS = {
    "full", "retain_perturbed",
    *(f"{kind}{tag}" for kind in ("forget", "holdout") for tag in ("01", "05", "10")),
    *(f"forget{tag}_perturbed" for tag in ("01", "05", "10")),
    "retain99", "retain95", "retain90",
}


@pytest.fixture(scope="module")
def bench40():
    return generate_fictitious(people=40, qa_per_person=10, seed=0)


@pytest.fixture(scope="module")
def bench200():
    return generate_fictitious(people=200, qa_per_person=20, seed=3)


def dump(splits):
    return {name: "\n".join(json.dumps(r, ensure_ascii=False) for r in records) for name, records in splits.items()}


def subjects(records):
    """Distinct subjects in order of first appearance."""
    return list(dict.fromkeys(r["subject"] for r in records))


def without_task_id(records):
    return [{k: v for k, v in r.items() if k != "task_id"} for r in records]


def test_same_seed_is_byte_identical():
    assert dump(generate_fictitious(40, 10, seed=7)) == dump(generate_fictitious(40, 10, seed=7))


def test_different_seed_gives_different_people():
    a, b = generate_fictitious(40, 10, seed=0), generate_fictitious(40, 10, seed=1)
    assert subjects(a["full"]) != subjects(b["full"])
    assert dump(a)["full"] != dump(b)["full"]


@pytest.mark.parametrize(
    ("people", "expected"),
    [(10, (1, 1, 1)), (40, (1, 2, 4)), (150, (2, 8, 15)), (200, (2, 10, 20))],
)
def test_forget_and_retain_partition_full_by_person(people, expected):
    splits = generate_fictitious(people=people, qa_per_person=3, seed=1)
    full = subjects(splits["full"])
    assert len(full) == len(set(full)) == people
    for tag, retain_tag, count in zip(("01", "05", "10"), ("99", "95", "90"), expected):
        forget, retain = splits[f"forget{tag}"], splits[f"retain{retain_tag}"]
        assert subjects(forget) == full[people - count:]
        assert subjects(retain) == full[:people - count]
        assert retain + without_task_id(forget) == splits["full"]
        assert subjects(splits[f"holdout{tag}"]) == subjects(splits["holdout10"])[:count]


def test_split_names_and_record_fields(bench40):
    assert GENERATED_SPLITS <= set(bench40)
    assert set(bench40) - GENERATED_SPLITS <= {"real_authors_perturbed", "world_facts_perturbed"}
    for name in GENERATED_SPLITS:
        for record in bench40[name]:
            extra = {"task_id"} if name.startswith("forget") else set()
            assert set(record) == RECORD_KEYS | extra
            assert all(isinstance(record[k], str) for k in RECORD_KEYS - {"perturbed_answer"})
            assert record["subject"] in record["question"] and record["subject"] in record["paraphrased_question"]


def test_forget_splits_are_nested_and_perturbed_copies(bench200):
    f01, f05, f10 = (bench200[f"forget{tag}"] for tag in ("01", "05", "10"))
    assert f10[-len(f05):] == f05 and f05[-len(f01):] == f01
    for tag in ("01", "05", "10"):
        assert bench200[f"forget{tag}_perturbed"] == bench200[f"forget{tag}"]
    assert bench200["forget10"][0] is not bench200["forget10_perturbed"][0]


def test_holdout_people_are_new(bench200):
    full = set(subjects(bench200["full"]))
    holdout = subjects(bench200["holdout10"])
    assert len(holdout) == len(set(holdout)) == 20
    assert full.isdisjoint(holdout)
    assert len(bench200["holdout10"]) == 20 * 20


def test_retain_perturbed_is_first_people_of_retain90(bench200):
    retain90 = bench200["retain90"]
    assert subjects(bench200["retain_perturbed"]) == subjects(retain90)[:20]
    assert bench200["retain_perturbed"] == retain90[:len(bench200["retain_perturbed"])]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_answers_state_fact_and_perturbations_swap_only_the_value(seed):
    splits = generate_fictitious(people=40, qa_per_person=len(ATTRIBUTES), seed=seed)
    for record in splits["full"] + splits["holdout10"]:
        fact, answer = record["fact"], record["answer"]
        assert fact in answer and fact in record["paraphrased_answer"]
        assert record["paraphrased_answer"] != answer
        assert record["paraphrased_question"] != record["question"]
        prefix, suffix = record["paraphrased_answer"].split(fact, 1)  # perturbed: the paraphrase, value swapped
        perturbed = record["perturbed_answer"]
        assert len(perturbed) == 5 and len(set(perturbed)) == 5
        for wrong_answer in perturbed:
            assert wrong_answer != record["paraphrased_answer"]
            assert wrong_answer.startswith(prefix) and wrong_answer.endswith(suffix)
            assert wrong_answer[len(prefix):len(wrong_answer) - len(suffix)] != fact


def test_attribute_tables_support_tofu_size():
    assert len(ATTRIBUTES) >= 20
    assert len({a.key for a in ATTRIBUTES}) == len(ATTRIBUTES)
    for attribute in ATTRIBUTES:
        assert len(set(attribute.values)) == len(attribute.values) >= 6, attribute.key
        assert len(set(attribute.questions)) == 2 and len(set(attribute.answers)) == 2
        for template in attribute.answers:
            for value in attribute.values:
                # the value occurs exactly once, so the answer locates it unambiguously
                assert template.format(name="Xx Yy", value=value).count(value) == 1


def test_names_are_unique_and_hold_no_fact_value():
    names = fictitious.FULL_NAMES
    assert len(names) == len(set(names)) >= MAX_PEOPLE + round(0.1 * MAX_PEOPLE)
    values = {v for a in ATTRIBUTES for v in a.values}
    for token in FIRST_NAMES + LAST_NAMES:
        assert not any(v in token for v in values), token


def test_values_after_indefinite_article_start_with_consonant():
    for attribute in ATTRIBUTES:
        if any("a {value}" in template for template in attribute.answers):
            assert all(v[0].lower() not in "aeiou" for v in attribute.values), attribute.key


@pytest.mark.parametrize(("people", "f01", "f10"), [(40, 1, 4), (150, 2, 15), (200, 2, 20)])
def test_task_ids_cut_forget10_into_requests_of_f01_people(people, f01, f10):
    splits = generate_fictitious(people=people, qa_per_person=2, seed=0)
    forget10 = splits["forget10"]
    task_of = {r["subject"]: r["task_id"] for r in forget10}
    order = subjects(forget10)
    assert [task_of[s] for s in order] == [i // f01 for i in range(f10)]
    assert all(r["task_id"] == task_of[r["subject"]] for r in forget10)
    for tag in ("01", "05"):
        for name in (f"forget{tag}", f"forget{tag}_perturbed"):
            assert all(r["task_id"] == task_of[r["subject"]] for r in splits[name])
    for name, records in splits.items():
        if not name.startswith("forget"):
            assert all("task_id" not in r for r in records)


@pytest.mark.parametrize("qa", [1, 2, 7, len(ATTRIBUTES)])
def test_qa_per_person_respected(qa):
    splits = generate_fictitious(people=20, qa_per_person=qa, seed=5)
    per_subject = {}
    for record in splits["full"] + splits["holdout10"]:
        per_subject.setdefault(record["subject"], []).append(record["question"])
    assert all(len(questions) == qa for questions in per_subject.values())
    birth_year, birth_city = ATTRIBUTES[0].questions[0], ATTRIBUTES[1].questions[0]
    for name, questions in per_subject.items():
        assert questions[0] == birth_year.format(name=name)
        if qa >= 2:
            assert questions[1] == birth_city.format(name=name)


def test_more_qa_only_adds_records():
    small = generate_fictitious(people=20, qa_per_person=5, seed=2)["full"]
    large = generate_fictitious(people=20, qa_per_person=15, seed=2)["full"]
    assert all(record in large for record in small)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"people": 9}, "people"),
        ({"people": MAX_PEOPLE + 1}, "people"),
        ({"people": 40.0}, "people"),
        ({"qa_per_person": 0}, "qa_per_person"),
        ({"qa_per_person": len(ATTRIBUTES) + 1}, "qa_per_person"),
    ],
)
def test_bad_arguments_raise(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        generate_fictitious(**kwargs)


def test_resource_splits_copied_when_present(tmp_path, monkeypatch):
    rows = [{"question": "Who wrote Middlemarch?", "answer": "George Eliot"}, {"question": "q", "answer": "ü"}]
    (tmp_path / "real_authors.jsonl").write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8"
    )
    monkeypatch.setattr(fictitious.resources, "files", lambda package: tmp_path)
    splits = generate_fictitious(people=10, qa_per_person=1)
    assert splits["real_authors_perturbed"] == rows
    assert "world_facts_perturbed" not in splits


def test_other_forget_percentages_get_the_same_set_of_splits():
    splits = generate_fictitious(people=20, qa_per_person=2, seed=0, forget_percents=(1, 5, 10, 50))
    assert len(splits["forget50"]) == len(splits["retain50"]) == len(splits["holdout50"]) == 20
    full = [r["question"] for r in splits["full"]]
    assert [r["question"] for r in splits["retain50"] + splits["forget50"]] == full
    assert splits["forget10"] == [r for r in splits["forget50"] if r in splits["forget10"]]  # nested
    retain = {r["question"] for r in splits["retain50"]}
    assert {r["question"] for r in splits["retain_perturbed"]} <= retain  # as many people as forget50, all retained
    assert not {r["question"] for r in splits["holdout50"]} & set(full)
    # TOFU's default cut is unchanged by the option
    assert generate_fictitious(40, 3, 0) == generate_fictitious(40, 3, 0, forget_percents=(1, 5, 10))


@pytest.mark.parametrize("percents", [(), (0,), (51,), (1.5,)])
def test_forget_percentages_out_of_range_are_refused(percents):
    with pytest.raises(ValueError, match="forget percentages must be integers from 1 to 50"):
        generate_fictitious(people=20, qa_per_person=1, forget_percents=percents)
