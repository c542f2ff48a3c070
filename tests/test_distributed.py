"""Two CPU processes (gloo) equal one process with the same effective batch: under DDP (torchrun) and
under FSDP (accelerate launch with configs/accelerate/fsdp.yaml), for the cached NPO reference and the
frozen KL/UNDIAL reference; and each process's retain items are its own share of one process's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import make_model, make_tokenizer, write_jsonl

# Every answer has the same token count, so a per-process token mean averaged over two
# processes equals the token mean over the whole batch: the comparison can be exact.
LETTERS = ["b", "d", "e", "f"]
LAUNCHER = str(Path(__file__).with_name("distributed_run.py"))  # unlearn's CLI; FSDP on CPU; records
FSDP_CONFIG = str(Path(__file__).parents[1] / "configs" / "accelerate" / "fsdp.yaml")
# NPO's runs evaluate during training and keep the checkpoint of least forget probability (the chosen
# weights are gathered from the FSDP shards by every process): the curve changes none of the training
CURVE = ["--curve.examples", "3", "--curve.max-new-tokens", "4", "--select", "expression",
         "--expression.expression", "forget.probability", "--expression.goal", "minimize"]


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


@pytest.fixture(scope="module")
def runs(setup):
    """``runs(method, launch)`` -> (summary, weights, records by rank), each run once per module."""
    done = {}

    def run(method: str, launch: str):
        if (method, launch) not in done:
            done[method, launch] = unlearn(setup, method, launch, f"{method}-{launch}")
        return done[method, launch]

    return run


def unlearn(root, method: str, launch: str, name: str):
    """``launch``: one (a single process), ddp (torchrun, 2 processes) or fsdp (accelerate launch, 2)."""
    processes = 1 if launch == "one" else 2
    args = ["-q", "forget", "--model", str(root / "model"), "--data", str(root / "bench"), "--forget", "forget",
            "--retain", "retain", "--method", method, "--out", str(root / name), "--epochs", "2",
            "--batch-size", str(4 // processes), "--gradient-accumulation-steps", "1", "--learning-rate", "1e-3",
            "--warmup-epochs", "0", "--device", "cpu", "--logging-steps", "1",  # logged losses are gathered
            "--keep-checkpoints", *(CURVE if method == "NPO" else [])]
    launcher = {"one": [],
                "ddp": ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"],
                "fsdp": ["-m", "accelerate.commands.launch", "--config_file", FSDP_CONFIG, "--num_processes", "2",
                         "--main_process_port", "0"]}[launch]
    records = root / f"{name}-records"
    records.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "UNLEARN_TEST_RECORD": str(records)}
    done = subprocess.run([sys.executable, *launcher, LAUNCHER, *args], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((root / name / "train_summary.json").read_text())
    recorded = [json.loads((records / f"rank{rank}.json").read_text()) for rank in range(processes)]
    return summary, load_file(root / name / "model.safetensors"), recorded


def assert_same_training(one, two):
    (one_summary, one_weights, _), (two_summary, two_weights, _) = one, two
    assert one_summary["optimizer_steps"] == two_summary["optimizer_steps"] == 2
    assert two_summary["train_loss"] == pytest.approx(one_summary["train_loss"], abs=1e-5)
    initial = make_model(len(make_tokenizer())).state_dict()
    moved = max((one_weights[k] - initial[k]).abs().max().item() for k in one_weights)
    assert moved > 1e-4  # training really changed the weights
    assert two_weights.keys() == one_weights.keys()  # tied embeddings saved once, as by one process
    for key, value in one_weights.items():
        assert torch.allclose(value, two_weights[key], atol=1e-5), key


@pytest.mark.parametrize("method", ["NPO", "UNDIAL+KL"])
def test_two_processes_match_one(runs, method):
    assert_same_training(runs(method, "one"), runs(method, "ddp"))


@pytest.mark.parametrize("method", ["NPO", "UNDIAL+KL"])
def test_fsdp_matches_one(runs, setup, method):
    """FSDP2 shards the trained model (its checkpoints are FSDP shards) and, for UNDIAL+KL, the frozen
    reference; NPO's reference log-probs are cached before sharding. Weights and loss equal one process's."""
    two = runs(method, "fsdp")
    assert_same_training(runs(method, "one"), two)
    checkpoint = setup / f"{method}-fsdp" / "checkpoints" / "checkpoint-2"
    assert (checkpoint / "pytorch_model_fsdp_0").is_dir()
    expected = True if method == "UNDIAL+KL" else None  # NPO keeps no frozen model
    assert [rank["reference_sharded"] for rank in two[2]] == [expected, expected]


def test_every_process_evaluates_the_same_curve_and_makes_the_same_choice(runs, setup):
    """Under DDP and FSDP the processes score the same subset (FSDP: every forward pass is a collective),
    the main one writes: the curve and the choice are one process's."""
    from unlearn.selection.trajectory import read_trajectory

    one, _ = read_trajectory(setup / "NPO-one" / "trajectory.json")
    assert [c.step for c in one] == [0, 1, 2]
    for launch in ("ddp", "fsdp"):
        summary, _, _ = runs("NPO", launch)
        curve, selected = read_trajectory(setup / f"NPO-{launch}" / "trajectory.json")
        assert [c.step for c in curve] == [0, 1, 2] and summary["selection"]["step"] == selected["step"]
        assert selected["step"] == min(one, key=lambda c: c.value("forget.probability")).step
        for mine, theirs in zip(curve, one):
            assert mine.metrics.keys() == theirs.metrics.keys()
            for name, value in mine.metrics.items():
                assert value == pytest.approx(theirs.value(name), abs=1e-5), (launch, mine.step, name)


def test_retain_items_are_per_rank_and_reproducible(runs):
    """open-unlearning's issue #139 is every rank drawing the same retain items. Here each training step's
    retain items, as the step's batch held them: the two processes' differ, together they are the one
    process's items of that step, and a second two-process run (the FSDP one, started by accelerate
    launch rather than torchrun) draws the same."""
    _, _, [one] = runs("UNDIAL+KL", "one")
    _, _, ranks = runs("UNDIAL+KL", "ddp")
    _, _, again = runs("UNDIAL+KL", "fsdp")
    assert [step["step"] for step in one["steps"]] == [0, 1]
    for step, single in enumerate(one["steps"]):
        zero, first = ranks[0]["steps"][step], ranks[1]["steps"][step]
        assert len(zero["retain"]) == len(first["retain"]) == 2
        assert not set(zero["retain"]) & set(first["retain"])  # no retain item drawn by both ranks
        assert sorted(zero["retain"] + first["retain"]) == sorted(single["retain"])
        assert sorted(zero["forget"] + first["forget"]) == sorted(single["forget"])
    assert sorted(one["steps"][0]["retain"]) == [0, 1, 2, 3]  # an epoch meets every retain item once
    assert [rank["steps"] for rank in again] == [rank["steps"] for rank in ranks]
