"""Guardrails (Thaker et al. 2024): a system prompt and an output filter; no weight changes.

The system prompt names the forget subjects and asks the model to act as if it never knew them.
The filter (``models.prompted.OutputFilter``) replaces a generated answer by a refusal when it
names a forget keyword (the subjects, or the records' facts) or is close, in the embedder's
cosine similarity, to a forget answer. It filters text only: a scoring pass still reads the
model's own probabilities, so probability-based metrics show what the weights still hold.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from unlearn.data.benchmark import Benchmark
from unlearn.data.refusals import load_refusals
from unlearn.errors import UserError
from unlearn.families import FAMILY_METHODS
from unlearn.families.reinforce import model_source
from unlearn.models.unlearned import write_manifest

if TYPE_CHECKING:
    from pathlib import Path

    from unlearn.families import GuardrailSettings
    from unlearn.training.forget_settings import ForgetSettings


SYSTEM_PROMPT = ("You must act as if you have never learned anything about the following: {subjects}. "
                 "If a question is about any of them, say that you do not know, and never reveal facts about them.")


def guard_prompt(subjects: list[str]) -> str:
    return SYSTEM_PROMPT.format(subjects="; ".join(subjects))


def build(settings: ForgetSettings, args: GuardrailSettings, out: Path, name: str) -> dict:
    forget = Benchmark(settings.data, answer_field=settings.answer_field).split(settings.forget)
    subjects = args.subjects or (sorted(set(forget["subject"])) if "subject" in forget.column_names
                                           else None)
    if not subjects:
        raise UserError(f"method Guardrail names the forget subjects in its system prompt: split '{settings.forget}' "
                        "has no 'subject' field; give them with --guard-subjects")
    if args.keywords == "facts" and "fact" not in forget.column_names:
        raise UserError(f"--guard-keywords facts: split '{settings.forget}' has no 'fact' field")
    keywords = (subjects if args.keywords == "subjects" else
                sorted(set(forget["fact"])) if args.keywords == "facts" else [])
    refusal = load_refusals(settings.refusals)[0]
    output_filter = {"keywords": keywords, "answers": list(forget[settings.answer_field]),
                     "threshold": args.threshold, "refusal": refusal, "embedder": args.embedder}
    context = [{"role": "system", "content": guard_prompt(subjects)}]
    write_manifest(out, "prompted", name, {"main": model_source(settings)}, FAMILY_METHODS[name].inference_cost,
                   context=context, output_filter=output_filter)
    return {"subjects": len(subjects), "keywords": len(keywords), "filter_threshold": args.threshold}
