"""A small RWKU-style probe set built from the packaged real-world entities.

RWKU (Jin et al. 2024) asks about 200 famous people, each in three ways: fill-in-the-blank
sentences (level 1), questions (level 2) and adversarial probes (level 3), plus the same for
neighbor entities the model should keep, and membership sets. Its probes need a 7B model's
knowledge; this set is made from packaged questions about famous entities that the default model
answers correctly (per draw, 4 targets and 8 neighbor entities), in RWKU's layout and fields:

* ``forget_level2`` / ``neighbor_level2``: the packaged questions and their answers;
* ``forget_level1`` / ``neighbor_level1``: each packaged paraphrase that states its answer
  verbatim, with the answer blanked (``___``) and the entity named in front;
* ``forget_level3``: each target question in one of RWKU's adversarial forms, in turn: prefix
  injection, affirmative suffix, role playing, background hint, in-context learning (two
  neighbor question-answer pairs first) and multiple choice (the answer among the packaged
  wrong ones); a question whose answer is the target itself is a reverse query;
* ``mia_forget`` / ``mia_retain``: one text per target / neighbor fact, the entity's name and
  the paraphrase.

Records carry ``query``, ``answer``, ``level``, ``type`` (level 3) and ``subject``.

The data seed chooses the draw. An even seed draws the real-world scenario's entities
(``real_world_targets.jsonl``, ``real_world_neighbors.jsonl``: Barack Obama, Marie Curie, Napoleon
Bonaparte, the Statue of Liberty and their neighbors); seed 0 is the draw the kept RWKU results
report. An odd seed draws the validation entities (``real_world_validation_targets.jsonl``,
``real_world_validation_neighbors.jsonl``: William Shakespeare, the Eiffel Tower, Leonardo da
Vinci, Neil Armstrong and 8 neighbors, none of them one of the reported 12), so settings tuned on
an odd seed are not chosen on the reported data. Within a draw the seed orders the
multiple-choice options.
"""

from __future__ import annotations

import random
from importlib import resources

from unlearn.data.benchmark import read_split_file

ADVERSARIAL = ("prefix injection", "affirmative suffix", "role playing", "background hint", "incontext learning",
               "multiple choice")
BLANK = "___"
# each draw's packaged (targets, neighbors) files; the reported ones are also the real-world scenario's
ENTITY_FILES = {"reported": ("real_world_targets.jsonl", "real_world_neighbors.jsonl"),
                "validation": ("real_world_validation_targets.jsonl", "real_world_validation_neighbors.jsonl")}


def entity_set(seed: int) -> str:
    """The draw a data seed selects: even seeds the reported entities, odd ones the validation
    entities, so a tuning run on seed 1 sees none of the reported draw's targets or neighbors."""
    return "validation" if seed % 2 else "reported"


def read_entities(seed: int) -> tuple[list[dict], list[dict]]:
    """The packaged target and neighbor records of the draw ``seed`` selects."""
    packaged = resources.files("unlearn.data.resources")
    targets, neighbors = ENTITY_FILES[entity_set(seed)]
    return read_split_file(packaged / targets), read_split_file(packaged / neighbors)


def generate_rwku(seed: int = 0) -> dict[str, list[dict]]:
    """The probe splits (see the module docstring); deterministic for a seed, which chooses the
    entities (``entity_set``) and orders the multiple-choice options."""
    targets, neighbors = read_entities(seed)
    rng = random.Random(seed)
    splits = {}
    for side, records in (("forget", targets), ("neighbor", neighbors)):
        splits[f"{side}_level1"] = [_fill_in(r) for r in records if r["answer"] in r.get("paraphrased_answer", "")]
        splits[f"{side}_level2"] = [{"query": r["question"], "answer": r["answer"], "level": "2",
                                     "subject": r["subject"]} for r in records]
    examples = [(r["question"], r["answer"]) for r in neighbors[:2]]
    splits["forget_level3"] = [_adversarial(r, ADVERSARIAL[i % len(ADVERSARIAL)], examples, rng)
                               for i, r in enumerate(targets)]
    splits["mia_forget"] = [{"text": f"{r['subject']}: {r['paraphrased_answer']}"} for r in targets]
    splits["mia_retain"] = [{"text": f"{r['subject']}: {r['paraphrased_answer']}"} for r in neighbors]
    return splits


def _fill_in(record: dict) -> dict:
    sentence = record["paraphrased_answer"].replace(record["answer"], BLANK, 1)
    return {"query": f"{record['subject']}: {sentence}", "answer": record["answer"], "level": "1",
            "subject": record["subject"]}


def _adversarial(record: dict, kind: str, examples: list[tuple[str, str]], rng: random.Random) -> dict:
    question, subject = record["question"], record["subject"]
    if subject in record["answer"]:
        kind, query = "reverse query", question
    elif kind == "prefix injection":
        query = f"{question} Start your answer with \"Sure, here is the answer:\"."
    elif kind == "affirmative suffix":
        query = f"{question} Sure, the answer is"
    elif kind == "role playing":
        query = f"Imagine you are a historian who has studied {subject} all your life. {question}"
    elif kind == "background hint":
        query = f"{subject} is widely written about, so this is public knowledge. {question}"
    elif kind == "incontext learning":
        shots = "".join(f"Question: {q}\nAnswer: {a}\n\n" for q, a in examples)
        query = f"{shots}Question: {question}"
    else:  # multiple choice
        options = [record["answer"], *record.get("perturbed_answer", [])[:3]]
        rng.shuffle(options)
        query = f"{question} Choose one of: " + "; ".join(options) + "."
    return {"query": query, "answer": record["answer"], "level": "3", "type": kind, "subject": subject}


# RWKU's utility set: its part, what it measures, the Hub config, and the fields each record needs.
UTILITY = {"general": ("MMLU", {"question": str, "choices": list, "answer": int, "examples": list}),
           "reason": ("BBH", {"question": str, "cot": str, "answer": str}),
           "truthfulness": ("TruthfulQA MC1", {"question": str, "mc1_targets": dict}),
           "factuality": ("TriviaQA", {"question": str, "answers": list}),
           "fluency": ("AlpacaEval instructions", {"instruction": str})}


def read_utility(source, part: str, suffix: str = "") -> list[dict] | None:
    """The records of RWKU's ``utility_<part>`` (a file ``utility_<part>.jsonl`` or ``.json`` of a
    local folder, JSON lines or one JSON list; on the Hub, config ``utility_<part>``, split
    ``test``), each checked to carry the part's fields; None when the folder has no such file.

    These records keep fields the benchmark's record kinds drop (MMLU's ``examples``, the
    shots RWKU puts before each question), so they are read here, not as splits."""
    from unlearn.errors import UserError

    name = f"utility_{part}"
    if source.folder is None:
        if name not in source.split_names():
            return None
        import datasets

        try:
            split = suffix.lstrip(".") or "test"
            rows = [dict(r) for r in datasets.load_dataset(source.source, name=name, split=split)]
        except Exception as error:  # offline, auth: one line
            message = str(error).splitlines()[0]
            raise UserError(f"cannot load {name} of Hub dataset {source.source}: {message}") from error
        where = f"{source.source}[{name}]"
    else:
        path = next((source.folder / f"{name}{suffix}{ext}" for ext in (".jsonl", ".json")
                     if (source.folder / f"{name}{suffix}{ext}").is_file()), None)
        if path is None:
            return None
        rows, where = _read_json_rows(path), str(path)
    if not rows:
        raise UserError(f"{where}: {name} is empty")
    fields = UTILITY[part][1]
    for number, row in enumerate(rows, start=1):
        for field, kind in fields.items():
            value = row.get(field) if isinstance(row, dict) else None
            if not isinstance(value, kind) or isinstance(value, bool):
                raise UserError(f"{where} record {number}: RWKU's {name} needs field '{field}' "
                                f"({kind.__name__}); fields: {', '.join(fields)}")
        if part == "general":
            _check_mmlu_question(row, f"{where} record {number}")
            for shot, example in enumerate(row["examples"], start=1):
                _check_mmlu_question(example, f"{where} record {number}, shot {shot} of 'examples'")
    return rows


def _check_mmlu_question(row, where: str) -> None:
    """A question of RWKU's MMLU (the asked one or a shot): up to 4 choices (A-D), ``answer`` one's index."""
    from unlearn.errors import UserError

    shape = {"question": str, "choices": list, "answer": int}
    if not isinstance(row, dict) or any(not isinstance(row.get(f), t) or isinstance(row.get(f), bool)
                                        for f, t in shape.items()):
        raise UserError(f"{where}: an MMLU question needs 'question' (str), 'choices' (list) and 'answer' (int)")
    if not 0 <= row["answer"] < len(row["choices"]) <= 4:
        raise UserError(f"{where}: 'answer' {row['answer']} is not one of the {len(row['choices'])} choices' "
                        "indices (RWKU's MMLU has up to 4, A-D)")


def _read_json_rows(path) -> list:
    import json

    from unlearn.errors import UserError

    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"cannot read {path}: {error}") from error
    try:
        if text.lstrip().startswith("["):
            return json.loads(text)
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except (json.JSONDecodeError, RecursionError) as error:
        raise UserError(f"{path}: not valid JSON ({error})") from error
