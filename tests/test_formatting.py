"""Labels cover exactly the answer tokens and EOS; prompts follow the chat or plain template."""

from __future__ import annotations

import logging

import datasets
import pytest

from conftest import make_tokenizer
from unlearn.data.collate import pad_batch
from unlearn.data.formatting import IGNORE_INDEX, PromptFormat, encode_pair, tokenize_split
from unlearn.errors import UserError


def test_chat_labels_cover_exactly_the_answer_and_eos(tokenizer):
    fmt = PromptFormat.for_tokenizer(tokenizer)
    assert fmt.style == "chat"
    encoded = encode_pair(tokenizer, fmt, "Where was Ada born?", "Ada was born in London.", max_length=512)
    prompt = tokenizer("<|im_start|>user\nWhere was Ada born?<|im_end|>\n<|im_start|>assistant\n",
                       add_special_tokens=False)["input_ids"]
    answer = tokenizer("Ada was born in London.", add_special_tokens=False)["input_ids"]
    assert encoded["input_ids"] == prompt + answer + [tokenizer.eos_token_id]
    assert encoded["labels"] == [IGNORE_INDEX] * len(prompt) + answer + [tokenizer.eos_token_id]
    supervised = [t for t, label in zip(encoded["input_ids"], encoded["labels"]) if label != IGNORE_INDEX]
    assert tokenizer.decode(supervised) == "Ada was born in London.<|im_end|>"
    assert encoded["attention_mask"] == [1] * len(encoded["input_ids"])


def test_plain_template_when_there_is_no_chat_template():
    tok = make_tokenizer(chat=False)
    fmt = PromptFormat.for_tokenizer(tok)
    assert fmt.style == "plain"
    encoded = encode_pair(tok, fmt, "Who?", "Ada", max_length=512)
    text_of_labels = tok.decode([token for token, label in zip(encoded["input_ids"], encoded["labels"])
                                 if label != IGNORE_INDEX])
    assert text_of_labels == " Ada<|im_end|>"
    assert tok.decode(encoded["input_ids"]) == "Question: Who?\nAnswer: Ada<|im_end|>"


def test_plain_template_is_overridable_and_chat_can_be_forced_off(tokenizer):
    fmt = PromptFormat.for_tokenizer(tokenizer, "plain", "Q: {question}\nA:")
    assert fmt.prompt_text(tokenizer, "Who?") == "Q: Who?\nA:"
    with pytest.raises(UserError, match="must contain '{question}'"):
        PromptFormat.for_tokenizer(tokenizer, "plain", "no placeholder")
    with pytest.raises(UserError, match="tokenizer has no chat template"):
        PromptFormat.for_tokenizer(make_tokenizer(chat=False), "chat")


def test_truncation_keeps_labels_aligned_and_is_counted(tokenizer, caplog):
    fmt = PromptFormat.for_tokenizer(tokenizer)
    short = len(encode_pair(tokenizer, fmt, "Who?", "b", max_length=512)["input_ids"])
    limit = short + 2
    records = datasets.Dataset.from_list([{"question": "Who?", "answer": "a " * 40},
                                          {"question": "Who?", "answer": "b"}])
    with caplog.at_level(logging.WARNING):
        encoded = tokenize_split(records, tokenizer, fmt, max_length=limit, name="forget")
    assert len(encoded[0]["input_ids"]) == limit and len(encoded[0]["labels"]) == limit
    assert len(encoded[1]["input_ids"]) == short
    assert f"forget: 1 of 2 sequences were longer than {limit} tokens and were truncated" in caplog.text


def test_padding_sides():
    features = [{"input_ids": [5, 6, 7], "attention_mask": [1, 1, 1], "labels": [-100, 6, 7]},
                {"input_ids": [8], "attention_mask": [1], "labels": [8]}]
    right = pad_batch(features, pad_token_id=0)
    assert right["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert right["labels"].tolist() == [[-100, 6, 7], [8, -100, -100]]
    left = pad_batch(features, pad_token_id=0, side="left")
    assert left["input_ids"].tolist() == [[5, 6, 7], [0, 0, 8]]
    assert left["attention_mask"].tolist() == [[1, 1, 1], [0, 0, 1]]
