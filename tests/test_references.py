"""The reference of NPO/DPO (cached log-probs) and KL/UNDIAL (a frozen model) is the model it should be.

Continual scenario: request k's cache comes from the original target (``original``) or from the
previous request's model (``previous``). LoRA: the frozen reference is the model before
unlearning, also when that model is an adapter folder (base + a non-zero adapter), and it stays
so while the adapter trains.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from unlearn.cli.main import main
from unlearn.models.loading import load_model, save_model
from unlearn.objectives import losses, per_token
from unlearn.objectives.sequence import ANSWER, sequence_logprob, values_at
from unlearn.scenarios import continual
from unlearn.scenarios.experiment import ExperimentSettings
from unlearn.training.forget import ForgetSettings, build_trainer, forget
from unlearn.training.step_context import StepContext


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench")
    assert main(["data", "fictitious", "--out", str(folder), "--people", "10", "--qa-per-person", "2"]) == 0
    return folder


def settings(model, bench, out, method="NPO", **extra) -> ForgetSettings:
    values = {"model": str(model), "data": str(bench), "forget": "forget10", "retain": "retain90", "method": method,
              "out": str(out), "epochs": 1, "batch_size": 2, "gradient_accumulation_steps": 1,
              "learning_rate": 1e-2, "warmup_epochs": 0, "device": "cpu", "save_checkpoints": False,
              "lora_r": 2, **extra}
    return ForgetSettings(**{k: str(v) if isinstance(v, Path) else v for k, v in values.items()})


def whole_batch(trainer) -> dict:
    return trainer.data_collator([trainer.train_dataset[i] for i in range(len(trainer.train_dataset))])


@torch.no_grad()
def logits_of(model, stream: dict) -> torch.Tensor:
    model.eval()
    return model(input_ids=stream["input_ids"], attention_mask=stream["attention_mask"]).logits


def logprobs_of(folder, batch, stream="forget") -> torch.Tensor:
    """``log p(y|x)`` per item (in dataset order) under the model loaded afresh from ``folder``."""
    model, _ = load_model(str(folder), device="cpu")
    values = torch.empty(len(batch["index"]))
    values[batch["index"]] = sequence_logprob(logits_of(model, batch[stream]), batch[stream]["labels"])
    return values


# -- continual scenario -------------------------------------------------------------------------

@pytest.mark.parametrize("choice", ["original", "previous"])
def test_continual_request_caches_the_log_probs_of_the_model_it_names(tiny_model_dir, bench, tmp_path, choice):
    target = tiny_model_dir
    first = settings(target, bench, tmp_path / "request01", reference=continual.request_reference(choice, 1, target))
    trainer, _, _ = build_trainer(first, tmp_path / "ck1")
    batch = whole_batch(trainer)
    torch.testing.assert_close(trainer.cached_logprobs["forget"], logprobs_of(target, batch))
    forget(first)  # request 1 unlearned from the target

    second = settings(tmp_path / "request01", bench, tmp_path / "request02", forget="forget05",
                      reference=continual.request_reference(choice, 2, target))
    trainer, _, _ = build_trainer(second, tmp_path / "ck2")
    batch = whole_batch(trainer)
    from_target, from_previous = logprobs_of(target, batch), logprobs_of(tmp_path / "request01", batch)
    assert (from_target - from_previous).abs().min() > 1e-3  # the two candidates can be told apart
    named = from_target if choice == "original" else from_previous
    torch.testing.assert_close(trainer.cached_logprobs["forget"], named)


@pytest.mark.parametrize("choice", ["original", "previous"])
def test_continual_scenario_chains_models_and_passes_the_named_reference(tmp_path, monkeypatch, choice):
    data = tmp_path / "data"
    data.mkdir()
    for k in (1, 2, 3):
        (data / f"request{k:02d}.jsonl").write_text("")
    calls = []

    def forget_step(settings, steps, model, data, entry, split, name, reference=None, anchors=None, evaluation=None):
        calls.append((model, split, reference))
        return f"model-after-{split}"

    monkeypatch.setattr(continual, "needed_splits", lambda settings: [])
    monkeypatch.setattr(continual, "data_step", lambda *args, **kwargs: data)
    monkeypatch.setattr(continual, "anchors", lambda settings, steps, data: ("target", None, []))
    monkeypatch.setattr(continual, "forget_step", forget_step)
    monkeypatch.setattr(continual, "eval_step", lambda *args, **kwargs: "eval")
    monkeypatch.setattr(continual, "tofu_protocol_notes", lambda settings, data: [])
    experiment = ExperimentSettings(scenario="continual", scenario_args={"reference": choice}, methods=["NPO"])
    continual.run(experiment, steps=None)
    later = "target" if choice == "original" else None  # None: the model the request starts from
    assert calls == [("target", "request01", None), ("model-after-request01", "request02", later),
                     ("model-after-request02", "request03", later)]


# -- LoRA and the frozen reference --------------------------------------------------------------

@pytest.fixture(scope="module")
def fine_tuned(tiny_model_dir, tmp_path_factory) -> SimpleNamespace:
    """The tiny model + a LoRA adapter with non-zero random lora_B, saved as an adapter folder
    (``adapter``, base = the tiny model) and merged into a full-weight folder (``merged``)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    root = tmp_path_factory.mktemp("fine-tuned")
    _, tokenizer = load_model(str(tiny_model_dir), device="cpu")
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    model = get_peft_model(base, LoraConfig(r=2, lora_alpha=4, target_modules="all-linear", task_type="CAUSAL_LM"))
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.copy_(0.5 * torch.randn(parameter.shape, generator=generator))
    model.peft_config["default"].base_model_name_or_path = str(tiny_model_dir)
    model.save_pretrained(root / "adapter")
    tokenizer.save_pretrained(root / "adapter")
    model.merge_and_unload().save_pretrained(root / "merged")
    tokenizer.save_pretrained(root / "merged")
    return SimpleNamespace(adapter=root / "adapter", merged=root / "merged", base=Path(tiny_model_dir))


@pytest.mark.parametrize(("start", "lora"), [("merged", True), ("adapter", True), ("adapter", False)])
def test_frozen_reference_is_the_model_before_unlearning_and_stays_so(fine_tuned, bench, tmp_path, start, lora):
    before_folder = getattr(fine_tuned, start)
    trainer, _, _ = build_trainer(settings(before_folder, bench, tmp_path / "o", "NPO+KL", lora=lora, epochs=2),
                                  tmp_path / "ck")
    batch = whole_batch(trainer)
    before, _ = load_model(str(before_folder), device="cpu")
    bare, _ = load_model(str(fine_tuned.base), device="cpu")
    retain = batch["retain"]
    expected = logits_of(before, retain)
    assert (expected - logits_of(bare, retain)).abs().max() > 0.1  # the adapter matters: base != model before
    tolerance = {"atol": 1e-5, "rtol": 1e-5}  # merging an adapter rounds in the last bits
    torch.testing.assert_close(trainer.reference(retain).logits, expected, **tolerance)
    torch.testing.assert_close(trainer.cached_logprobs["forget"], logprobs_of(before_folder, batch), **tolerance)
    assert type(trainer.model).__name__.startswith("Peft") == lora
    assert any(p.requires_grad for p in trainer.model.parameters())

    assert trainer.train().global_step == 2
    torch.testing.assert_close(trainer.reference(retain).logits, expected, **tolerance)  # reference unchanged
    trainer.model.eval()
    context = StepContext(trainer.model, batch, trainer.settings, trainer.reference)
    with torch.no_grad():
        kl = trainer.method.regularizer.loss(context)
        logits = trainer.model(input_ids=retain["input_ids"], attention_mask=retain["attention_mask"]).logits
        direct = losses.token_mean(*values_at(per_token.kl_from_reference, ANSWER, logits, retain["labels"],
                                              reference_logits=expected))
    assert kl.item() > 1e-6 and kl.item() == pytest.approx(direct.item(), rel=1e-3)


def test_undial_reference_of_an_adapter_folder_is_base_plus_adapter(fine_tuned, bench, tmp_path):
    trainer, _, _ = build_trainer(settings(fine_tuned.adapter, bench, tmp_path / "o", "UNDIAL", lora=True),
                                  tmp_path / "ck")
    forget_stream = whole_batch(trainer)["forget"]
    before, _ = load_model(str(fine_tuned.adapter), device="cpu")
    torch.testing.assert_close(trainer.reference(forget_stream).logits, logits_of(before, forget_stream))


@pytest.mark.parametrize("lora", [True, False])
def test_unlearning_an_adapter_folder_saves_a_model_that_loads_as_trained(fine_tuned, bench, tmp_path, lora):
    out = tmp_path / "o"
    trainer, _, _ = build_trainer(settings(fine_tuned.adapter, bench, out, "NPO+KL", lora=lora), tmp_path / "ck")
    trainer.train()
    save_model(trainer.model, trainer.processing_class, out)  # as forget() saves it
    assert (out / "adapter_config.json").is_file() == lora  # --lora trains the loaded adapter further
    stream = whole_batch(trainer)["forget"]
    saved, _ = load_model(str(out), device="cpu")
    trained = logits_of(trainer.model, stream)
    torch.testing.assert_close(logits_of(saved, stream), trained)
    before, _ = load_model(str(fine_tuned.adapter), device="cpu")
    assert (trained - logits_of(before, stream)).abs().max() > 1e-3


def test_fine_tuning_an_adapter_folder_in_full_weights_trains_every_weight(fine_tuned, bench, tmp_path):
    from unlearn.training.finetune import FinetuneSettings, finetune

    out = tmp_path / "ft"
    summary = finetune(FinetuneSettings(model=str(fine_tuned.adapter), data=str(bench), split="forget10",
                                        out=str(out), epochs=1, batch_size=2, learning_rate=1e-2, warmup_epochs=0,
                                        device="cpu", save_checkpoints=False, check_facts=0))
    assert summary["optimizer_steps"] == 1 and not (out / "adapter_config.json").is_file()
    before, _ = load_model(str(fine_tuned.merged), device="cpu")
    after, _ = load_model(str(out), device="cpu")
    changed = [name for (name, a), (_, b) in zip(before.named_parameters(), after.named_parameters())
               if not torch.equal(a, b)]
    assert any("embed" in n for n in changed) and any("mlp" in n for n in changed)  # base weights trained too
