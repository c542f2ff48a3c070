"""The data streams a loss-based method reads, built from the forget and retain records.

A method names its streams (``forget``, ``forget_idk``, ``forget_mismatch``, ``retain``,
``retain_idk``); exactly those are tokenized, and a stream that puts another answer after each
question is refused on raw text.
"""

from __future__ import annotations

import logging
import random

from unlearn.data.formatting import check_trainable, is_text_split, tokenize_split
from unlearn.data.pairing import ForgetRetainDataset
from unlearn.errors import UserError
from unlearn.objectives.registry import Method
from unlearn.training.forget_settings import ForgetSettings

log = logging.getLogger(__name__)


# What each answer-based stream does, for the message that refuses it on raw text.
ANSWER_STREAMS = {"forget_idk": ("forget", "a refusal as the answer to each forget question"),
                  "forget_mismatch": ("retain", "retain answers given to forget questions"),
                  "retain_idk": ("retain", "a refusal as the answer to each retain question")}


def check_record_kinds(method: Method, forget_records, retain_records, settings: ForgetSettings) -> None:
    """Unlearning reads question-answer records or raw text; a method whose streams put other
    answers after the questions needs questions."""
    for split, records in ((settings.forget, forget_records), (settings.retain, retain_records)):
        if records is not None:
            check_trainable(records, split)
    text = {"forget": is_text_split(forget_records),
            "retain": retain_records is not None and is_text_split(retain_records)}
    for stream in method.streams:
        if stream in ANSWER_STREAMS and text[ANSWER_STREAMS[stream][0]]:
            side = ANSWER_STREAMS[stream][0]
            raise UserError(f"method {method.name} trains on {ANSWER_STREAMS[stream][1]}, so it needs "
                            f"question-answer records; {side} split '{getattr(settings, side)}' holds raw text")


def warn_overlap(forget_records, retain_records, settings: ForgetSettings) -> None:
    """Count retain records whose (question, answer) is also in the forget set, reading in batches."""
    forget_pairs = set(_pairs(forget_records))
    shared = sum(pair in forget_pairs for pair in _pairs(retain_records))
    if shared:
        log.warning("%d records of %s also appear in %s: the method will both forget and keep them",
                    shared, settings.retain, settings.forget)


def _pairs(records):
    for batch in records.select_columns(["question", "answer"]).iter(batch_size=10_000):
        yield from zip(batch["question"], batch["answer"])


def build_streams(method: Method, forget_records, retain_records, refusals, tokenizer, fmt, length: int,
                  settings: ForgetSettings) -> ForgetRetainDataset:
    """Tokenize exactly the streams the method reads; refusal and mismatch picks are seeded."""
    rng = random.Random(settings.seed)
    forget_streams, retain_streams = {}, {}
    if "forget" in method.streams:
        forget_streams["forget"] = tokenize_split(forget_records, tokenizer, fmt, length, name=settings.forget)
    if "forget_idk" in method.streams:
        picked = forget_records.add_column("refusal", [rng.choice(refusals) for _ in range(len(forget_records))])
        forget_streams["forget_idk"] = tokenize_split(picked, tokenizer, fmt, length, "refusal", "forget refusals")
    if "forget_mismatch" in method.streams:
        partners = [rng.randrange(len(retain_records)) for _ in range(len(forget_records))]
        picked = forget_records.add_column("mismatch", retain_records.select(partners)["answer"])
        forget_streams["forget_mismatch"] = tokenize_split(picked, tokenizer, fmt, length, "mismatch",
                                                           "forget mismatch")
    if "retain" in method.streams:
        retain_streams["retain"] = tokenize_split(retain_records, tokenizer, fmt, length, name=settings.retain)
    if "retain_idk" in method.streams:
        picked = retain_records.add_column("refusal", [rng.choice(refusals) for _ in range(len(retain_records))])
        retain_streams["retain_idk"] = tokenize_split(picked, tokenizer, fmt, length, "refusal", "retain refusals")
    return ForgetRetainDataset(forget_streams, retain_streams or None, seed=settings.seed)
