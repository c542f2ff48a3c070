"""Turn (question, answer) pairs into token ids with labels on the answer only.

The prompt is the tokenizer's chat template (user = question, assistant = answer) when it
has one, else a plain ``Question: ...\\nAnswer:`` template. Prompt and answer are tokenized
separately and concatenated, so the boundary is exact: labels cover the answer tokens and
the end-of-sequence token, and every prompt position is ``IGNORE_INDEX``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import datasets

from unlearn.errors import UserError

IGNORE_INDEX = -100
DEFAULT_PLAIN_TEMPLATE = "Question: {question}\nAnswer:"
PromptStyle = Literal["auto", "chat", "plain"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PromptFormat:
    """How a question becomes a prompt. ``style`` is resolved: ``chat`` or ``plain``."""

    style: Literal["chat", "plain"]
    plain_template: str = DEFAULT_PLAIN_TEMPLATE

    @classmethod
    def for_tokenizer(cls, tokenizer, style: PromptStyle = "auto", plain_template: str = DEFAULT_PLAIN_TEMPLATE):
        if "{question}" not in plain_template:
            raise UserError("plain_template must contain '{question}'")
        has_chat = getattr(tokenizer, "chat_template", None) is not None
        if style == "chat" and not has_chat:
            raise UserError("prompt_template 'chat' asked for, but the tokenizer has no chat template")
        resolved = "chat" if style == "chat" or (style == "auto" and has_chat) else "plain"
        return cls(resolved, plain_template)

    def prompt_text(self, tokenizer, question: str) -> str:
        if self.style == "chat":
            return tokenizer.apply_chat_template(
                [{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True
            )
        return self.plain_template.format(question=question)

    def prompt_ids(self, tokenizer, question: str) -> list[int]:
        # A chat template writes its own special tokens; a plain prompt gets the tokenizer's BOS, if any.
        add_special = self.style == "plain"
        return tokenizer(self.prompt_text(tokenizer, question), add_special_tokens=add_special)["input_ids"]

    def answer_ids(self, tokenizer, answer: str) -> list[int]:
        text = answer if self.style == "chat" else " " + answer
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        # Some tokenizers prepend BOS even when told not to; the answer never starts with one.
        if ids and tokenizer.bos_token_id is not None and ids[0] == tokenizer.bos_token_id:
            ids = ids[1:]
        return ids + ([tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else [])


def encode_pair(tokenizer, fmt: PromptFormat, question: str, answer: str, max_length: int) -> dict:
    """``input_ids``, ``attention_mask``, ``labels`` (answer + EOS only) and ``truncated``."""
    prompt = fmt.prompt_ids(tokenizer, question)
    target = fmt.answer_ids(tokenizer, answer)
    input_ids = (prompt + target)[:max_length]
    labels = ([IGNORE_INDEX] * len(prompt) + target)[:max_length]
    return {
        "input_ids": input_ids,
        "attention_mask": [1] * len(input_ids),
        "labels": labels,
        "truncated": len(prompt) + len(target) > max_length,
    }


def tokenize_split(
    dataset: datasets.Dataset,
    tokenizer,
    fmt: PromptFormat,
    max_length: int,
    answer_field: str = "answer",
    name: str = "split",
) -> datasets.Dataset:
    """Tokenize every record of ``dataset``; warn once with the count of truncated sequences."""

    def encode(record):
        return encode_pair(tokenizer, fmt, record["question"], record[answer_field], max_length)

    encoded = dataset.map(encode, remove_columns=dataset.column_names, desc=f"tokenizing {name}")
    truncated = sum(encoded["truncated"])
    if truncated:
        log.warning("%s: %d of %d sequences were longer than %d tokens and were truncated",
                    name, truncated, len(encoded), max_length)
    return encoded.remove_columns("truncated")
