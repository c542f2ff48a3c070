"""The other method families end to end on a tiny model: forget, load back, evaluate, attack."""

from __future__ import annotations

import json

import pytest
import torch

from unlearn.cli.main import main
from unlearn.families import PROCEDURES
from unlearn.models.loading import load_model
from unlearn.models.unlearned import MANIFEST

FAMILY_METHODS = ["TaskVector", "WHP", "WHP-decoding", "ULD", "ICUL", "Guardrail", "SelectivePruning"]


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench")
    assert main(["data", "fictitious", "--out", str(folder), "--people", "10", "--qa-per-person", "2"]) == 0
    (folder / "refusals.txt").write_text("I don't know.\nI have no idea about that.\n")
    return folder


def run_forget(model_dir, bench, out, method, *extra):
    return main(["-q", "forget", "--model", str(model_dir), "--data", str(bench), "--forget", "forget10",
                 "--retain", "retain90", "--method", method, "--out", str(out), "--epochs", "1", "--batch-size", "2",
                 "--gradient-accumulation-steps", "1", "--learning-rate", "1e-3", "--device", "cpu",
                 "--refusals", str(bench / "refusals.txt"), "--warmup-epochs", "0", "--uld-layers", "1", *extra])


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
