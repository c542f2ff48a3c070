"""Atomic, resumable, deterministic runs, proved with real process deaths on a tiny model (CPU).

* ``unlearn forget`` (and ``unlearn finetune``) killed with SIGKILL right after a checkpoint is
  saved leaves no summary and no model; ``--resume`` continues from that checkpoint (only the
  remaining steps run) and ends with bit-identical weights and the same ``train_summary.json``
  (timings apart) as a run never killed.
* ``unlearn run`` killed inside a forget step, then run again, ends with evaluation summaries
  byte-identical to those of an uninterrupted run of the same experiment in another folder:
  resume and determinism (same config and seed) in one comparison.
* ``unlearn eval`` killed while writing its files leaves no ``summary.json``, not even the one
  of an earlier finished evaluation of the same folder; run again, it completes.
* Ctrl-C (SIGINT) during ``unlearn forget`` exits with status 130 and one line on stderr.
"""

from __future__ import annotations

import csv
import importlib
import io
import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from safetensors.torch import load_file
from transformers import TrainerCallback

from unlearn.cli.main import main
from unlearn.training.common import last_complete_checkpoint, mean_logged_loss

TIMING_KEYS = {"train_seconds", "total_seconds"}
EPOCHS, STEPS_PER_EPOCH = 3, 2  # 2 training records, batch size 1

# Inserted before ``main(argv)`` in a child process: every training run of COMMAND gets a callback
# that sends SIGNAL to the process itself once the checkpoint of step AT_STEP is on disk
# (the Trainer calls ``on_save`` after writing the checkpoint folder).
SIGNAL_AFTER_CHECKPOINT = """
from transformers import TrainerCallback
import unlearn.training.{command} as target

class SignalAfterSave(TrainerCallback):
    def on_save(self, args, state, control, **kwargs):
        if state.global_step == {at_step}:
            os.kill(os.getpid(), signal.{signal})

real_train = target.train
target.train = lambda trainer, folder, resume, callbacks=None: real_train(
    trainer, folder, resume, [*(callbacks or []), SignalAfterSave()])
"""

# Kills an ``unlearn eval`` child once it has written ``forget.json``, before the other files.
KILL_AFTER_FORGET_JSON = """
from pathlib import Path
import unlearn.evaluation.results as target

real_write = target.atomic_write_json
def write_then_die(path, obj):
    real_write(path, obj)
    if Path(path).name == "forget.json":
        os.kill(os.getpid(), signal.SIGKILL)
target.atomic_write_json = write_then_die
"""


def train_argv(command, model_dir, data, out, *extra) -> list[str]:
    """A tiny ``unlearn forget`` (NPO+GD) or ``unlearn finetune`` run on the 2 forget records:
    3 epochs of 2 steps, warmup, a checkpoint per epoch, one thread."""
    common = ["--model", str(model_dir), "--data", str(data), "--out", str(out), "--epochs", str(EPOCHS),
              "--batch-size", "1", "--gradient-accumulation-steps", "1", "--learning-rate", "1e-3",
              "--warmup-epochs", "1", "--seed", "7", "--device", "cpu", "--threads", "1", *extra]
    if command == "forget":
        return ["-q", "forget", "--forget", "forget", "--retain", "retain3", "--method", "NPO+GD", *common]
    return ["-q", "finetune", "--split", "forget", "--check-facts", "0", *common]


def run_child(argv: list[str], patch: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``unlearn ARGV`` in a fresh Python process, with ``patch`` (Python source) applied first."""
    # a shell starts background jobs with SIGINT ignored, which Python then keeps: restore Ctrl-C
    source = (f"import os, signal, sys\nsignal.signal(signal.SIGINT, signal.default_int_handler)\n{patch}\n"
              f"from unlearn.cli.main import main\nsys.exit(main({argv!r}))\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run([sys.executable, "-c", source], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def run_with_signal(argv: list[str], at_step: int, sig: str = "SIGKILL", cwd: Path | None = None,
                    command: str = "forget") -> subprocess.CompletedProcess:
    return run_child(argv, SIGNAL_AFTER_CHECKPOINT.format(command=command, at_step=at_step, signal=sig), cwd)


class StepCounter(TrainerCallback):
    def __init__(self):
        self.steps = []

    def on_step_end(self, args, state, control, **kwargs):
        self.steps.append(state.global_step)


def count_steps(monkeypatch, command: str = "forget") -> StepCounter:
    """Records the optimizer steps that ``forget`` (or ``finetune``) runs in this process."""
    module = importlib.import_module(f"unlearn.training.{command}")
    counter, real_train = StepCounter(), module.train
    monkeypatch.setattr(module, "train", lambda trainer, folder, resume, callbacks=None: real_train(
        trainer, folder, resume, [*(callbacks or []), counter]))
    return counter


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture()
def bench(small_benchmark) -> Path:
    """``small_benchmark`` with a 3-record retain split: each epoch pairs the 2 forget records with
    other retain records, so a resumed run that lost track of the epoch would train differently."""
    retain = (small_benchmark / "retain.jsonl").read_text(encoding="utf-8")
    extra = {"question": "Where was Mirela Okonkwo born?", "answer": "Mirela Okonkwo was born in Lagos.",
             "fact": "Lagos", "paraphrased_answer": "Mirela Okonkwo's birthplace is Lagos.",
             "perturbed_answer": ["Mirela Okonkwo was born in Paris.", "Mirela Okonkwo was born in Rome."]}
    (small_benchmark / "retain3.jsonl").write_text(retain + json.dumps(extra) + "\n", encoding="utf-8")
    return small_benchmark


@pytest.mark.parametrize("command", ["forget", "finetune"])
def test_training_killed_after_a_checkpoint_resumes_to_the_uninterrupted_result(tiny_model_dir, bench, tmp_path,
                                                                                monkeypatch, command):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert main(train_argv(command, tiny_model_dir, bench, whole)) == 0

    child = run_with_signal(train_argv(command, tiny_model_dir, bench, killed), STEPS_PER_EPOCH, command=command)
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    assert (killed / "checkpoints" / f"checkpoint-{STEPS_PER_EPOCH}" / "trainer_state.json").is_file()
    assert not (killed / "train_summary.json").exists()
    assert not list(killed.glob("*.safetensors"))  # no final model

    counter = count_steps(monkeypatch, command)
    assert main(train_argv(command, tiny_model_dir, bench, killed, "--resume")) == 0
    assert counter.steps == list(range(STEPS_PER_EPOCH + 1, EPOCHS * STEPS_PER_EPOCH + 1))  # really resumed

    expected, resumed = load_file(whole / "model.safetensors"), load_file(killed / "model.safetensors")
    assert expected.keys() == resumed.keys()
    different = [name for name in expected if not (expected[name] == resumed[name]).all()]
    assert not different, f"resumed weights differ from the uninterrupted run: {different}"
    summaries = [{k: v for k, v in read_json(folder / "train_summary.json").items() if k not in TIMING_KEYS}
                 for folder in (whole, killed)]
    assert summaries[0] == summaries[1]
    assert summaries[0]["optimizer_steps"] == EPOCHS * STEPS_PER_EPOCH


def test_forget_interrupted_with_ctrl_c_exits_130_with_one_line(tiny_model_dir, bench, tmp_path):
    out = tmp_path / "out"
    child = run_with_signal(train_argv("forget", tiny_model_dir, bench, out), STEPS_PER_EPOCH, sig="SIGINT")
    assert child.returncode == 130, child.stderr[-2000:]
    # (progress bars also write to stderr, before and after the message)
    messages = [line for line in child.stderr.splitlines() if line.startswith("unlearn: interrupted")]
    assert messages == ["unlearn: interrupted; finished results are kept, unfinished ones were not written"]
    assert "Traceback" not in child.stderr
    assert not (out / "train_summary.json").exists()


def eval_argv(model_dir, data, out) -> list[str]:
    return ["-q", "eval", "--model", str(model_dir), "--data", str(data), "--out", str(out), "--forget", "forget",
            "--retain-split", "retain", "--real-authors", "none", "--world-facts", "none", "--holdout", "none",
            "--embedder", "none", "--nli-model", "none", "--max-new-tokens", "4", "--device", "cpu",
            "--threads", "1"]


def test_eval_killed_midway_leaves_no_summary_even_a_stale_one(tiny_model_dir, small_benchmark, tmp_path):
    out = tmp_path / "eval"
    argv = eval_argv(tiny_model_dir, small_benchmark, out)
    assert main(argv) == 0
    finished = (out / "summary.json").read_bytes()
    previous = {name: (out / name).stat().st_ino for name in ("forget.json", "retain.json")}

    child = run_child(argv, KILL_AFTER_FORGET_JSON)
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    # killed in the middle of writing the results: forget.json is new (an atomic write is a new
    # file), retain.json is still the previous evaluation's
    assert (out / "forget.json").stat().st_ino != previous["forget.json"]
    assert (out / "retain.json").stat().st_ino == previous["retain.json"]
    assert not (out / "summary.json").exists()

    assert main(argv) == 0
    assert (out / "summary.json").read_bytes() == finished
    assert set(read_json(out / "summary.json")["splits"]) == {"forget", "retain"}


def write_experiment(folder: Path, model_dir: Path) -> Path:
    """A fictitious experiment small enough for a test (no semantic models, 3 forget epochs).

    No ``out``: the run folder is ``runs/tiny`` relative to the working directory. An evaluation
    summary names its model and data as given, i.e. step folders under the run folder, so the two
    runs compared use the same relative run folder from two working directories."""
    folder.mkdir()
    experiment = {"name": "tiny", "model": str(model_dir), "people": 10, "qa_per_person": 2, "utility_records": 2,
                  "device": "cpu", "threads": 1, "methods": ["NPO+GD"],
                  "finetune": {"epochs": 1, "batch_size": 8, "check_facts": 0},
                  "unlearn": {"epochs": EPOCHS, "batch_size": 1, "gradient_accumulation_steps": 1,
                              "learning_rate": 1e-3, "warmup_epochs": 1},
                  "eval": {"max_new_tokens": 4, "embedder": "none", "nli_model": "none"}}
    path = folder / "experiment.yaml"
    path.write_text(yaml.safe_dump(experiment), encoding="utf-8")
    return path


def without_column(text: str, column: str) -> list[dict]:
    return [{k: v for k, v in row.items() if k != column} for row in csv.DictReader(io.StringIO(text))]


def test_run_killed_in_a_forget_step_resumes_to_byte_identical_summaries(tiny_model_dir, tmp_path, monkeypatch):
    first, second = tmp_path / "a", tmp_path / "b"
    experiment_a, experiment_b = write_experiment(first, tiny_model_dir), write_experiment(second, tiny_model_dir)
    monkeypatch.chdir(first)
    assert main(["-q", "run", str(experiment_a)]) == 0

    child = run_with_signal(["-q", "run", str(experiment_b)], at_step=STEPS_PER_EPOCH, cwd=second)
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    steps_b = second / "runs" / "tiny" / "steps"
    forget_step = next(steps_b.glob("forget-*"))
    assert (forget_step / "checkpoints" / f"checkpoint-{STEPS_PER_EPOCH}").is_dir()
    assert not (forget_step / "step_done.json").exists()
    assert not list(steps_b.glob("eval-NPO*"))  # killed before the method's evaluation

    monkeypatch.chdir(second)
    counter = count_steps(monkeypatch)
    assert main(["-q", "run", str(experiment_b)]) == 0
    assert counter.steps == list(range(STEPS_PER_EPOCH + 1, EPOCHS * STEPS_PER_EPOCH + 1))  # resumed, not redone

    steps_a = first / "runs" / "tiny" / "steps"
    summaries = sorted(path.relative_to(steps_a) for path in steps_a.glob("eval-*/summary.json"))
    assert len(summaries) == 3  # retain model, target, NPO+GD
    assert summaries == sorted(path.relative_to(steps_b) for path in steps_b.glob("eval-*/summary.json"))
    for name in summaries:
        assert (steps_a / name).read_bytes() == (steps_b / name).read_bytes(), name
    # summary.csv carries train_seconds, a timing: everything else must match
    csv_a, csv_b = ((folder / "runs" / "tiny" / "summary.csv").read_text() for folder in (first, second))
    assert without_column(csv_a, "train_seconds") == without_column(csv_b, "train_seconds")


def test_mean_logged_loss_weights_each_log_by_its_steps():
    history = [{"loss": 2.0, "step": 2}, {"eval_loss": 9.0, "step": 2}, {"loss": 1.0, "step": 3},
               {"train_runtime": 1.0, "step": 3}]
    assert mean_logged_loss(history) == pytest.approx((2.0 * 2 + 1.0 * 1) / 3)
    assert math.isnan(mean_logged_loss([]))


def test_a_checkpoint_cut_off_mid_save_is_skipped_on_resume(tmp_path):
    for step, complete in ((2, True), (4, True), (6, False)):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"")
        if complete:
            (folder / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-final").mkdir()
    assert last_complete_checkpoint(tmp_path) == tmp_path / "checkpoint-4"
    assert last_complete_checkpoint(tmp_path / "none") is None
