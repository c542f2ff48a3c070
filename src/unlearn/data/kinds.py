"""The kinds of record a split may hold, told apart by their fields.

- ``qa``: TOFU's question-answer record (``records.py``); what every scenario reads today.
- ``text``: raw text, ``{"text": ...}``: MUSE's and WMDP's corpora. Unlearning trains on every
  token of it, cut into windows (``formatting.encode_text_windows``).
- ``choice``: ``{"question", "choices": [...], "answer": index}``, optionally ``subject``: WMDP
  and MMLU questions, scored by the log-likelihood of each option's letter.
- ``continuation``: ``{"prompt", "gt"}``: the opening of a text and what follows it (MUSE's
  VerbMem), scored by how much of ``gt`` a greedy continuation reproduces.
- ``probe``: ``{"query", "answer"}``, optionally ``level`` (1 fill-in-the-blank, 2 question,
  3 adversarial), ``type`` (the adversarial kind) and ``subject``: RWKU's probes.

A split holds one kind: its first record decides, and a record of another kind is refused
with its place. Other fields of text and choice records are ignored (the Hub corpora carry
titles and ids), except near-misspellings of the kind's own fields, which are refused.
"""

from __future__ import annotations

import difflib
import functools

from unlearn.data.records import DEFAULT_ANSWER_FIELD, KNOWN_FIELDS, _type_name, validate_record
from unlearn.errors import UserError

KINDS = ("qa", "text", "choice", "continuation", "probe")
PROBE_FIELDS = ("query", "answer", "level", "type", "subject")
CHOICE_FIELDS = ("question", "choices", "answer", "subject")
MAX_CHOICES = 26  # one letter each

FIELDS = {  # each kind's fields, in the order a split's table holds them
    "qa": KNOWN_FIELDS,
    "text": ("text",),
    "choice": CHOICE_FIELDS,
    "continuation": ("prompt", "gt"),
    "probe": PROBE_FIELDS,
}


@functools.cache
def features(kind: str) -> dict:
    """The Arrow types of ``kind``'s fields; built on first use, so that naming the kinds (the benchmark
    registry, ``--help``) does not import ``datasets``."""
    import datasets

    string = datasets.Value("string")
    types = {"perturbed_answer": datasets.List(string), "task_id": datasets.Value("int64"),
             "choices": datasets.List(string)}
    if kind == "choice":
        types["answer"] = datasets.Value("int64")
    return {field: types.get(field, string) for field in FIELDS[kind]}


KIND_NAMES = {"qa": "question-answer", "text": "text", "choice": "multiple-choice", "continuation": "continuation",
              "probe": "probe"}


def record_kind(record: object) -> str:
    """``text`` for a record with ``text`` and no ``question``, ``choice`` for one with ``choices``,
    ``continuation`` for one with ``prompt`` and no ``question``, ``probe`` for one with ``query``,
    else ``qa`` (whose validation then names what is missing)."""
    if isinstance(record, dict):
        if "text" in record and "question" not in record:
            return "text"
        if "choices" in record:
            return "choice"
        if "prompt" in record and "question" not in record:
            return "continuation"
        if "query" in record and "question" not in record:
            return "probe"
    return "qa"


def validate(record: object, where: str, kind: str, answer_field: str = DEFAULT_ANSWER_FIELD) -> dict:
    """Check one record of a split of ``kind`` records and return it (``UserError`` naming ``where``)."""
    found = record_kind(record)
    if found != kind:
        raise UserError(f"{where}: a {KIND_NAMES[found]} record in a split of {KIND_NAMES[kind]} records "
                        "(a split holds one kind; its first record decides)")
    if kind == "text":
        return validate_text_record(record, where)
    if kind == "choice":
        return validate_choice_record(record, where)
    if kind == "continuation":
        return validate_continuation_record(record, where)
    if kind == "probe":
        return validate_probe_record(record, where)
    return validate_record(record, where, answer_field)


def validate_text_record(record: dict, where: str) -> dict:
    """``text`` is a non-empty string; the record is returned with that field only."""
    _refuse_misspellings(record, ("text",), where)
    text = record["text"]
    if not isinstance(text, str):
        raise UserError(f"{where}: field 'text' must be a string, got {_type_name(text)}")
    if not text.strip():
        raise UserError(f"{where}: field 'text' is empty")
    return {"text": text}


def validate_continuation_record(record: dict, where: str) -> dict:
    """``prompt`` and ``gt`` are non-empty strings; the record is returned with those fields only."""
    _refuse_misspellings(record, ("prompt", "gt"), where)
    for field in ("prompt", "gt"):
        if field not in record:
            raise UserError(f"{where}: field '{field}' is missing (a continuation record has prompt and gt)")
        if not isinstance(record[field], str):
            raise UserError(f"{where}: field '{field}' must be a string, got {_type_name(record[field])}")
        if not record[field].strip():
            raise UserError(f"{where}: field '{field}' is empty")
    return {"prompt": record["prompt"], "gt": record["gt"]}


def validate_probe_record(record: dict, where: str) -> dict:
    """``query`` and ``answer`` non-empty strings; ``level`` 1, 2 or 3 (RWKU stores it as text or a
    number; returned as text), ``type`` and ``subject`` strings."""
    _refuse_misspellings(record, PROBE_FIELDS, where)
    for field in ("query", "answer"):
        if field not in record:
            raise UserError(f"{where}: field '{field}' is missing (a probe record has query and answer)")
    if isinstance(record.get("level"), int) and not isinstance(record["level"], bool):
        record = {**record, "level": str(record["level"])}
    for field in PROBE_FIELDS:
        if field in record and not isinstance(record[field], str):
            raise UserError(f"{where}: field '{field}' must be a string, got {_type_name(record[field])}")
    for field in ("query", "answer"):
        if not record[field].strip():
            raise UserError(f"{where}: field '{field}' is empty")
    if "level" in record and record["level"] not in ("1", "2", "3"):
        raise UserError(f"{where}: field 'level' is {record['level']!r}; RWKU's levels are 1, 2 and 3")
    return {field: record[field] for field in PROBE_FIELDS if field in record}


def validate_choice_record(record: dict, where: str) -> dict:
    """``question`` a non-empty string, ``choices`` 2 to 26 non-empty strings, ``answer`` the
    0-based index of the correct one (an integer, as WMDP and MMLU store it)."""
    _refuse_misspellings(record, CHOICE_FIELDS, where)
    for field in ("question", "answer"):
        if field not in record:
            raise UserError(f"{where}: field '{field}' is missing (a multiple-choice record has question, choices, "
                            "answer)")
    for field in ("question", "subject"):
        if field in record and not isinstance(record[field], str):
            raise UserError(f"{where}: field '{field}' must be a string, got {_type_name(record[field])}")
    if not record["question"].strip():
        raise UserError(f"{where}: field 'question' is empty")
    choices = record["choices"]
    if not isinstance(choices, list) or not all(isinstance(c, str) and c.strip() for c in choices):
        raise UserError(f"{where}: field 'choices' must be a list of non-empty strings")
    if not 2 <= len(choices) <= MAX_CHOICES:
        raise UserError(f"{where}: field 'choices' has {len(choices)} options; 2 to {MAX_CHOICES} are allowed")
    answer = record["answer"]
    if isinstance(answer, bool) or not isinstance(answer, int):
        raise UserError(f"{where}: field 'answer' must be the index of the correct choice (an integer), "
                        f"got {_type_name(answer)}")
    if not 0 <= answer < len(choices):
        raise UserError(f"{where}: field 'answer' is {answer}, outside 0..{len(choices) - 1} (the choices' indices)")
    kept = {field: record[field] for field in CHOICE_FIELDS if field in record}
    return kept


def _refuse_misspellings(record: dict, fields: tuple[str, ...], where: str) -> None:
    for field in record:
        if field not in fields:
            close = difflib.get_close_matches(field, fields, n=1, cutoff=0.8)
            if close and close[0] not in record:
                raise UserError(f"{where}: unknown field '{field}' (did you mean '{close[0]}'?)")
