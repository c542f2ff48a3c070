"""The real default path: packaged SmolLM2 GGUF -> cached safetensors -> train -> save -> reload.

Slow-ish (the first conversion takes about 40 s on 2 cores, then it is cached), but it is
the path every newcomer takes, so it runs in the default suite.
"""

from __future__ import annotations

import json

import pytest
import torch

from unlearn.cli.main import main
from unlearn.models.gguf import converted_gguf_dir, packaged_gguf
from unlearn.models.loading import load_model

pytestmark = pytest.mark.slow


def test_packaged_gguf_converts_once_into_a_plain_llama_folder():
    folder = converted_gguf_dir(packaged_gguf())
    assert (folder / "model.safetensors").is_file()
    assert converted_gguf_dir(packaged_gguf()) == folder  # cached: same folder, no second conversion
    config = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in config and config["model_type"] == "llama"


def test_default_model_trains_saves_and_reloads(tmp_path):
    bench = tmp_path / "bench"
    assert main(["data", "fictitious", "--out", str(bench), "--people", "10", "--qa-per-person", "1"]) == 0
    out = tmp_path / "target"
    assert main(["finetune", "--data", str(bench), "--split", "forget10", "--out", str(out), "--epochs", "1",
                 "--batch-size", "1", "--learning-rate", "1e-4", "--check-facts", "1", "--max-new-tokens", "4",
                 "--threads", "2", "--device", "cpu"]) == 0
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["optimizer_steps"] == 1 and summary["examples"] == 1
    reloaded, tokenizer = load_model(str(out), device="cpu")
    original, _ = load_model("smollm2-135m-instruct", device="cpu")
    ids = tokenizer("The capital of France is", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        changed = (reloaded(ids).logits - original(ids).logits).abs().max().item()
    assert 0 < changed < 5  # one small step moved the weights, and they were saved
