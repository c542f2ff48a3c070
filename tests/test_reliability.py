"""What a new user tries that is not a refusal of one input: a refused run does not block its own
correction, one output folder is written by one process at a time, the Python API refuses as the
command does, files other tools write are read, and a command's screen holds only our output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import write_jsonl
from unlearn.cli.main import main
from unlearn.data.benchmark import read_split_file
from unlearn.errors import UserError

LOCK_FILE = ".unlearn.lock"
GOOD = {"question": "Where was Ada born?", "answer": "Ada was born in London."}


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bench")
    records = [{"question": f"Where was person {i} born?", "answer": f"Person {i} was born in city {i}."}
               for i in range(4)]
    write_jsonl(folder / "forget.jsonl", records[:2])
    write_jsonl(folder / "retain.jsonl", records[2:])
    return folder


def eval_argv(model, bench: Path, out: Path) -> list[str]:
    return ["eval", "--model", str(model), "--data", str(bench), "--forget", "forget", "--retain-split", "retain",
            "--real-authors", "none", "--world-facts", "none", "--holdout", "none", "--embedder", "none",
            "--nli-model", "none", "--max-new-tokens", "4", "--out", str(out), "--device", "cpu"]


def test_a_refused_run_leaves_nothing_and_its_correction_runs(bench, tiny_model_dir, tmp_path):
    out = tmp_path / "eval"
    assert main(eval_argv(tmp_path / "tiny-modle", bench, out)) == 2  # the model fails to load
    assert not out.exists()
    assert main(eval_argv(tiny_model_dir, bench, out)) == 0
    assert (out / "summary.json").is_file() and not (out / LOCK_FILE).exists()


def test_a_settings_file_alone_is_not_a_run(bench, tiny_model_dir, tmp_path):
    """The leftover of a run that stopped before writing anything (an older version, a kill)."""
    out = tmp_path / "eval"
    out.mkdir()
    (out / "unlearn_settings.json").write_text(json.dumps({"model": "tiny-modle"}))
    assert main(eval_argv(tiny_model_dir, bench, out)) == 0


def test_a_folder_held_by_a_running_process_is_refused_and_a_stale_lock_taken_over(tmp_path):
    from unlearn.files import output_lock

    folder = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UserError, match=rf"is in use by another llm-unlearn process \(pid {holder.pid}\)"):
            with output_lock(folder):
                pass
    finally:
        holder.kill()
        holder.wait()
    assert (folder / LOCK_FILE).is_file()  # killed: its lock is left, and stale
    with output_lock(folder):
        assert json.loads((folder / LOCK_FILE).read_text())["pid"] == os.getpid()
    assert list(folder.iterdir()) == []  # the stale lock is gone with ours


HOLD = "import sys, time\nfrom unlearn.files import output_lock\nwith output_lock(sys.argv[1]):\n" \
       "    print('held', flush=True)\n    time.sleep(60)\n"


def test_a_command_inside_a_command_reenters_its_lock(tmp_path):
    from unlearn.files import output_lock

    with output_lock(tmp_path / "run"):
        with output_lock(tmp_path / "run"):
            (tmp_path / "run" / "result.txt").write_text("kept")
        assert (tmp_path / "run" / LOCK_FILE).is_file()
    assert (tmp_path / "run" / "result.txt").is_file() and not (tmp_path / "run" / LOCK_FILE).exists()


@pytest.mark.parametrize("call, message", [
    (lambda tmp: __import__("unlearn").evaluate(123, "x", out=tmp / "e"), r"takes a model folder, a Hub id or a"),
    (lambda tmp: __import__("unlearn").compare(["a"], out=tmp / "c"), r"a holds neither a finished evaluation"),
    (lambda tmp: __import__("unlearn").compare("a", out=None), r"compare\(out=\.\.\.\) takes a folder or file path"),
    (lambda tmp: __import__("unlearn").run(123), r"run\(experiment=\.\.\.\) takes a YAML file or a dict"),
    (lambda tmp: __import__("unlearn").forget(config=123, out=tmp / "f"), r"config= takes a folder or file path"),
    (lambda tmp: __import__("unlearn").write_report(None), r"write_report\(folder=\.\.\.\) takes a folder"),
])
def test_the_api_refuses_with_a_user_error_and_leaves_nothing(call, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match=message):
        call(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_string_where_a_list_is_expected_is_one_name(tmp_path):
    import unlearn

    folder = tmp_path / "eval"
    folder.mkdir()
    (folder / "summary.json").write_text(json.dumps({"overall": {"forget_quality": 0.5}, "splits": {}}))
    board = unlearn.compare(folder, out=tmp_path / "board", labels="mine", metrics="forget_quality")
    assert [e.label for e in board.entries] == ["mine"] and board.columns == [("overall", "forget_quality")]


def test_a_split_file_with_a_byte_order_mark_is_read_as_utf8(tmp_path):
    path = tmp_path / "forget.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + (json.dumps(GOOD) + "\n").encode())
    assert read_split_file(path) == [GOOD]


def test_a_manifest_part_is_read_from_the_manifest_folder_not_the_current_one(tiny_model_dir, tmp_path, monkeypatch):
    from unlearn.models.loading import load_model

    (tmp_path / "manifest").mkdir()
    (tmp_path / "manifest" / "unlearned_model.json").write_text(json.dumps(
        {"format_version": 1, "kind": "prompted", "parts": {"main": "inner"}}))
    os.symlink(tiny_model_dir, tmp_path / "inner")  # beside the manifest folder, not in it
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match=r"part 'inner' not found: .*manifest/inner does not exist"):
        load_model(str(tmp_path / "manifest"), device="cpu")
    os.symlink(tiny_model_dir, tmp_path / "manifest" / "inner")
    monkeypatch.chdir("/")
    model, _ = load_model(str(tmp_path / "manifest"), device="cpu")
    assert model.manifest["parts"]["main"] == "inner"


def test_a_manifest_naming_itself_is_refused(tmp_path):
    from unlearn.models.loading import load_model

    (tmp_path / "unlearned_model.json").write_text(json.dumps(
        {"format_version": 1, "kind": "prompted", "parts": {"main": "."}}))
    with pytest.raises(UserError, match="its parts lead back to itself"):
        load_model(str(tmp_path), device="cpu")


def test_unlearn_report_on_a_damaged_experiment_is_one_line(tmp_path, capsys):
    (tmp_path / "experiment.json").write_text("{")
    assert main(["report", str(tmp_path)]) == 2
    assert "experiment.json is damaged (not valid JSON" in capsys.readouterr().err


def test_a_command_prints_only_our_own_output(bench, tiny_model_dir, tmp_path):
    """bitsandbytes (imported by peft) logs that it cannot fetch a CPU kernel, or, offline, that it
    skips the kernel's publisher check; rouge_score logs its tokenizer: none of it is ours."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    code = ("import sys\nfrom unlearn.cli.main import main\n"
            "import peft  # as a command that trains or loads a LoRA adapter does\nsys.exit(main(sys.argv[1:]))")
    argv = [sys.executable, "-c", code, *eval_argv(tiny_model_dir, bench, tmp_path / "eval")]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stderr.replace("\r", "\n").splitlines() if line.strip()]
    foreign = [line for line in lines if not line.startswith(("INFO unlearn", "WARNING unlearn"))
               and "it/s]" not in line and "batch/s]" not in line]
    assert not foreign, foreign
