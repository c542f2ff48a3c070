"""The TOFU record: the fields a benchmark record may carry, and their validation.

Validation errors name the place (``file:line``) and the field, in one line, so a user
can fix a hand-written benchmark without reading a traceback.

Two conversions make other benchmarks' files readable as they are: a ``task_id`` written as a
string of digits (the seed paper's TOFU files say ``"task_id": "1"``) becomes that integer, and
``answer_field`` names the field that holds the answer (the seed paper's real-world files keep
the model's own answer in ``answer`` and the reference in ``golden_answer``): its text becomes
the record's ``answer``, so everything downstream reads ``answer`` as before.
"""

from __future__ import annotations

import difflib
import re

from unlearn.errors import UserError

REQUIRED_FIELDS = ("question", "answer")
OPTIONAL_TEXT_FIELDS = ("paraphrased_answer", "paraphrased_question", "original_answer", "fact", "subject",
                        "golden_answer", "name")
KNOWN_FIELDS = REQUIRED_FIELDS + OPTIONAL_TEXT_FIELDS + ("perturbed_answer", "task_id")
DEFAULT_ANSWER_FIELD = "answer"
INTEGER_TEXT = re.compile(r"-?[0-9]+")


def validate_record(record: object, where: str, answer_field: str = DEFAULT_ANSWER_FIELD) -> dict:
    """Check one record and return it; raise ``UserError`` naming ``where`` and the field.

    With ``answer_field`` other than ``answer``, that field is required in its place (a non-empty
    string) and the returned record's ``answer`` is its text; a ``task_id`` string of digits is
    returned as an integer."""
    if not isinstance(record, dict):
        raise UserError(f"{where}: a record must be a JSON object, got {type(record).__name__}")
    required = ("question", answer_field)
    for field in required:
        if field not in record:
            chosen = "" if field in REQUIRED_FIELDS else f" (answer_field is '{field}')"
            raise UserError(f"{where}: field '{field}' is missing{chosen}{_misspelling_hint(record, field)}")
    for field in dict.fromkeys(REQUIRED_FIELDS + OPTIONAL_TEXT_FIELDS + (answer_field,)):
        if field in record and not isinstance(record[field], str):
            raise UserError(f"{where}: field '{field}' must be a string, got {_type_name(record[field])}")
    for field in required:
        if not record[field].strip():
            raise UserError(f"{where}: field '{field}' is empty")
    if answer_field != DEFAULT_ANSWER_FIELD:
        record["answer"] = record[answer_field]
    if "perturbed_answer" in record:
        perturbed = record["perturbed_answer"]
        if isinstance(perturbed, str):  # some TOFU variants store a single wrong answer
            perturbed = record["perturbed_answer"] = [perturbed]
        if not isinstance(perturbed, list) or not perturbed or not all(isinstance(p, str) for p in perturbed):
            raise UserError(f"{where}: field 'perturbed_answer' must be a non-empty list of strings")
    if isinstance(record.get("task_id"), str) and INTEGER_TEXT.fullmatch(record["task_id"]):
        record["task_id"] = int(record["task_id"])  # the seed paper's TOFU files: "task_id": "1"
    if "task_id" in record and (isinstance(record["task_id"], bool) or not isinstance(record["task_id"], int)):
        raise UserError(f"{where}: field 'task_id' must be an integer, got {_type_name(record['task_id'])}")
    for field in record:
        if field not in KNOWN_FIELDS:
            close = difflib.get_close_matches(field, KNOWN_FIELDS, n=1, cutoff=0.8)
            if close:
                raise UserError(f"{where}: unknown field '{field}' (did you mean '{close[0]}'?)")
    return record


def _misspelling_hint(record: dict, field: str) -> str:
    # a TOFU field is matched against the record's unknown fields; a chosen answer_field against all of them
    candidates = [k for k in record if k not in KNOWN_FIELDS or field not in KNOWN_FIELDS]
    close = difflib.get_close_matches(field, candidates, n=1, cutoff=0.7)
    return f" (found '{close[0]}': misspelled?)" if close else ""


def _type_name(value: object) -> str:
    return {dict: "object", list: "list", type(None): "null", bool: "boolean"}.get(type(value), type(value).__name__)
