"""The logit lens: hand-worked ranks and fact positions, the last layer equal to the model's own output,
and recovery that is not biased upward when no layer knows more than the output layer."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from unlearn.data.formatting import PromptFormat, encode_pair
from unlearn.evaluation.logit_lens import fact_token_index, final_norm, logit_lens
from unlearn.metrics.lens import covering_token, held_out_layer, token_rank

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
    assert "best_layer" not in together  # a layer chosen on the questions it reports would overstate them


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


def test_the_layer_is_chosen_on_one_half_and_reported_on_the_other():
    values = np.array([[0.1, 0.9, 0.2], [0.3, 0.1, 0.2], [0.5, 0.2, 0.4], [math.nan] * 3, [0.2, 0.2, 0.8]])
    layer, rows = held_out_layer(values, seed=0)
    usable = [0, 1, 2, 4]  # row 3: the fact was cut off
    choose = sorted(set(usable) - set(rows))
    assert len(choose) == 2 and len(rows) == 2 and set(rows) <= set(usable)
    assert layer == int(np.argmax(values[choose].mean(axis=0)))  # best on the choice half only
    assert held_out_layer(values, seed=0)[1].tolist() == rows.tolist()  # seeded
    assert held_out_layer(values[[0, 3]], seed=0) is None  # one usable question: nothing to hold out


def null_lens(seed: int, questions: int = 40, layers: int = 12) -> tuple[dict, dict]:
    """Lens files of an unlearned model whose every layer holds as much of the fact as its output layer
    (same distribution), and of an original that knows it well: nothing is hidden below the output."""
    rng = np.random.default_rng(seed)
    known = rng.uniform(0.0, 0.3, questions)
    unlearned = np.clip(known[:, None] + rng.normal(0.0, 0.1, (questions, layers)), 0.0, 1.0)
    original = np.clip(known + 0.4 + rng.normal(0.0, 0.1, questions), 0.0, 1.0)

    def lens(rows):
        per_layer = [{"layer": i + 1, "fact_token_probability": float(np.mean(rows[:, i]))} for i in range(layers)]
        best = 1 + int(np.argmax(rows.mean(axis=0)))  # what the lens once stored: the best layer in-sample
        return {"layers": layers, "best_layer": best, "per_layer": per_layer,
                "examples": [{"fact_token_probability": row.tolist()} for row in rows]}
    return lens(unlearned), lens(np.repeat(original[:, None], layers, axis=1))


def test_under_the_null_recovery_is_unbiased_and_its_intervals_exclude_zero_at_the_nominal_rate():
    from unlearn.attacks.catalog import Scoring
    from unlearn.attacks.probes import lens_metrics

    recoveries, excluded = [], []
    for seed in range(150):
        unlearned, original = null_lens(seed)
        scoring = Scoring(min_gap=0.05, seed=seed, interval_options={"confidence": 0.95, "resamples": 400,
                                                                      "seed": seed})
        metrics, _ = lens_metrics({"unlearned": unlearned, "original": original}, None, scoring)
        entry = metrics["fact_token_probability"]
        recoveries.append(entry["recovery"])
        excluded.append(not entry["interval"][0] <= 0.0 <= entry["interval"][1])
    mean, error = np.mean(recoveries), np.std(recoveries) / math.sqrt(len(recoveries))
    # Chosen in-sample, the best layer's mean is never below the output layer's: recovery >= 0 always,
    # here a mean of +0.064 (23 standard errors), and 19% of the "95%" intervals exclude 0. Held out: -0.005
    # (standard error 0.006), 7%.
    assert abs(mean) < 3 * error and min(recoveries) < 0
    assert np.mean(excluded) <= 0.10
