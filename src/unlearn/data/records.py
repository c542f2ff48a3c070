"""The TOFU record: the fields a benchmark record may carry, and their validation.

Validation errors name the place (``file:line``) and the field, in one line, so a user
can fix a hand-written benchmark without reading a traceback.
"""

from __future__ import annotations

import difflib

from unlearn.errors import UserError

REQUIRED_FIELDS = ("question", "answer")
OPTIONAL_TEXT_FIELDS = ("paraphrased_answer", "paraphrased_question", "original_answer", "fact", "subject")
KNOWN_FIELDS = REQUIRED_FIELDS + OPTIONAL_TEXT_FIELDS + ("perturbed_answer", "task_id")


def validate_record(record: object, where: str) -> dict:
    """Check one record and return it; raise ``UserError`` naming ``where`` and the field."""
    if not isinstance(record, dict):
        raise UserError(f"{where}: a record must be a JSON object, got {type(record).__name__}")
    for field in REQUIRED_FIELDS:
        if field not in record:
            raise UserError(f"{where}: field '{field}' is missing{_misspelling_hint(record, field)}")
    for field in REQUIRED_FIELDS + OPTIONAL_TEXT_FIELDS:
        if field in record and not isinstance(record[field], str):
            raise UserError(f"{where}: field '{field}' must be a string, got {_type_name(record[field])}")
    for field in REQUIRED_FIELDS:
        if not record[field].strip():
            raise UserError(f"{where}: field '{field}' is empty")
    if "perturbed_answer" in record:
        perturbed = record["perturbed_answer"]
        if isinstance(perturbed, str):  # some TOFU variants store a single wrong answer
            perturbed = record["perturbed_answer"] = [perturbed]
        if not isinstance(perturbed, list) or not perturbed or not all(isinstance(p, str) for p in perturbed):
            raise UserError(f"{where}: field 'perturbed_answer' must be a non-empty list of strings")
    if "task_id" in record and (isinstance(record["task_id"], bool) or not isinstance(record["task_id"], int)):
        raise UserError(f"{where}: field 'task_id' must be an integer, got {_type_name(record['task_id'])}")
    for field in record:
        if field not in KNOWN_FIELDS:
            close = difflib.get_close_matches(field, KNOWN_FIELDS, n=1, cutoff=0.8)
            if close:
                raise UserError(f"{where}: unknown field '{field}' (did you mean '{close[0]}'?)")
    return record


def _misspelling_hint(record: dict, field: str) -> str:
    close = difflib.get_close_matches(field, [k for k in record if k not in KNOWN_FIELDS], n=1, cutoff=0.7)
    return f" (found '{close[0]}': misspelled?)" if close else ""


def _type_name(value: object) -> str:
    return {dict: "object", list: "list", type(None): "null", bool: "boolean"}.get(type(value), type(value).__name__)
