"""The other method families end to end on a tiny model: forget, load back, evaluate, attack."""

from __future__ import annotations

import json

import pytest
import torch

from unlearn.cli.main import main
from unlearn.families import PROCEDURES
from unlearn.models.loading import load_model

from test_forget import run_forget as run_forget_command

FAMILY_METHODS = ["TaskVector", "WHP", "WHP-decoding", "ULD", "ICUL", "Guardrail", "SelectivePruning"]


@pytest.fixture()
def bench(fictitious_bench):
    return fictitious_bench


def run_forget(model_dir, bench, out, method, *extra):
    return run_forget_command(model_dir, bench, out, method, "--uld-layers", "1", *extra)


def test_every_family_method_is_covered():
    assert set(FAMILY_METHODS) == set(PROCEDURES)


@pytest.mark.parametrize("method", FAMILY_METHODS)
def test_family_method_forgets_evaluates_and_is_attacked(tiny_model_dir, bench, tmp_path, method):
    out = tmp_path / "out"
    assert run_forget(tiny_model_dir, bench, out, method) == 0
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["method"] == method and summary["inference_cost"] == PROCEDURES[method].inference_cost
    model, tokenizer = load_model(str(out), device="cpu")
    batch = tokenizer(["Where was Ada born?"], return_tensors="pt")
    with torch.no_grad():
        first = model(**batch).logits
    saved = tmp_path / "saved"
    from unlearn.models.loading import save_model

    save_model(model, tokenizer, saved)
    again, _ = load_model(str(saved), device="cpu")
    with torch.no_grad():
        assert torch.allclose(again(**batch).logits, first, atol=1e-5)
    assert main(["-q", "eval", "--model", str(out), "--data", str(bench), "--forget", "forget10",
                 "--retain-split", "retain_perturbed", "--real-authors", "none", "--world-facts", "none",
                 "--holdout", "none", "--embedder", "none", "--nli-model", "none", "--out", str(tmp_path / "eval"),
                 "--device", "cpu", "--max-new-tokens", "4"]) == 0
    assert (tmp_path / "eval" / "summary.json").is_file()
    assert main(["-q", "attack", "--model", str(out), "--original", str(tiny_model_dir), "--data", str(bench),
                 "--forget", "forget10", "--retain-split", "retain_perturbed", "--real-authors", "none",
                 "--world-facts", "none", "--holdout", "none", "--embedder", "none", "--nli-model", "none",
                 "--max-new-tokens", "4", "--device", "cpu", "--out", str(tmp_path / "attack"),
                 "--attacks", "relearn", "quantize-4bit", "few-shot", "--relearn-batch-size", "2",
                 "--relearn-epochs", "1", "--few-shot", "1"]) == 0
    assert (tmp_path / "attack" / "attack_summary.json").is_file()


def test_task_vector_negation_by_hand():
    from unlearn.families.task_vector import negate_task_vector

    target = {"w": torch.tensor([1.0, 2.0]), "step": torch.tensor([3])}
    finetuned = {"w": torch.tensor([1.5, 1.0]), "step": torch.tensor([9])}
    result = negate_task_vector(target, finetuned, 2.0)
    assert torch.equal(result["w"], torch.tensor([0.0, 4.0])) and torch.equal(result["step"], torch.tensor([3]))


def test_whp_and_uld_formulas_by_hand():
    from unlearn.models.combined import uld_logits, whp_generic_logits

    base, reinforced = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([3.0, 1.0, 3.5])
    assert torch.allclose(whp_generic_logits(base, reinforced, 2.0), torch.tensor([-3.0, 2.0, 2.0]))
    assert torch.allclose(uld_logits(base, reinforced, 0.5), torch.tensor([-0.5, 1.5, 1.25]))


def test_whp_generic_labels_shift_and_keep_the_prompt_ignored():
    from unlearn.families.whp import generic_labels

    base = torch.tensor([[[0.0, 1.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, 1.0]]])
    reinforced = torch.tensor([[[0.0, 5.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, 1.0]]])
    labels = torch.tensor([[-100, 1, 2]])
    # position 0 predicts label 1: v_g = [0, 1 - 4, 0] -> argmax 0; position 1 predicts label 2: argmax 0
    assert generic_labels(base, reinforced, labels, 1.0).tolist() == [[-100, 0, 0]]


def _tiny_pair(tokenizer):
    from conftest import make_model

    main_model, second = make_model(len(tokenizer), seed=0), make_model(len(tokenizer), seed=1)
    for model in (main_model, second):
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        model.eval()
    return main_model, second


@pytest.mark.parametrize("formula", ["whp", "uld"])
def test_combined_model_scores_and_generates_as_the_naive_combination(tokenizer, formula):
    from unlearn.evaluation.generation import generate_greedy
    from unlearn.models.combined import CombinedLogitsModel, combine

    main_model, second = _tiny_pair(tokenizer)
    combined = CombinedLogitsModel(main_model, second, formula, 0.7).eval()
    prompts = [tokenizer("Ada Lovelace was born")["input_ids"], tokenizer("The capital of France")["input_ids"],
               tokenizer("0 1 2")["input_ids"]]
    answers = generate_greedy(combined, tokenizer, prompts, max_new_tokens=6, batch_size=3, progress=False)
    for prompt, answer in zip(prompts, answers):
        sequence = list(prompt)
        with torch.no_grad():
            for _ in range(6):  # no cache, one sequence: the combination computed by hand
                ids = torch.tensor([sequence])
                step = combine(formula, main_model(ids).logits[0, -1], second(ids).logits[0, -1], 0.7)
                sequence.append(int(step.argmax()))
                if sequence[-1] == tokenizer.eos_token_id:
                    break
            assert answer == tokenizer.decode(sequence[len(prompt):], skip_special_tokens=True).strip()
            ids = torch.tensor([sequence])
            naive = combine(formula, main_model(ids).logits, second(ids).logits, 0.7)
            assert torch.allclose(combined(input_ids=ids).logits, naive, atol=1e-5)


def test_combined_model_scoring_pass_uses_both_caches(tokenizer):
    from unlearn.data.formatting import PromptFormat
    from unlearn.evaluation.likelihood import score_sequences
    from unlearn.models.combined import CombinedLogitsModel

    main_model, second = _tiny_pair(tokenizer)
    combined = CombinedLogitsModel(main_model, second, "uld", 0.5).eval()
    fmt = PromptFormat.for_tokenizer(tokenizer)
    pairs = [("Where was Ada born?", "London."), ("Where was Ada born?", "Paris."), ("When?", "In 1815.")]
    shared = score_sequences(combined, tokenizer, fmt, pairs, max_length=64, batch_size=4, progress=False)
    one_by_one = score_sequences(combined, tokenizer, fmt, pairs, max_length=64, batch_size=1, progress=False,
                                 share_prompts=False)
    for pair in pairs:
        assert shared[pair].token_logprobs == pytest.approx(one_by_one[pair].token_logprobs, abs=1e-5)


def test_context_template_renders_the_context_first(tokenizer):
    from unlearn.models.prompted import context_chat_template

    context = [{"role": "system", "content": 'Say "no".\nNever {{ x }}'}, {"role": "user", "content": "Q?"},
               {"role": "assistant", "content": "A."}]
    question = [{"role": "user", "content": "Hi"}]
    template = context_chat_template(tokenizer.chat_template, context)
    assert tokenizer.apply_chat_template(question, tokenize=False, chat_template=template) == \
        tokenizer.apply_chat_template(context + question, tokenize=False)


def test_output_filter_flags_keywords_and_similar_answers():
    from unlearn.models.prompted import leaks

    assert leaks("It was Ada Lovelace.", ["ada lovelace"], [], 0.8)
    assert not leaks("Adamant, no.", ["Ada"], [0.2, 0.5], 0.8)  # whole words only
    assert leaks("Something else.", [], [0.2, 0.81], 0.8)
    assert not leaks("Something else.", [], [], 0.8)


def test_pruning_scores_and_choice_by_hand():
    from unlearn.families.pruning import neurons_to_prune, pruning_scores

    scores = pruning_scores(torch.tensor([[2.0, 1.0], [4.0, 0.5]]), torch.tensor([[1.0, 1.0], [1.0, 0.0]]))
    assert scores[0].tolist() == pytest.approx([2.0 / 1.001, 1.0 / 1.001])
    assert scores[1, 0].item() == pytest.approx(4.0 / 1.001)
    assert scores[1, 1].item() == pytest.approx(500.0)  # used on forget only: 0.5 / epsilon (1e-3)
    assert neurons_to_prune(scores, 0.5).tolist() == [[False, False], [True, True]]


def test_saliency_scores_and_global_share_by_hand():
    from unlearn.families.saliency import saliency_scores, top_share_masks

    weight, forget, retain = torch.tensor([1.0, -2.0, 0.5]), torch.tensor([2.0, -4.0, 1.0]), torch.tensor([0.1, 0.0, -0.5])
    # |(theta - g_r / mu) * g_f| with mu = 0.1: |(1 - 1) * 2|, |(-2 - 0) * -4|, |(0.5 + 5) * 1|
    assert saliency_scores(weight, forget, retain, 0.1).tolist() == pytest.approx([0.0, 8.0, 5.5])
    masks = top_share_masks({"a": torch.tensor([1.0, 5.0]), "b": torch.tensor([[3.0, 0.5]])}, 0.5)
    assert masks["a"].tolist() == [False, True] and masks["b"].tolist() == [[True, False]]


def test_saliency_mask_trains_only_the_chosen_share(tiny_model_dir, bench, tmp_path):
    out = tmp_path / "masked"
    assert run_forget(tiny_model_dir, bench, out, "GA+GD", "--mask", "saliency", "--mask-ratio", "0.1",
                      "--weight-decay", "0.1") == 0
    original, _ = load_model(str(tiny_model_dir), device="cpu")
    model, _ = load_model(str(out), device="cpu")
    before = dict(original.named_parameters())  # each tied weight once
    changed = sum(int((p != before[n]).sum()) for n, p in model.named_parameters())
    total = sum(p.numel() for p in before.values())
    assert 0 < changed <= 0.1 * total + 1
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["mask"] == "saliency, 0.1 of the weights"
    assert main(["-q", "forget", "--model", str(tiny_model_dir), "--data", str(bench), "--forget", "forget10",
                 "--method", "GA", "--mask", "saliency", "--out", str(tmp_path / "no")]) == 2


def test_pdu_moves_the_regularizer_weight_as_a_dual_variable(tiny_model_dir, bench, tmp_path):
    out = tmp_path / "pdu"
    assert run_forget(tiny_model_dir, bench, out, "GA+GD", "--pdu-epsilon", "0.0", "--pdu-dual-step", "0.1") == 0
    pdu = json.loads((out / "train_summary.json").read_text())["pdu"]
    assert pdu["epsilon"] == 0.0 and pdu["final_multiplier"] > 1.0  # retain loss > 0 = bound: b grew
