"""In-context unlearning, ICUL (Pawelczyk et al. 2023), for question answering.

No weight changes. Before every conversation the model sees each forget question answered
wrongly (the paper flips the label; for a question that means another record's answer, or, with
``icul_label: refusal``, a refusal), then ``icul_examples`` retain questions answered correctly,
so that it keeps answering the rest. A ``prompted`` manifest model: the context lives in the chat
template (``models.prompted``).
"""

from __future__ import annotations

import logging
import random

from unlearn.data.benchmark import Benchmark
from unlearn.data.refusals import load_refusals
from unlearn.errors import UserError
from unlearn.families import PROCEDURES
from unlearn.families.reinforce import model_source
from unlearn.models.loading import load_tokenizer, resolve_source
from unlearn.models.unlearned import write_manifest

log = logging.getLogger(__name__)


def icul_context(forget: list[tuple[str, str]], wrong: list[str], retain: list[tuple[str, str]]) -> list[dict]:
    """Chat turns: each forget question with its wrong answer, then each retain pair as it is."""
    turns = []
    for (question, _), answer in zip(forget, wrong, strict=True):
        turns += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    for question, answer in retain:
        turns += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    return turns


def build(settings, out, name: str) -> dict:
    benchmark = Benchmark(settings.data, answer_field=settings.answer_field)
    forget, retain = benchmark.split(settings.forget), benchmark.split(settings.retain)
    rng = random.Random(settings.seed)
    forget_pairs = list(zip(forget["question"], forget[settings.answer_field]))
    retain_pairs = list(zip(retain["question"], retain[settings.answer_field]))
    if settings.icul_label == "refusal":
        refusals = load_refusals(settings.refusals)
        wrong = [rng.choice(refusals) for _ in forget_pairs]
    else:  # another record's answer: a retain answer drawn at random
        wrong = [rng.choice(retain_pairs)[1] for _ in forget_pairs]
    correct = rng.sample(retain_pairs, min(settings.icul_examples, len(retain_pairs)))
    context = icul_context(forget_pairs, wrong, correct)
    length = _context_tokens(settings, context)
    write_manifest(out, "prompted", name, {"main": model_source(settings)}, PROCEDURES[name].inference_cost,
                   context=context, output_filter=None)
    return {"context_turns": len(context), "context_tokens": length, "icul_label": settings.icul_label}


def _context_tokens(settings, context: list[dict]) -> int:
    """Tokens the context adds to every prompt; refused when it leaves no room for a question."""
    tokenizer = load_tokenizer(resolve_source(settings.model), settings.trust_remote_code)
    if not getattr(tokenizer, "chat_template", None):
        raise UserError(f"method ICUL puts its examples in the chat template, and the tokenizer of {settings.model} "
                        "has none")
    length = len(tokenizer.apply_chat_template(context, tokenize=True, return_dict=False))
    if length + 64 > settings.max_length:
        log.warning("the ICUL context is %d tokens, beyond --max-length %d: scoring will cut prompts; "
                    "raise --max-length or use a smaller forget split", length, settings.max_length)
    return length
