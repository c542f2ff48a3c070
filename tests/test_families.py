"""The other method families end to end on a tiny model: forget, load back, evaluate, attack."""

from __future__ import annotations

import json
import math

import pytest
import torch

from unlearn.cli.main import main
from unlearn.families import FAMILY_METHODS as REGISTERED
from unlearn.models.loading import load_model

from conftest import run_forget as run_forget_command

FAMILY_METHODS = ["TaskVector", "WHP", "WHP-decoding", "ULD", "ICUL", "Guardrail", "SelectivePruning"]


@pytest.fixture()
def bench(fictitious_bench):
    return fictitious_bench


def run_forget(model_dir, bench, out, method, *extra):
    layers = ("--uld.layers", "1") if method == "ULD" else ()  # the tiny model has 2
    return run_forget_command(model_dir, bench, out, method, *layers, *extra)


def test_every_family_method_is_covered():
    assert set(FAMILY_METHODS) == set(REGISTERED)


@pytest.mark.parametrize("method", FAMILY_METHODS)
def test_family_method_forgets_evaluates_and_is_attacked(tiny_model_dir, bench, tmp_path, method):
    out = tmp_path / "out"
    extra = ("--icul.examples", "1") if method == "ICUL" else ()  # the tiny model's window is 256 tokens
    assert run_forget(tiny_model_dir, bench, out, method, *extra) == 0
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["method"] == method and summary["inference_cost"] == REGISTERED[method].inference_cost
    model, tokenizer = load_model(str(out), device="cpu")
    _check_as_the_authors_run_it(method, out, summary, model, tokenizer, bench)
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


def test_saliency_scores_and_global_share_by_hand():
    from unlearn.families.saliency import saliency_scores, top_share_masks

    weight, forget, retain = (torch.tensor([1.0, -2.0, 0.5]), torch.tensor([2.0, -4.0, 1.0]),
                              torch.tensor([0.1, 0.0, -0.5]))
    # |(theta - g_r / mu) * g_f| with mu = 0.1: |(1 - 1) * 2|, |(-2 - 0) * -4|, |(0.5 + 5) * 1|
    assert saliency_scores(weight, forget, retain, 0.1).tolist() == pytest.approx([0.0, 8.0, 5.5])
    masks = top_share_masks({"a": torch.tensor([1.0, 5.0]), "b": torch.tensor([[3.0, 0.5]])}, 0.5)
    assert masks["a"].tolist() == [False, True] and masks["b"].tolist() == [[True, False]]


def test_saliency_mask_trains_only_the_chosen_share(tiny_model_dir, bench, tmp_path):
    out = tmp_path / "masked"
    assert run_forget(tiny_model_dir, bench, out, "GA+GD", "--mask", "saliency", "--saliency.ratio", "0.1",
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
    assert run_forget(tiny_model_dir, bench, out, "GA+GD", "--dual.epsilon", "0.0", "--dual.step", "0.1") == 0
    pdu = json.loads((out / "train_summary.json").read_text())["primal_dual"]
    assert pdu["epsilon"] == 0.0 and pdu["final_multiplier"] > 1.0  # retain loss > 0 = bound: b grew


def _check_as_the_authors_run_it(method, out, summary, model, tokenizer, bench):
    """ULD: the authors' top-logit filter and assistant; ICUL: plain-text examples in one user turn;
    SelectivePruning: steps of floor(0.02 * 128) = 2 neurons, zeroed in down_proj."""
    if method == "ULD":
        manifest = json.loads((out / "unlearned_model.json").read_text())
        assert manifest["top_filter"] == 0.01 and model.top_filter == 0.01
        assert summary["assistant_training"] == {"learning_rate": 1e-3, "epochs": 1.0, "lora_r": 16,
                                                 "lora_alpha": 32, "lora_dropout": 0.05}  # the test sets lr, epochs
    if method == "ICUL":
        forget = [json.loads(line) for line in (bench / "forget10.jsonl").read_text().splitlines()]
        prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Who?"}], tokenize=False,
                                               add_generation_prompt=True)
        assert prompt.count("<|im_start|>user") == 1 and prompt.count("<|im_start|>assistant") == 1
        assert prompt.startswith(f"<|im_start|>user\nQuestion: {forget[0]['question']}\nAnswer: ")
        assert prompt.endswith("Question: Who?\nAnswer:<|im_end|>\n<|im_start|>assistant\n")
        assert summary["forget_examples"] == len(forget) and summary["correct_examples"] == 1
        assert prompt.count("\nAnswer: ") == len(forget) + 1
    if method == "SelectivePruning":
        assert summary["steps"] >= 1 and len(summary["history"]) == summary["steps"] + 1
        assert summary["neurons_pruned"] == 2 * summary["steps"]
        zeroed = sum(int((layer.mlp.down_proj.weight == 0).all(0).sum()) for layer in model.model.layers)
        assert zeroed == summary["neurons_pruned"]


def test_uld_top_logit_filter_by_hand():
    from unlearn.models.combined import plausible_tokens, uld_logits

    target = torch.tensor([0.6, 0.25, 0.1, 0.05]).log()
    # threshold 0.5: p >= 0.5 * 0.6 keeps token 0 only; the top floor(0.5 * 4) = 2 tokens add token 1
    assert plausible_tokens(target, 0.5).tolist() == [True, True, False, False]
    # threshold 0.2: p >= 0.12 keeps tokens 0 and 1; top floor(0.8) -> at least 1 token
    assert plausible_tokens(target, 0.2).tolist() == [True, True, False, False]
    assert plausible_tokens(target, 0.1).tolist() == [True, True, True, False]  # p >= 0.06
    assistant = torch.tensor([1.0, 2.0, 3.0, 4.0])
    expected = target - torch.tensor([0.5, 1.0, 0.0, 0.0])  # alpha 0.5, subtracted on tokens 0 and 1 only
    assert torch.allclose(uld_logits(target, assistant, 0.5, 0.5), expected)
    assert torch.allclose(uld_logits(target, assistant, 0.5), target - 0.5 * assistant)  # the paper's form


def test_uld_filtered_model_scores_and_decodes_as_the_authors(tokenizer):
    """Scoring: l_t - alpha * m * l_a at every position; decoding: argmax among plausible tokens only."""
    from unlearn.evaluation.generation import generate_greedy
    from unlearn.models.combined import CombinedLogitsModel, plausible_tokens, uld_logits

    main_model, second = _tiny_pair(tokenizer)
    with torch.no_grad():  # peaked distributions, so that 1e-2 of the top probability leaves few tokens
        main_model.model.norm.weight.mul_(20)
        second.model.norm.weight.mul_(20)
    combined = CombinedLogitsModel(main_model, second, "uld", 1.0, top_filter=0.01).eval()
    prompt = tokenizer("Ada Lovelace was born")["input_ids"]
    [answer] = generate_greedy(combined, tokenizer, [prompt], max_new_tokens=6, batch_size=1, progress=False)
    sequence, excluded = list(prompt), 0
    with torch.no_grad():
        for _ in range(6):
            ids = torch.tensor([sequence])
            main_logits = main_model(ids).logits[0, -1]
            scored = uld_logits(main_logits, second(ids).logits[0, -1], 1.0, 0.01)
            step = scored.masked_fill(~plausible_tokens(main_logits, 0.01), float("-inf"))
            excluded += int(step.argmax() != scored.argmax())
            sequence.append(int(step.argmax()))
            if sequence[-1] == tokenizer.eos_token_id:
                break
        assert excluded  # decoding among plausible tokens changed at least one choice here
        assert answer == tokenizer.decode(sequence[len(prompt):], skip_special_tokens=True).strip()
        ids = torch.tensor([sequence])
        naive = uld_logits(main_model(ids).logits, second(ids).logits, 1.0, 0.01)
        assert torch.allclose(combined(input_ids=ids).logits, naive, atol=1e-5)
    with pytest.raises(ValueError, match="top_filter"):
        CombinedLogitsModel(main_model, second, "whp", 1.0, top_filter=0.1)


def test_uld_defaults_are_the_authors_assistant_and_the_user_still_decides():
    from unlearn.training.forget_settings import ForgetSettings

    uld = ForgetSettings(method="ULD", data="d", out="o")
    assert (uld.learning_rate, uld.lora_r, uld.lora_alpha, uld.lora_dropout, uld.epochs) == (1e-3, 16, 32, 0.05, 10)
    assert uld.args_of("ULD").top_filter == 0.01 and uld.args_of("ULD").alpha == 0.8
    chosen = ForgetSettings(method="ULD", data="d", out="o", learning_rate=1e-5, lora_r=4)
    assert (chosen.learning_rate, chosen.lora_r, chosen.lora_alpha) == (1e-5, 4, 32)
    other = ForgetSettings(method="GA+GD", data="d", out="o")
    assert (other.learning_rate, other.lora_r, other.epochs) == (1e-5, 8, 5)


def test_icul_prompt_is_plain_text_examples_then_the_question(tokenizer):
    from unlearn.families.in_context import icul_frame
    from unlearn.models.prompted import context_chat_template

    frame = icul_frame([("Where was Ada born?", "London.")], ["Paris."], [("When?", "In 1815.")],
                       "Question: {question}\nAnswer:")
    assert frame == {"prefix": "Question: Where was Ada born?\nAnswer: Paris.\nQuestion: When?\nAnswer: In 1815.\n"
                               "Question: ", "suffix": "\nAnswer:"}
    template = context_chat_template(tokenizer.chat_template, [], frame)
    rendered = tokenizer.apply_chat_template([{"role": "user", "content": "Who?"}], tokenize=False,
                                             add_generation_prompt=True, chat_template=template)
    assert rendered == ("<|im_start|>user\nQuestion: Where was Ada born?\nAnswer: Paris.\nQuestion: When?\n"
                        "Answer: In 1815.\nQuestion: Who?\nAnswer:<|im_end|>\n<|im_start|>assistant\n")
    later = tokenizer.apply_chat_template([{"role": "user", "content": "A"}, {"role": "assistant", "content": "B"},
                                           {"role": "user", "content": "C"}], tokenize=False, chat_template=template)
    assert later.endswith("<|im_start|>user\nC<|im_end|>\n")  # only the first question is framed


def test_pruning_scores_and_choice_by_hand():
    from unlearn.families.pruning import neurons_to_prune, pruning_scores

    scores = pruning_scores(torch.tensor([[2.0, 1.0], [4.0, 0.5]]), torch.tensor([[1.0, 1.0], [1.0, 0.0]]))
    assert scores[0].tolist() == pytest.approx([2.0 / 1.001, 1.0 / 1.001])
    assert scores[1, 0].item() == pytest.approx(4.0 / 1.001)
    assert scores[1, 1].item() == pytest.approx(500.0)  # used on forget only: 0.5 / epsilon (1e-3)
    assert neurons_to_prune(scores, 0.5).tolist() == [[False, False], [True, True]]
    assert neurons_to_prune(scores, 0.4).tolist() == [[False, False], [False, True]]  # floor(1.6) = 1, as taker
    done = torch.tensor([[False, False], [False, True]])
    assert neurons_to_prune(scores, 0.4, done).tolist() == [[False, False], [True, False]]  # never twice


def test_pruning_iterates_rescoring_until_forget_accuracy_halves():
    """Step 1 prunes the top neuron by the first scores; the scores measured after it put another
    neuron on top, which step 2 prunes; forget accuracy 0.8 -> 0.6 -> 0.3 <= 0.5 * 0.8 stops it."""
    from unlearn.families.pruning import prune_iteratively

    retain = torch.ones(2, 2)
    measurements = iter([(torch.tensor([[4.0, 3.0], [2.0, 1.0]]), retain, 0.8, 0.9),
                         (torch.tensor([[0.0, 1.0], [2.0, 5.0]]), retain, 0.6, 0.9),
                         (torch.tensor([[0.0, 1.0], [2.0, 0.0]]), retain, 0.3, 0.85),
                         (torch.tensor([[0.0, 9.0], [0.0, 0.0]]), retain, 0.1, 0.8)])
    steps = []
    pruned, history = prune_iteratively(lambda: next(measurements), lambda mask: steps.append(mask.tolist()),
                                        ratio=0.25, target_drop=0.5, max_steps=10)
    assert steps == [[[True, False], [False, False]], [[False, False], [False, True]]]
    assert pruned.tolist() == [[True, False], [False, True]]
    assert [(h["step"], h["neurons_pruned"], h["forget_top1"]) for h in history] == [(0, 0, 0.8), (1, 1, 0.6),
                                                                                     (2, 2, 0.3)]


def test_saliency_sums_each_examples_mean_nll_as_wagle():
    """Example 1: two answer tokens at uniform logits (nll ln 2 each, mean ln 2); example 2: one token
    at p = 3/4 (nll ln 4/3). WAGLE sums per-example means: ln 2 + ln 4/3 = ln 8/3 (the pooled token
    mean would be ln(16/3) / 3)."""
    from unlearn.families.saliency import summed_example_nll
    from unlearn.training.forget_settings import ForgetSettings

    logits = torch.zeros(2, 3, 2)
    logits[1, 0] = torch.tensor([math.log(3.0), 0.0])
    labels = torch.tensor([[-100, 0, 0], [-100, 0, -100]])
    assert summed_example_nll(logits, labels).item() == pytest.approx(math.log(8 / 3))
    settings = ForgetSettings(method="GA+GD", data="d", out="o", mask="saliency")
    assert (settings.args_of("saliency").mu, settings.args_of("saliency").ratio) == (1e-6, 0.95)  # WAGLE's TOFU configs
