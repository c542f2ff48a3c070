"""In-context unlearning, ICUL (Pawelczyk et al. 2023), for question answering.

No weight changes. ICUL's prompt (the paper, and the authors' ``eval.py``) is plain text: each
forget point with its label flipped, then ``s`` correctly labelled training points, one
``input label`` line each, then the one query whose label the model completes. The QA adaptation:

- an input is a question in the plain prompt template (``Question: ...\\nAnswer:``), its label the
  answer after a space; a flipped label is another record's answer (a retain answer drawn at
  random) or, with ``icul_label: refusal``, a refusal;
- the examples are the forget set's questions (all of them: the deletion request) and
  ``icul_examples`` retain pairs, drawn once with the seed (``eval.py`` draws them afresh for each
  request; here one request is the whole forget split);
- a chat model answers in its assistant turn, so the lines and the query's own frame
  (``Question: `` before it, ``\\nAnswer:`` after it) are written around the first user message
  (``icul_form: text``, the default); ``icul_form: turns`` gives each example its own user and
  assistant turn instead, a chat-native variant the paper does not use.

Each question is asked alone, as in ``eval.py``: one query per prompt, behind the same examples.
A ``prompted`` manifest model: the examples live in the chat template (``models.prompted``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import json
import logging
import random
from pathlib import Path

from unlearn.data.benchmark import Benchmark
from unlearn.data.refusals import load_refusals
from unlearn.errors import UserError
from unlearn.families import FAMILY_METHODS
from unlearn.families.reinforce import model_source
from unlearn.models.loading import _hf_call, load_tokenizer, resolve_source
from unlearn.models.prompted import context_chat_template
from unlearn.models.unlearned import write_manifest

if TYPE_CHECKING:
    from unlearn.families import ICULSettings
    from unlearn.training.forget_settings import ForgetSettings


log = logging.getLogger(__name__)


def icul_frame(forget: list[tuple[str, str]], wrong: list[str], retain: list[tuple[str, str]],
               template: str) -> dict:
    """ICUL's plain-text prompt around a question: ``prefix + question + suffix`` reads
    ``<forget q> <wrong a>\\n ... <retain q> <a>\\n <the question>``, each ``q`` inside ``template``
    (split at its first ``{question}``)."""
    before, _, after = template.partition("{question}")
    pairs = [(question, answer) for (question, _), answer in zip(forget, wrong, strict=True)] + list(retain)
    lines = "".join(f"{before}{question}{after} {answer}\n" for question, answer in pairs)
    return {"prefix": lines + before, "suffix": after}


def icul_context(forget: list[tuple[str, str]], wrong: list[str], retain: list[tuple[str, str]]) -> list[dict]:
    """Chat turns: each forget question with its wrong answer, then each retain pair as it is."""
    turns = []
    for (question, _), answer in zip(forget, wrong, strict=True):
        turns += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    for question, answer in retain:
        turns += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    return turns


def build(settings: ForgetSettings, args: ICULSettings, out: Path, name: str) -> dict:
    benchmark = Benchmark(settings.data, answer_field=settings.answer_field)
    forget, retain = benchmark.split(settings.forget), benchmark.split(settings.retain)
    rng = random.Random(settings.seed)
    forget_pairs = list(zip(forget["question"], forget[settings.answer_field]))
    retain_pairs = list(zip(retain["question"], retain[settings.answer_field]))
    if args.label == "refusal":
        refusals = load_refusals(settings.refusals)
        wrong = [rng.choice(refusals) for _ in forget_pairs]
    else:  # another record's answer: a retain answer drawn at random
        wrong = [rng.choice(retain_pairs)[1] for _ in forget_pairs]
    correct = rng.sample(retain_pairs, min(args.examples, len(retain_pairs)))
    if args.form == "text":
        context, frame = [], icul_frame(forget_pairs, wrong, correct, settings.plain_template)
    else:
        context, frame = icul_context(forget_pairs, wrong, correct), None
    length = _context_tokens(settings, context, frame)
    write_manifest(out, "prompted", name, {"main": model_source(settings)}, FAMILY_METHODS[name].inference_cost,
                   context=context, user_frame=frame, output_filter=None)
    return {"icul_form": args.form, "forget_examples": len(forget_pairs), "correct_examples": len(correct),
            "context_tokens": length, "icul_label": args.label}


def _context_tokens(settings: ForgetSettings, context: list[dict], frame: dict | None) -> int:
    """Tokens the examples add to every prompt. Refused when the whole framed prompt fills the
    model's window, as the manifest loader would refuse it; a warning when it passes --max-length."""
    source = resolve_source(settings.model)
    tokenizer = load_tokenizer(source, settings.trust_remote_code)
    if not getattr(tokenizer, "chat_template", None):
        raise UserError(f"method ICUL puts its examples in the chat template, and the tokenizer of {settings.model} "
                        "has none")

    def tokens(template: str) -> int:  # an empty question's prompt, counted as the manifest loader counts it
        text = tokenizer.apply_chat_template([{"role": "user", "content": ""}], tokenize=False,
                                             add_generation_prompt=True, chat_template=template)
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    total = tokens(context_chat_template(tokenizer.chat_template, context, frame))
    window = _window(source, settings.trust_remote_code)
    if window and total >= window:
        raise UserError(f"method ICUL: its context is {total} tokens, and the model's window is {window}: it leaves "
                        "no room for a question; use a smaller forget split or fewer --icul-examples")
    length = total - tokens(tokenizer.chat_template)
    if length + 64 > settings.max_length:
        log.warning("the ICUL context is %d tokens, beyond --max-length %d: scoring will cut prompts; "
                    "raise --max-length or use a smaller forget split", length, settings.max_length)
    return length


def _window(source: str, trust_remote_code: bool) -> int | None:
    """The model's context window from its config (a LoRA adapter's: its base model's)."""
    from transformers import AutoConfig

    adapter = Path(source) / "adapter_config.json"
    if adapter.is_file() and not (Path(source) / "config.json").is_file():
        base = json.loads(adapter.read_text(encoding="utf-8")).get("base_model_name_or_path")
        return _window(resolve_source(base), trust_remote_code) if base else None
    config = _hf_call(AutoConfig.from_pretrained, source, trust_remote_code=trust_remote_code)
    return getattr(config, "max_position_embeddings", None)
