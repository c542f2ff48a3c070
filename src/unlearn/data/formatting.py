"""Turn (question, answer) pairs into token ids with labels on the answer only.

The prompt is the tokenizer's chat template (user = question, assistant = answer) when it
has one, else a plain ``Question: ...\\nAnswer:`` template. Prompt and answer are tokenized
separately and concatenated, so the boundary is exact: labels cover the answer tokens and
the end-of-sequence token, and every prompt position is ``IGNORE_INDEX``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from unlearn.errors import UserError

if TYPE_CHECKING:  # light at import: the settings read DEFAULT_PLAIN_TEMPLATE
    import datasets

IGNORE_INDEX = -100
DEFAULT_PLAIN_TEMPLATE = "Question: {question}\nAnswer:"
PromptStyle = Literal["auto", "chat", "plain"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PromptFormat:
    """How a question becomes a prompt. ``style`` is resolved: ``chat`` or ``plain``."""

    style: Literal["chat", "plain"]
    plain_template: str = DEFAULT_PLAIN_TEMPLATE
    plain_special_tokens: bool = True  # a plain prompt gets the tokenizer's BOS; lm-eval's scoring adds none

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

    def prompt_ids(self, tokenizer, questions: list[str]) -> list[list[int]]:
        # A chat template writes its own special tokens; a plain prompt gets the tokenizer's BOS, if any.
        texts = [self.prompt_text(tokenizer, question) for question in questions]
        if not texts:  # a fast tokenizer fails on an empty batch
            return []
        return tokenizer(texts, add_special_tokens=self.style == "plain" and self.plain_special_tokens)["input_ids"]

    def answer_ids(self, tokenizer, answers: list[str]) -> list[list[int]]:
        texts = answers if self.style == "chat" else [" " + answer for answer in answers]
        if not texts:
            return []
        eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
        bos = tokenizer.bos_token_id
        # Some tokenizers prepend BOS even when told not to; the answer never starts with one.
        return [(ids[1:] if ids and bos is not None and ids[0] == bos else ids) + eos
                for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def encode_pairs(tokenizer, fmt: PromptFormat, questions: list[str], answers: list[str], max_length: int) -> dict:
    """Columns ``input_ids``, ``attention_mask``, ``labels`` (answer + EOS only) and ``truncated``.

    Tokenizes a whole batch per call: one call per record costs ten times as much."""
    columns = {"input_ids": [], "attention_mask": [], "labels": [], "truncated": []}
    for prompt, target in zip(fmt.prompt_ids(tokenizer, questions), fmt.answer_ids(tokenizer, answers)):
        input_ids = (prompt + target)[:max_length]
        columns["input_ids"].append(input_ids)
        columns["attention_mask"].append([1] * len(input_ids))
        columns["labels"].append(([IGNORE_INDEX] * len(prompt) + target)[:max_length])
        columns["truncated"].append(len(prompt) + len(target) > max_length)
    return columns


def encode_pair(tokenizer, fmt: PromptFormat, question: str, answer: str, max_length: int) -> dict:
    """One (question, answer) pair as ``encode_pairs`` encodes it."""
    return {name: values[0] for name, values in encode_pairs(tokenizer, fmt, [question], [answer], max_length).items()}


def encode_text_windows(tokenizer, texts: list[str], max_length: int) -> dict:
    """Columns ``input_ids``, ``attention_mask``, ``labels`` (= ``input_ids``): each text as the
    tokenizer encodes it (its BOS, if it adds one) plus EOS, cut into windows of ``max_length``
    tokens. A text never shares a window with another; a last window of one token, which
    predicts nothing, is dropped."""
    columns = {"input_ids": [], "attention_mask": [], "labels": []}
    if not texts:
        return columns
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    for ids in tokenizer(texts, add_special_tokens=True)["input_ids"]:
        ids = ids + eos
        for start in range(0, len(ids), max_length):
            window = ids[start:start + max_length]
            if len(window) < 2:
                continue
            columns["input_ids"].append(window)
            columns["attention_mask"].append([1] * len(window))
            columns["labels"].append(list(window))
    return columns


def is_text_split(dataset: datasets.Dataset) -> bool:
    """A split of raw-text records (``kinds.py``): a ``text`` column and no ``question``."""
    return "text" in dataset.column_names and "question" not in dataset.column_names


def check_trainable(dataset: datasets.Dataset, split: str) -> None:
    """Training reads question-answer records or raw text; the evaluation-only kinds are refused."""
    columns = set(dataset.column_names)
    if is_text_split(dataset) or ("question" in columns and "choices" not in columns):
        return
    kind = ("multiple-choice questions" if "choices" in columns else "RWKU probes" if "query" in columns
            else "continuation prompts (VerbMem)" if "prompt" in columns else "records of another kind")
    raise UserError(f"split '{split}' holds {kind}, which are evaluated, not trained on; train on question-answer "
                    "records or raw text (for WMDP and MUSE: their corpora)")


def tokenize_split(
    dataset: datasets.Dataset,
    tokenizer,
    fmt: PromptFormat,
    max_length: int,
    answer_field: str = "answer",
    name: str = "split",
) -> datasets.Dataset:
    """Tokenize every record of ``dataset``; warn once with the count of truncated sequences. A
    raw-text split becomes its windows (one row per window, ``encode_text_windows``)."""
    if is_text_split(dataset):
        windows = dataset.map(lambda batch: encode_text_windows(tokenizer, batch["text"], max_length), batched=True,
                              batch_size=1000, remove_columns=dataset.column_names, desc=f"tokenizing {name}")
        log.info("%s: %d texts in %d windows of at most %d tokens", name, len(dataset), len(windows), max_length)
        return windows

    def encode(batch):
        return encode_pairs(tokenizer, fmt, batch["question"], batch[answer_field], max_length)

    import pyarrow.compute

    encoded = dataset.map(encode, batched=True, batch_size=1000, remove_columns=dataset.column_names,
                          desc=f"tokenizing {name}")
    warn_truncated(name, pyarrow.compute.sum(encoded.with_format("arrow")["truncated"]).as_py() or 0,
                   len(encoded), max_length)
    return encoded.remove_columns("truncated")


def warn_truncated(name: str, truncated: int, total: int, max_length: int) -> None:
    """One warning per split that counts the sequences cut at ``max_length`` (none: no warning)."""
    if truncated:
        log.warning("%s: %d of %d sequences were longer than %d tokens and were truncated",
                    name, truncated, total, max_length)
