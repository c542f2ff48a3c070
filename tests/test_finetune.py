"""Fine-tuning through the CLI on a tiny model: trains, saves a loadable model, guards its folder."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import TrainerCallback

from unlearn.cli.main import main
from unlearn.data.benchmark import Benchmark
from unlearn.data.collate import pad_batch
from unlearn.data.formatting import PromptFormat, tokenize_split
from unlearn.models.loading import load_model
from unlearn.training.common import NonFiniteLoss
from unlearn.training.finetune import FinetuneSettings, finetune


def answer_nll(model_dir, bench) -> float:
    model, tokenizer = load_model(str(model_dir), device="cpu")
    fmt = PromptFormat.for_tokenizer(tokenizer)
    encoded = tokenize_split(Benchmark(str(bench)).split("full"), tokenizer, fmt, 256)
    batch = pad_batch([encoded[i] for i in range(len(encoded))], tokenizer.pad_token_id)
    with torch.no_grad():
        return model(**batch).loss.item()


def test_finetune_learns_saves_and_reloads(tiny_model_dir, small_benchmark, tmp_path, capsys):
    out = tmp_path / "target"
    status = main(["finetune", "--model", str(tiny_model_dir), "--data", str(small_benchmark), "--out", str(out),
                   "--epochs", "8", "--learning-rate", "5e-3", "--batch-size", "2", "--check-facts", "4",
                   "--max-new-tokens", "8", "--device", "cpu", "--warmup-epochs", "0"])
    assert status == 0
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["examples"] == 4 and summary["optimizer_steps"] == 16
    assert 0.0 <= summary["fact_accuracy"] <= 1.0 and len(summary["fact_check"]) == 4
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    assert not (out / "checkpoints").exists()  # removed after success
    assert json.loads((out / "unlearn_settings.json").read_text())["learning_rate"] == 5e-3
    assert answer_nll(out, small_benchmark) < answer_nll(tiny_model_dir, small_benchmark) - 0.5
    assert "model saved to" in capsys.readouterr().out


def test_lora_finetune_saves_an_adapter(tiny_model_dir, small_benchmark, tmp_path):
    out = tmp_path / "lora"
    assert main(["finetune", "--model", str(tiny_model_dir), "--data", str(small_benchmark), "--out", str(out),
                 "--epochs", "1", "--lora", "--lora-r", "2", "--check-facts", "0", "--device", "cpu"]) == 0
    assert (out / "adapter_config.json").is_file() and (out / "adapter_model.safetensors").is_file()
    model, _ = load_model(str(out), device="cpu")
    assert type(model).__name__ == "PeftModelForCausalLM"


def test_output_folder_of_another_run_is_refused(tiny_model_dir, small_benchmark, tmp_path, capsys):
    out = tmp_path / "run"
    common = ["finetune", "--model", str(tiny_model_dir), "--data", str(small_benchmark), "--out", str(out),
              "--check-facts", "0", "--device", "cpu"]
    assert main(common + ["--epochs", "1"]) == 0
    assert main(common + ["--epochs", "2"]) == 2
    assert "holds a run with other settings (epochs)" in capsys.readouterr().err
    (tmp_path / "stranger").mkdir()
    (tmp_path / "stranger" / "notes.txt").write_text("mine")
    assert main(common[:-4] + ["--out", str(tmp_path / "stranger"), "--device", "cpu"]) == 2
    assert "is not empty and holds no llm-unlearn run" in capsys.readouterr().err


def test_non_finite_gradient_stops_fine_tuning_too(tiny_model_dir, small_benchmark, tmp_path):
    """The gradient check lives in the shared ``train()``: plain fine-tuning is protected as unlearning is."""
    class SpoilSecondStep(TrainerCallback):  # runs before the check: it was added first
        def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
            if state.global_step == 1:
                next(p for p in model.parameters() if p.grad is not None).grad.fill_(float("nan"))

    settings = FinetuneSettings(model=str(tiny_model_dir), data=str(small_benchmark), out=str(tmp_path / "o"),
                                epochs=2, batch_size=2, check_facts=0, device="cpu", warmup_epochs=0)
    with pytest.raises(NonFiniteLoss, match="gradient norm became nan at step 2; stopped before the optimizer step"):
        finetune(settings, callbacks=[SpoilSecondStep()])
    assert not (tmp_path / "o" / "train_summary.json").exists()


@pytest.mark.parametrize("epochs,warmup_epochs,warned", [(1, 1.0, True), (1, 0.0, False), (4, 1.0, False)])
def test_a_run_that_is_all_warmup_is_warned(tmp_path, caplog, epochs, warmup_epochs, warned):
    from types import SimpleNamespace

    from conftest import make_model
    from unlearn.training.arguments import training_arguments

    settings = SimpleNamespace(epochs=epochs, learning_rate=1e-3, batch_size=4, gradient_accumulation_steps=1,
                               weight_decay=0.0, logging_steps=1, save_checkpoints=False, report_to="none", seed=0,
                               gradient_checkpointing=False, warmup_epochs=warmup_epochs, lr_schedule="linear",
                               optim="adamw_torch")
    with caplog.at_level("WARNING", logger="unlearn.training.arguments"):
        args = training_arguments(settings, make_model(50), 8, tmp_path)
    assert args.warmup_steps == round(2 * warmup_epochs)
    assert ("are in the learning-rate warmup" in caplog.text) == warned


def test_training_flushes_subnormal_floats_to_zero(tiny_model_dir):
    # a saturated loss term sends subnormal gradients through the backward pass, 37x slower a pass on this CPU
    from types import SimpleNamespace

    from unlearn.training.common import prepare_model

    torch.set_flush_denormal(False)  # an earlier training test in this process may have turned it on
    subnormal = torch.tensor([1e-39])
    assert (subnormal * 2).item() > 0
    settings = SimpleNamespace(threads=None, seed=0, model=str(tiny_model_dir), dtype="float32", device="cpu",
                               trust_remote_code=False, allow_pickle=False, lora=False, prompt_template="auto",
                               plain_template="Question: {question}\nAnswer:", max_length=64)
    prepare_model(settings)
    assert (subnormal * 2).item() == 0.0
