"""Two CPU processes under torchrun (gloo, DDP through accelerate) equal one process with the same
effective batch: the cached NPO reference and the frozen KL/UNDIAL reference both work there."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from conftest import make_model, make_tokenizer, write_jsonl

# Every answer has the same token count, so a per-process token mean averaged over two
# processes equals the token mean over the whole batch: the comparison can be exact.
LETTERS = ["b", "d", "e", "f"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    tokenizer = make_tokenizer()
    model = make_model(len(tokenizer))
    model.config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(root / "model")
    tokenizer.save_pretrained(root / "model")
    forget = [{"question": f"When was person {w} born?", "answer": f"Person {w} was born in London."} for w in LETTERS]
    retain = [{"question": f"Where does writer {w} live?", "answer": f"Writer {w} lives in Paris."} for w in LETTERS]
    assert len({len(tokenizer(r["answer"])["input_ids"]) for r in forget + retain}) == 2
    (root / "bench").mkdir()
    write_jsonl(root / "bench" / "forget.jsonl", forget)
    write_jsonl(root / "bench" / "retain.jsonl", retain)
    return root


def unlearn(root, method: str, processes: int, name: str):
    args = ["-q", "forget", "--model", str(root / "model"), "--data", str(root / "bench"), "--forget", "forget",
            "--retain", "retain", "--method", method, "--out", str(root / name), "--epochs", "2",
            "--batch-size", str(4 // processes), "--gradient-accumulation-steps", "1", "--learning-rate", "1e-3",
            "--warmup-epochs", "0", "--device", "cpu", "--logging-steps", "1"]  # logged losses are gathered over processes
    if processes == 1:
        command = [sys.executable, "-m", "unlearn.cli.main", *args]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
                   "-m", "unlearn.cli.main", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((root / name / "train_summary.json").read_text())
    return summary, load_file(root / name / "model.safetensors")


@pytest.mark.parametrize("method", ["NPO", "UNDIAL+KL"])
def test_two_processes_match_one(setup, method):
    one_summary, one_weights = unlearn(setup, method, 1, f"{method}-one")
    two_summary, two_weights = unlearn(setup, method, 2, f"{method}-two")
    assert one_summary["optimizer_steps"] == two_summary["optimizer_steps"] == 2
    assert two_summary["train_loss"] == pytest.approx(one_summary["train_loss"], abs=1e-5)
    initial = make_model(len(make_tokenizer())).state_dict()
    moved = max((one_weights[k] - initial[k]).abs().max().item() for k in one_weights)
    assert moved > 1e-4  # training really changed the weights
    for key, value in one_weights.items():
        assert torch.allclose(value, two_weights[key], atol=1e-5), key
