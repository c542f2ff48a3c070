"""The logit lens: hand-worked ranks and fact positions, and the last layer equal to the model's own output."""

from __future__ import annotations

import math

import pytest
import torch

from unlearn.data.formatting import PromptFormat, encode_pair
from unlearn.evaluation.logit_lens import fact_token_index, final_norm, logit_lens
from unlearn.metrics.lens import covering_token, token_rank

from conftest import make_model, make_tokenizer

RECORDS = [{"question": "Where was Ada Lovelace born?", "answer": "Ada Lovelace was born in London.",
            "fact": "London"},
           {"question": "When?", "answer": "In 1815.", "fact": "1815"},
           {"question": "Who wrote notes about engines?", "answer": "Ada Lovelace wrote them."}]


def close(value):
    return pytest.approx(value, rel=1e-5, abs=1e-6)


def test_rank_counts_only_strictly_larger_logits():
    logits = torch.tensor([1.0, 3.0, 2.0, 3.0])
    assert [token_rank(logits, t) for t in range(4)] == [4, 1, 3, 1]


def test_the_fact_token_is_the_one_covering_the_facts_first_character():
    assert covering_token(["Ada", " was", " born", " in", " Lon", "don", "."], 18) == 4  # 'L' of London
    assert covering_token(["a", "b"], 9) is None  # past the end: the fact was cut off
    tokenizer = make_tokenizer()
    answer = RECORDS[0]["answer"]
    ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
    index = fact_token_index(tokenizer, ids, answer, "London")
    assert tokenizer.decode(ids[index:]).strip().startswith("London") or "London".startswith(
        tokenizer.decode(ids[index:index + 1]).strip())
    assert fact_token_index(tokenizer, ids, answer, None) == 0 and fact_token_index(tokenizer, ids, answer, "Rome") == 0


def lens_of(records, batch_size):
    tokenizer = make_tokenizer()
    model = make_model(len(tokenizer))
    fmt = PromptFormat.for_tokenizer(tokenizer)
    return tokenizer, model, fmt, logit_lens(model, tokenizer, fmt, records, batch_size=batch_size)


def test_last_layer_is_the_models_output_and_an_inner_layer_is_norm_then_unembedding():
    tokenizer, model, fmt, lens = lens_of(RECORDS, batch_size=3)
    record, values = RECORDS[0], lens["examples"][0]
    encoded = encode_pair(tokenizer, fmt, record["question"], record["answer"], 512)
    ids = torch.tensor([encoded["input_ids"]])
    labels = torch.tensor(encoded["labels"])
    answer_positions = (labels != -100).nonzero().flatten()
    targets = labels[answer_positions]
    fact = fact_token_index(tokenizer, targets.tolist(), record["answer"], record["fact"])
    with torch.no_grad():
        output = model(input_ids=ids, output_hidden_states=True)
        logprobs = torch.log_softmax(output.logits[0, answer_positions - 1], -1).gather(1, targets[:, None])[:, 0]
        first_layer = model.model.layers[0]
        hidden = first_layer(output.hidden_states[0], position_embeddings=model.model.rotary_emb(
            output.hidden_states[0], torch.arange(ids.shape[1])[None]), attention_mask=None)
        hidden = hidden[0] if isinstance(hidden, tuple) else hidden
    assert lens["layers"] == 2
    assert values["fact_token_probability"][-1] == close(math.exp(logprobs[fact].item()))
    assert values["answer_probability"][-1] == close(math.exp(logprobs.mean().item()))
    inner = torch.log_softmax(model.lm_head(final_norm(model)(hidden[0, answer_positions - 1])), -1)
    assert values["fact_token_probability"][0] == close(math.exp(inner[fact, targets[fact]].item()))


def test_batches_with_padding_give_the_numbers_of_one_record_at_a_time():
    *_, together = lens_of(RECORDS, batch_size=3)
    *_, alone = lens_of(RECORDS, batch_size=1)
    for a, b in zip(together["examples"], alone["examples"]):
        for key in ("fact_token_probability", "answer_probability"):
            assert a[key] == close(b[key])
        assert a["fact_token_rank"] == b["fact_token_rank"]
    assert 1 <= together["best_layer"] <= 2


def test_plain_prompts_find_the_fact_and_truncation_gives_nan_not_a_wrong_token():
    tokenizer = make_tokenizer()
    plain = PromptFormat.for_tokenizer(tokenizer, style="plain")
    answer = "Born in (London)."  # the answer is tokenized as " " + answer: offsets into it are one early
    ids = plain.answer_ids(tokenizer, [answer])[0]
    assert tokenizer.decode(ids[fact_token_index(tokenizer, ids, answer, "London"):]).startswith("London")
    chat = PromptFormat.for_tokenizer(tokenizer)
    prompt = len(chat.prompt_ids(tokenizer, [RECORDS[0]["question"]])[0])
    model = make_model(len(tokenizer))
    cut = logit_lens(model, tokenizer, chat, RECORDS[:1], max_length=prompt + 2)["examples"][0]
    assert cut["fact_token"] is None and all(math.isnan(p) for p in cut["fact_token_probability"])
    assert all(math.isfinite(p) for p in cut["answer_probability"])
    gone = logit_lens(model, tokenizer, chat, RECORDS[:1], max_length=prompt)
    assert all(math.isnan(p["answer_probability"]) for p in gone["per_layer"])
