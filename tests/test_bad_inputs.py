"""The catalog of bad inputs: each one, given to the command line, ends with exit status 2, one
line ``unlearn: error: ...`` saying what is wrong and where, and no result that looks complete.

Every entry is also listed on the troubleshooting page, docs/troubleshooting.md (checked below), so the
list a user reads and the list that is tested are the same list.
"""

from __future__ import annotations

import errno
import json
import re
import shutil
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from conftest import make_model, make_tokenizer, write_jsonl
from unlearn.cli.main import main

TROUBLESHOOTING = Path(__file__).resolve().parent.parent / "docs" / "troubleshooting.md"
RESULT_FILES = {"summary.json", "train_summary.json", "model.safetensors", "adapter_model.safetensors",
                "experiment.json", "report.html", "step_done.json"}
GOOD = {"question": "Where was Ada born?", "answer": "Ada was born in London."}


@dataclass
class World:
    """What a catalog entry builds its command from: a scratch folder, a benchmark, a tiny model."""

    tmp: Path
    bench: Path
    model: Path
    monkeypatch: pytest.MonkeyPatch

    @property
    def out(self) -> Path:
        return self.tmp / "out"

    def forget(self, *extra: str, model: str | None = None, data: Path | None = None) -> list[str]:
        return ["forget", "--model", model or str(self.model), "--data", str(data or self.bench),
                "--forget", "forget", "--retain", "retain", "--method", "GA+GD", "--out", str(self.out),
                "--epochs", "1", "--batch-size", "2", "--device", "cpu", "--warmup-epochs", "0", *extra]

    def split_file(self, name: str, content: bytes) -> Path:
        """A copy of the benchmark whose split ``name`` holds ``content``."""
        folder = self.tmp / "bad-bench"
        if not folder.exists():
            shutil.copytree(self.bench, folder)
        (folder / f"{name}.jsonl").write_bytes(content)
        return folder

    def model_copy(self, change: Callable[[Path], None]) -> str:
        folder = self.tmp / "bad-model"
        shutil.copytree(self.model, folder)
        change(folder)
        return str(folder)

    def config(self, text: str) -> str:
        path = self.tmp / "c.yaml"
        path.write_text(text)
        return str(path)

    def experiment(self, text: str) -> list[str]:
        path = self.tmp / "experiment.yaml"
        path.write_text(text)
        return ["run", str(path)]


def gpt2_model(w: World) -> str:
    """A tiny GPT-2 (MLP weights named h.N.mlp.c_fc / c_proj, no down_proj) with the test tokenizer."""
    from transformers import GPT2Config, GPT2LMHeadModel

    folder = w.tmp / "gpt2"
    tok = make_tokenizer()
    GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_embd=16, n_layer=1, n_head=2, n_positions=256)
                    ).save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


@dataclass
class Case:
    name: str        # the troubleshooting entry in docs/troubleshooting.md
    build: Callable[[World], list[str]]
    message: str     # regular expression the error line must match


def line_of(record: dict) -> bytes:
    return (json.dumps(record) + "\n").encode()


def pickle_only(folder: Path) -> None:
    for weights in folder.glob("*.safetensors"):
        weights.unlink()
    tok = make_tokenizer()
    torch.save(make_model(len(tok)).state_dict(), folder / "pytorch_model.bin")


def remote_code(folder: Path) -> None:
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="custom-llm", auto_map={"AutoConfig": "custom.CustomConfig"})
    (folder / "config.json").write_text(json.dumps(config))


def no_pad_no_eos(folder: Path) -> None:
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config.update(pad_token=None, eos_token=None)
    (folder / "tokenizer_config.json").write_text(json.dumps(config))


def truncated_weights(folder: Path) -> None:
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:5])


def other_run(world: World) -> list[str]:
    world.out.mkdir()
    (world.out / "unlearn_settings.json").write_text(json.dumps({"method": "NPO"}))
    (world.out / "train_summary.json").write_text("{}")  # a settings file alone is a run that never started
    return world.forget()


def foreign_folder(world: World) -> list[str]:
    world.out.mkdir()
    (world.out / "notes.txt").write_text("mine")
    return world.forget()


def file_as_out(world: World) -> list[str]:
    world.out.write_text("a file")
    return world.forget()


def read_only_out(world: World) -> list[str]:
    """Permissions do not bind root (as in CI), so the refusal the OS would give is injected."""
    world.out.mkdir()
    real = tempfile.mkstemp

    def refuse(*args, dir=None, **kwargs):
        if dir is not None and Path(dir) == world.out:
            raise PermissionError(errno.EACCES, "Permission denied")
        return real(*args, dir=dir, **kwargs)

    world.monkeypatch.setattr(tempfile, "mkstemp", refuse)
    return world.forget()


def disk_full(world: World, target: str) -> None:
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    world.monkeypatch.setattr(target, full)


def disk_full_on_model_save(world: World) -> list[str]:
    disk_full(world, "transformers.modeling_utils.safe_save_file")
    return world.forget("--no-save-checkpoints")


def disk_full_on_checkpoint(world: World) -> list[str]:
    disk_full(world, "transformers.modeling_utils.safe_save_file")
    return world.forget()


def disk_full_on_results(world: World) -> list[str]:
    disk_full(world, "os.fsync")
    return ["data", "fictitious", "--out", str(world.out), "--people", "10"]


def retain_eval_of_other_benchmark(world: World) -> list[str]:
    other = world.tmp / "retain-eval"
    other.mkdir()
    (other / "summary.json").write_text("{}")
    (other / "forget.json").write_text(json.dumps({"examples": [{"question": "Who is Bob?", "truth_ratio": 0.5}]}))
    return ["eval", "--model", str(world.model), "--data", str(world.bench), "--forget", "forget",
            "--retain-split", "retain", "--real-authors", "none", "--world-facts", "none", "--holdout", "none",
            "--retain-eval", str(other), "--out", str(world.out), "--device", "cpu"]


def finished_eval(world: World) -> Path:
    """A minimal evaluation folder: a summary with no splits."""
    folder = world.tmp / "eval"
    folder.mkdir()
    (folder / "summary.json").write_text(json.dumps({"overall": {"model_utility_tofu": 0.5}, "splits": {}}))
    return folder


def compare_into_foreign_folder(world: World) -> list[str]:
    world.out.mkdir()
    (world.out / "notes.txt").write_text("mine")
    return ["compare", str(finished_eval(world)), "--out", str(world.out)]


def experiment_folder_of_another(world: World) -> list[str]:
    world.out.mkdir()
    (world.out / "experiment.json").write_text(json.dumps({"name": "other"}))
    return world.experiment(f"name: mine\nout: {world.out}\n")


CATALOG = [
    # data files
    Case("not valid JSON", lambda w: w.forget(data=w.split_file("forget", line_of(GOOD) + b'{"question": "Q?",\n')),
         r"forget\.jsonl:2: not valid JSON"),
    Case("field 'answer' is missing", lambda w: w.forget(data=w.split_file("forget", line_of({"question": "Q?"}))),
         r"forget\.jsonl:1: field 'answer' is missing"),
    Case("misspelled?",
         lambda w: w.forget(data=w.split_file("forget", line_of({"question": "Q?", "answr": "A"}))),
         r"forget\.jsonl:1: field 'answer' is missing \(found 'answr': misspelled\?\)"),
    Case("unknown field",
         lambda w: w.forget(data=w.split_file("forget", line_of({**GOOD, "perturbed_answers": ["x"]}))),
         r"forget\.jsonl:1: unknown field 'perturbed_answers' \(did you mean 'perturbed_answer'\?\)"),
    Case("must be a string", lambda w: w.forget(data=w.split_file("retain", line_of({**GOOD, "answer": 42}))),
         r"retain\.jsonl:1: field 'answer' must be a string, got int"),
    Case("must be a non-empty list of strings",
         lambda w: w.forget(data=w.split_file("forget", line_of({**GOOD, "perturbed_answer": []}))),
         r"forget\.jsonl:1: field 'perturbed_answer' must be a non-empty list of strings"),
    Case("not valid UTF-8", lambda w: w.forget(data=w.split_file("forget", line_of(GOOD) + b'{"question": "\xff"}\n')),
         r"forget\.jsonl:2: not valid UTF-8 \(byte 15\)"),
    Case("split is empty", lambda w: w.forget(data=w.split_file("forget", b"\n")), r"forget\.jsonl: split is empty"),
    Case("not found in", lambda w: w.forget("--forget", "forget99"),
         r"split 'forget99' not found in .* \(available: forget, full, retain\)"),
    Case("may only hold letters", lambda w: w.forget("--forget", "../../etc/passwd"),
         r"split name '\.\./\.\./etc/passwd' may only hold letters"),
    Case("nor is it a Hub id", lambda w: w.forget(data=w.tmp / "nowhere"),
         r"benchmark folder '.*nowhere' does not exist"),
    Case("--data takes the folder", lambda w: w.forget(data=w.bench / "forget.jsonl"),
         r"benchmark '.*forget\.jsonl' is a file; --data takes the folder that holds the split files"),
    # settings
    Case("unknown method", lambda w: w.forget("--method", "FORGETALL"), r"unknown method 'FORGETALL'"),
    Case("unknown regularizer", lambda w: w.forget("--method", "GA+XX"), r"unknown regularizer 'XX'"),
    Case("unknown method 'GA+'", lambda w: w.forget("--method", "GA+"), r"unknown method 'GA\+': a method is"),
    Case("cannot train a LoRA adapter", lambda w: w.forget("--method", "RMU", "--lora"),
         r"method RMU updates chosen full-weight layers and cannot train a LoRA adapter"),
    Case("needs a retain split", lambda w: w.forget("--retain", "none"), r"method GA\+GD needs a retain split"),
    Case("--reference: model path", lambda w: w.forget("--method", "NPO+KL", "--reference", "./no/ref"),
         r"--reference: model path \./no/ref does not exist"),
    Case("should be a valid number", lambda w: w.forget("--learning-rate", "fast"),
         r"invalid setting 'learning_rate' = 'fast'"),
    Case("should be greater than 0", lambda w: w.forget("--batch-size", "0"),
         r"invalid setting 'batch_size' = '0': Input should be greater than 0"),
    Case("should be 'auto', 'cpu', 'cuda' or 'mps'", lambda w: w.forget("--device", "tpu"),
         r"invalid setting 'device' = 'tpu'"),
    Case("unknown setting", lambda w: w.forget("--config", w.config("learnig_rate: 1e-5\n")),
         r"unknown setting 'learnig_rate' \(did you mean 'learning_rate'"),
    Case("not valid YAML", lambda w: w.forget("--config", w.config("method: !!python/object/apply:os.system [ls]\n")),
         r"c\.yaml:1: not valid YAML"),
    Case("cannot read refusal phrases", lambda w: w.forget("--method", "IDK+GD", "--refusals", "/no/refusals.txt"),
         r"cannot read refusal phrases from /no/refusals\.txt"),
    Case("should be 'paper' or 'code'", lambda w: w.forget("--method", "ME+GD", "--me.form", "both"),
         r"method_args\.ME\.form = 'both': Input should be 'paper' or 'code'"),
    Case("the model has layers", lambda w: w.forget("--method", "RMU", "--rmu.layer", "9"),
         r"RMU layer 9 does not exist: the model has layers 0\.\.1"),
    Case("RMU supports Llama-style layer names", lambda w: w.forget("--method", "RMU", "--rmu.layer", "0",
                                                                    model=gpt2_model(w)),
         r"RMU trains mlp\.down_proj of layers 0\.\.0, and this model has no parameter named"),
    Case("needs --dual.epsilon", lambda w: w.forget("--method", "PDU"),
         r"method PDU bounds the retain loss and needs --dual\.epsilon"),
    Case("do not apply to method", lambda w: w.forget("--method", "NPO+GD", "--rmu.layer", "3"),
         r"settings of 'RMU' do not apply to method NPO\+GD \(its parts with settings: NPO, dual\)"),
    # models
    Case("model path", lambda w: w.forget(model="./no/such/model"),
         r"model path \./no/such/model does not exist"),
    Case("has no config.json", lambda w: w.forget(model=w.model_copy(lambda f: (f / "config.json").unlink())),
         r"model folder .*bad-model has no config\.json"),
    Case("holds weights only as pickle", lambda w: w.forget(model=w.model_copy(pickle_only)),
         r"holds weights only as pickle \(pytorch_model\.bin\).*--allow-pickle"),
    Case("ships its own code", lambda w: w.forget(model=w.model_copy(remote_code)),
         r"ships its own code, which runs only with --trust-remote-code"),
    Case("damaged or truncated", lambda w: w.forget(model=w.model_copy(truncated_weights)),
         r"cannot load model '.*bad-model': a safetensors weights file is damaged or truncated"),
    Case("neither a pad nor an end-of-sequence token", lambda w: w.forget(model=w.model_copy(no_pad_no_eos)),
         r"tokenizer of .* has neither a pad nor an end-of-sequence token"),
    # output folders and storage
    Case("holds a run with other settings", other_run, r"output folder .* holds a run with other settings"),
    Case("holds no llm-unlearn run", foreign_folder, r"output folder .* is not empty and holds no llm-unlearn run"),
    Case("is a file, not a folder", file_as_out, r"output path .*out is a file, not a folder"),
    Case("is not writable", read_only_out, r"output folder .*out is not writable \(Permission denied\)"),
    Case("cannot save the model", disk_full_on_model_save,
         r"cannot save the model to .*out: No space left on device"),
    Case("training stopped: cannot write", disk_full_on_checkpoint,
         r"training stopped: cannot write .*: No space left on device; the last complete checkpoint is kept"),
    Case("cannot write", disk_full_on_results, r"cannot write .*\.jsonl: No space left on device"),
    # evaluation and experiments
    Case("made on a different forget set", retain_eval_of_other_benchmark,
         r"retain eval .*forget\.json was made on a different forget set \(2 of 2 questions"),
    Case("invalid setting 'name'", lambda w: w.experiment("name: ../../etc\n"),
         r"invalid setting 'name' = '\.\./\.\./etc'"),
    Case("holds experiment", experiment_folder_of_another, r"output folder .* holds experiment 'other', not 'mine'"),
    Case("the experiment file is empty", lambda w: w.experiment(""),
         r"experiment\.yaml: the experiment file is empty"),
    Case("is set by 'seeds'", lambda w: w.experiment("seeds: [0, 1]\nunlearn:\n  seed: 3\n"),
         r"unlearn: 'seed' is set by 'seeds'; remove one of them"),
    Case("is set by the experiment itself", lambda w: w.experiment("unlearn:\n  forget: forget01\n"),
         r"unlearn: 'forget' is set by the experiment itself"),
    Case("holds neither a finished evaluation", lambda w: ["compare", str(w.bench), "--out", str(w.out)],
         r"bench\S* holds neither a finished evaluation \(summary.json\) nor an experiment \(experiment.json\)"),
    Case("is computed for none of the entries",
         lambda w: ["compare", str(finished_eval(w)), "--sort-by", "forget_qualty", "--out", str(w.out)],
         r"metric 'forget_qualty' is computed for none of the entries \(available: model_utility_tofu\)"),
    Case("names for", lambda w: ["compare", str(finished_eval(w)), "--labels", "a", "b", "--out", str(w.out)],
         r"--labels gives 2 names for 1 sources; give one per source"),
    Case("is one of the compared folders", lambda w: ["compare", str(finished_eval(w)), "--out", str(w.tmp / "eval")],
         r"--out .*eval is one of the compared folders"),
    Case("holds other files", compare_into_foreign_folder, r"output folder .*out holds other files \(notes.txt, ...\)"),
    Case("record in a split of",
         lambda w: w.forget(data=w.split_file("forget", line_of({"text": "Ada."}) + line_of(GOOD))),
         r"forget\.jsonl:2: a question-answer record in a split of text records"),
    Case("outside 0..", lambda w: w.forget(data=w.split_file(
        "forget", line_of({"question": "Q?", "choices": ["a", "b"], "answer": 2}))),
         r"forget\.jsonl:1: field 'answer' is 2, outside 0\.\.1"),
    Case("trains on a refusal", lambda w: w.forget("--method", "IDK+GD", data=w.split_file(
        "forget", line_of({"text": "Ada was born in London."}))),
         r"method IDK\+GD trains on a refusal as the answer to each forget question, so it needs question-answer "
         r"records; forget split 'forget' holds raw text"),
    Case("which are evaluated, not trained on", lambda w: w.forget(data=w.split_file(
        "forget", line_of({"question": "Q?", "choices": ["a", "b"], "answer": 0}))),
         r"split 'forget' holds multiple-choice questions, which are evaluated, not trained on"),
    Case("does not hold multiple-choice records",
         lambda w: ["eval", "--model", str(w.model), "--data", str(w.bench), "--forget", "forget", "--suites",
                    "choice", "--choice.forget", "retain", "--out", str(w.out)],
         r"--choice.forget retain: split 'retain' does not hold multiple-choice records"),
    Case("has none of MUSE's splits",
         lambda w: ["eval", "--model", str(w.model), "--data", str(w.bench), "--suites", "muse", "--out",
                    str(w.out)],
         r"--suites muse: \S+ has none of MUSE's splits"),
    Case("lm-eval has no task",
         lambda w: ["eval", "--model", str(w.model), "--data", str(w.bench), "--suites", "lm-eval",
                    "--lm-eval.tasks", "mmluu", "--out", str(w.out)],
         r"--lm-eval.tasks: lm-eval has no task 'mmluu' \(did you mean 'mmlu'\?\)"),
    Case("names the forget subjects in its system prompt", lambda w: w.forget("--method", "Guardrail"),
         r"method Guardrail names the forget subjects in its system prompt: split 'forget' has no 'subject' field"),
    Case("contrasts forget and retain gradients", lambda w: w.forget("--method", "GA", "--mask", "saliency"),
         r"--mask saliency contrasts forget and retain gradients: method GA does not read both"),
    Case("decoder layers; choose 1 to", lambda w: w.forget("--method", "ULD", "--uld.layers", "5"),
         r"ULD layers 5: the model has 2 decoder layers; choose 1 to 2"),
    Case("'kind' must be one of",
         lambda w: w.forget(model=manifest_folder(w, {"format_version": 1, "kind": "ensemble"})),
         r"unlearned_model\.json: 'kind' must be one of logit_combination, prompted"),
    # reliability (issue 26): manifests
    Case("its parts lead back to itself", lambda w: evaluation(w, model=mutual_manifests(w)),
         r"m1/unlearned_model\.json: its parts lead back to itself \(.*m1 -> .*m2 -> .*m1\)"),
    Case("'alpha' must be a finite number, got null", lambda w: evaluation(w, model=combination(w, None)),
         r"unlearned_model\.json: 'alpha' must be a finite number, got null"),
    Case("got NaN", lambda w: evaluation(w, model=combination(w, float("nan"))),
         r"unlearned_model\.json: 'alpha' must be a finite number, got NaN"),
    Case("output_filter: unknown key", lambda w: evaluation(w, model=prompted(w, output_filter={
        "keywords": [], "answers": [], "threshold": 2, "refusal": "No.", "colour": "red"})),
         r"unlearned_model\.json: output_filter: unknown key 'colour' \(accepted: keywords, answers"),
    Case("must have a 'role' and a 'content'", lambda w: evaluation(w, model=prompted(w, context=[{"role": "system"}])),
         r"unlearned_model\.json: context turn 0 must have a 'role' and a 'content', both text"),
    Case("'context' must be a list of turns", lambda w: evaluation(w, model=prompted(w, context="Be discreet.")),
         r"unlearned_model\.json: 'context' must be a list of turns .*, got str"),
    Case("a manifest is UTF-8 JSON", lambda w: evaluation(w, model=manifest_bytes(w, b'{"kind": "prompted\xff"}')),
         r"unlearned_model\.json: not valid UTF-8 \(byte 19\); a manifest is UTF-8 JSON"),
    Case("leaves no room for a question", lambda w: evaluation(w, model=prompted(
        w, context=[{"role": "system", "content": "city " * 300}])),
         r"unlearned_model\.json: the context is \d{3} tokens, and the model's window is 256"),
    Case("method ICUL: its context is", lambda w: w.forget("--method", "ICUL", data=w.split_file("forget", line_of(
        {**GOOD, "question": "Where " * 300 + "was Ada born?"}))),
         r"method ICUL: its context is \d+ tokens, and the model's window is 256: it leaves no room for a question"),
    Case("not found: ", lambda w: evaluation(w, model=manifest_folder(w, {"format_version": 1, "kind": "prompted",
                                                                          "parts": {"main": "main"}})),
         r"unlearned_model\.json: part 'main' not found: .*manifest-model/main does not exist \(a relative part is "
         r"read from the manifest's folder"),
    # reliability: data files
    Case("nested too deeply", lambda w: w.forget(data=w.split_file(
        "forget", b'{"question": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n")),
         r"forget\.jsonl:1: not valid JSON for a record \(nested too deeply\)"),
    Case("lone surrogate escape", lambda w: w.forget(data=w.split_file(
        "forget", b'{"question": "Where was Ada \\ud800 born?", "answer": "London."}\n')),
         r"forget\.jsonl:1: field 'question' holds a lone surrogate escape"),
    Case("a record is longer than", lambda w: w.forget(data=w.split_file(
        "forget", b'{"question": "Q?", "answer": "' + b"a" * (5 * 2**20) + b'"}\n')),
         r"forget\.jsonl:1: a record is longer than 4 MiB; split its text into several records"),
    Case("holds continuation records, not question-answer records",
         lambda w: evaluation(w, data=w.split_file("forget", line_of({"prompt": "Once upon", "gt": "a time"}))),
         r"--forget forget: split 'forget' holds continuation records, not question-answer records; MUSE's VerbMem"),
    Case("holds text records, not question-answer records",
         lambda w: evaluation(w, data=w.split_file("forget", line_of({"text": "Ada was born in London."}))),
         r"--forget forget: split 'forget' holds text records, not question-answer records; raw text is trained on"),
    Case("already holds", lambda w: users_benchmark(w),
         r"benchmark folder .*out already holds forget10\.jsonl with other content; pass --overwrite"),
    # reliability: output folders, compare, experiments
    Case("is in use by another llm-unlearn process", lambda w: locked_out(w),
         r"output folder .*out is in use by another llm-unlearn process \(pid 1\); wait for it to finish"),
    Case("is not an llm-unlearn evaluation summary", lambda w: compare_summary(w, "{}"),
         r"summary\.json is not an llm-unlearn evaluation summary \('overall' or 'splits' is missing\)"),
    Case("a JSON list, not an object", lambda w: compare_summary(w, "[]"),
         r"summary\.json is not an llm-unlearn evaluation summary \(a JSON list, not "
         r"an object\)"),
    Case("not a number",
         lambda w: compare_summary(w, json.dumps({"overall": {"forget_quality": "high"}, "splits": {}})),
         r"summary\.json is not an llm-unlearn evaluation summary \(metric 'overall\.forget_quality' is "
         r"\"high\", not a number\)"),
    Case("'models' must list the run's models", lambda w: compare_experiment(w, json.dumps({"name": "x"})),
         r"experiment\.json is damaged: 'models' must list the run's models"),
    Case("a metric name is empty",
         lambda w: ["compare", str(finished_eval(w)), "--sort-by", "", "--out", str(w.out)],
         r"a metric name is empty \(''\); name one \(available: model_utility_tofu\)"),
    Case("is damaged (not valid JSON", lambda w: damaged_experiment(w),
         r"out/experiment\.json is damaged \(not valid JSON: .*\); delete it to run the experiment anew"),
    Case("the settings expand to more than", lambda w: w.experiment(ALIAS_BOMB),
         r"experiment\.yaml: the settings expand to more than 100000 values \(YAML aliases"),
    Case("RWKU's utility_general needs field", lambda w: rwku_eval(w, {"question": "2 + 2 =", "choices": ["3", "4"],
                                                                       "answer": 1}),
         r"utility_general\.jsonl record 1: RWKU's utility_general needs field 'examples' \(list\)"),
    Case("an MMLU question needs", lambda w: rwku_eval(w, {"question": "2 + 2 =", "choices": ["3", "4"], "answer": 1,
                                                            "examples": [{"question": "1 + 1 ="}]}),
         r"utility_general\.jsonl record 1, shot 1 of 'examples': an MMLU question needs 'question' \(str\), "
         r"'choices' \(list\) and 'answer' \(int\)"),
    # unlearn attack: every input checked before the first model loads
    Case("is not an evaluation written by 'unlearn eval'", lambda w: attack(w, "--unlearned-eval", str(empty_eval(w))),
         r"--unlearned-eval .*eval is not an evaluation written by 'unlearn eval'"),
    Case("`forget.json` lacks the splits or the `examples`",
         lambda w: attack(w, "--unlearned-eval", str(eval_without_examples(w))),
         r"--unlearned-eval .*eval is not an evaluation written by 'unlearn eval' \(its summary\.json or forget\.json "
         r"lacks 'examples'\)"),
    Case("relearning trains on question-answer records",
         lambda w: attack(w, "--attacks", "relearn-unrelated", "--relearn-unrelated.source",
                          str(write_jsonl(w.tmp / "text.jsonl", [{"text": "Ada was born in London."}]))),
         r"relearn-unrelated source: .*text\.jsonl holds raw-text records; relearning trains on question-answer "
         r"records"),
    Case("unlearn attack measures question-answer records",
         lambda w: attack(w, data=w.split_file("forget", line_of({"prompt": "Once upon", "gt": "a time"}))),
         r"forget split 'forget' holds continuation records \(prompt/gt\); unlearn attack measures question-answer"),
    Case("and its answer must fit within",
         lambda w: attack(w, "--attacks", "multiple-choice", data=w.split_file("forget", line_of(
             {**GOOD, "question": "Where " * 300 + "was Ada born?", "perturbed_answer": ["Paris."]}))),
         r"multiple-choice: forget question 1's prompt for --model .* is \d+ tokens, and its answer must fit within "
         r"256"),
    Case("no attack named", lambda w: attack(w, "--attacks", ","),
         r"command line: no attack named"),
    Case("no jailbreak wrapper named", lambda w: attack(w, "--attacks", "jailbreak", "--jailbreak.wrappers", ""),
         r"attack_args\.jailbreak\.wrappers = \[''\]: Value error, no jailbreak wrapper named"),
    Case("is not a forget metric", lambda w: attack(w, "--recovery-metrics", "fact_acuracy"),
         r"'fact_acuracy' is not a forget metric \(did you mean 'fact_accuracy'\?\)"),
    Case("--original: cannot load model", lambda w: attack(w, "--original", w.model_copy(remote_code)),
         r"--original: cannot load model '.*bad-model': it ships its own code"),
    Case("not a finished attack folder", lambda w: ["attack", "--rescore", str(w.tmp / "unlearned-eval")],
         r"unlearned-eval: no attack_summary\.json: not a finished attack folder"),
]


def attack(world: World, *extra: str, data: Path | None = None) -> list[str]:
    return ["attack", "--model", str(world.model), "--original", str(world.model), "--data", str(data or world.bench),
            "--forget", "forget", "--retain-split", "retain", "--real-authors", "none", "--world-facts", "none",
            "--holdout", "none", "--attacks", "quantize-8bit", "--out", str(world.out), "--device", "cpu", *extra]


def empty_eval(world: World) -> Path:
    """An evaluation folder whose summary.json is {} (its forget.json is fine)."""
    folder = world.tmp / "eval"
    folder.mkdir()
    (folder / "summary.json").write_text("{}")
    (folder / "forget.json").write_text(json.dumps({"examples": [{"question": GOOD["question"]}]}))
    return folder


def eval_without_examples(world: World) -> Path:
    """An evaluation folder whose forget.json has no 'examples' (its summary.json is fine)."""
    folder = world.tmp / "eval"
    folder.mkdir()
    (folder / "summary.json").write_text(json.dumps({"splits": {"forget": {"metrics": {}}}}))
    (folder / "forget.json").write_text(json.dumps({"split": "forget"}))
    return folder


def rwku_eval(world: World, utility_general: dict) -> list[str]:
    """``eval --suites rwku`` on a folder in RWKU's layout whose utility_general record is ``utility_general``."""
    folder = world.tmp / "rwku"
    folder.mkdir()
    (folder / "forget_level2.jsonl").write_bytes(line_of({"query": "Where was Ada born?", "answer": "London"}))
    (folder / "utility_general.jsonl").write_bytes(line_of(utility_general))
    return ["eval", "--model", str(world.model), "--data", str(folder), "--forget", "none", "--retain-split", "none",
            "--real-authors", "none", "--world-facts", "none", "--suites", "rwku", "--embedder", "none", "--nli-model",
            "none", "--out", str(world.out), "--device", "cpu"]


def manifest_folder(world: World, manifest: dict) -> str:
    folder = world.tmp / "manifest-model"
    folder.mkdir()
    (folder / "unlearned_model.json").write_text(json.dumps(manifest))
    return str(folder)


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bench")
    records = [{"question": f"Where was person {i} born?", "answer": f"Person {i} was born in city {i}."}
               for i in range(6)]
    write_jsonl(folder / "full.jsonl", records)
    write_jsonl(folder / "forget.jsonl", records[:2])
    write_jsonl(folder / "retain.jsonl", records[2:])
    return folder


def test_the_catalog_has_at_least_25_distinct_entries():
    assert len({case.name for case in CATALOG}) == len(CATALOG) >= 25


@pytest.mark.parametrize("case", CATALOG, ids=[c.name for c in CATALOG])
def test_bad_input_is_one_line_exit_2_and_leaves_no_result(case, bench, tiny_model_dir, tmp_path, monkeypatch,
                                                           capsys):
    argv = case.build(World(tmp_path, bench, tiny_model_dir, monkeypatch))
    before = results_in(tmp_path / "out")
    status = main(argv)
    monkeypatch.undo()
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("unlearn: error: ")]
    assert status == 2, err[-2000:]
    assert len(errors) == 1 and "Traceback" not in err, err[-2000:]
    assert re.search(case.message, errors[0]), errors[0]
    assert results_in(tmp_path / "out") == before


def results_in(folder: Path) -> set[Path]:
    """Result files, temp files and staging folders under ``folder``."""
    if not folder.is_dir():
        return set()
    return {p for p in folder.rglob("*") if p.name in RESULT_FILES or ".tmp" in p.name or p.name == ".saving"}


def test_every_catalog_entry_is_on_the_troubleshooting_page():
    section = TROUBLESHOOTING.read_text(encoding="utf-8")
    missing = [case.name for case in CATALOG if case.name not in section]
    assert not missing, missing
    assert f"runs {len(CATALOG)} of them" in " ".join(section.split())


def test_sequences_longer_than_the_model_context_are_cut_with_a_counted_warning(bench, tiny_model_dir, tmp_path,
                                                                                monkeypatch, caplog):
    world = World(tmp_path, bench, tiny_model_dir, monkeypatch)
    long = {"question": "Tell me everything.", "answer": "city " * 400}
    data = world.split_file("forget", line_of(GOOD) + line_of(long))
    assert main(world.forget("--max-length", "1000", data=data)) == 0
    assert "max_length 1000 is longer than the model's context of 256 tokens; using 256" in caplog.text
    assert "forget: 1 of 2 sequences were longer than 256 tokens and were truncated" in caplog.text


def test_a_generation_budget_beyond_the_context_is_capped_with_a_warning(bench, tiny_model_dir, tmp_path, caplog):
    argv = ["eval", "--model", str(tiny_model_dir), "--data", str(bench), "--forget", "forget", "--retain-split",
            "retain", "--real-authors", "none", "--world-facts", "none", "--holdout", "none", "--embedder", "none",
            "--nli-model", "none", "--max-new-tokens", "100000000", "--out", str(tmp_path / "eval"), "--device", "cpu"]
    assert main(argv) == 0
    assert re.search(r"max_new_tokens 100000000 does not fit the model's context of 256 tokens after a prompt of "
                     r"\d+; using \d+", caplog.text)



# reliability (issue 26): helpers of the cases above
# a list setting whose anchors nest ten aliases eight levels deep: 10^8 values once expanded
ALIAS_BOMB = "name: bomb\nmethods: [&a [x, x, x, x, x, x, x, x, x, x], " + ", ".join(
    f"&{n} [{', '.join([f'*{p}'] * 10)}]" for p, n in zip("abcdefg", "bcdefgh")) + "]\n"


def evaluation(world: World, model: str | None = None, data: Path | None = None) -> list[str]:
    return ["eval", "--model", model or str(world.model), "--data", str(data or world.bench), "--forget", "forget",
            "--retain-split", "retain", "--real-authors", "none", "--world-facts", "none", "--holdout", "none",
            "--embedder", "none", "--nli-model", "none", "--out", str(world.out), "--device", "cpu"]


def prompted(world: World, **spec) -> str:
    return manifest_folder(world, {"format_version": 1, "kind": "prompted", "parts": {"main": str(world.model)},
                                   **spec})


def combination(world: World, alpha) -> str:
    return manifest_folder(world, {"format_version": 1, "kind": "logit_combination", "formula": "whp",
                                   "alpha": alpha, "parts": {"main": str(world.model), "second": str(world.model)}})


def manifest_bytes(world: World, content: bytes) -> str:
    folder = world.tmp / "manifest-model"
    folder.mkdir()
    (folder / "unlearned_model.json").write_bytes(content)
    return str(folder)


def mutual_manifests(world: World) -> str:
    """Two manifest folders whose main parts name each other."""
    for name, other in (("m1", "m2"), ("m2", "m1")):
        (world.tmp / name).mkdir()
        (world.tmp / name / "unlearned_model.json").write_text(json.dumps(
            {"format_version": 1, "kind": "prompted", "parts": {"main": f"../{other}"}}))
    return str(world.tmp / "m1")


def users_benchmark(world: World) -> list[str]:
    world.out.mkdir()
    write_jsonl(world.out / "forget10.jsonl", [GOOD])
    return ["data", "fictitious", "--out", str(world.out), "--people", "10"]


def locked_out(world: World) -> list[str]:
    """A lock held by a running process (pid 1 always runs)."""
    world.out.mkdir()
    (world.out / ".unlearn.lock").write_text(json.dumps({"pid": 1, "host": socket.gethostname()}))
    return world.forget()


def compare_summary(world: World, summary: str) -> list[str]:
    folder = world.tmp / "eval"
    folder.mkdir()
    (folder / "summary.json").write_text(summary)
    return ["compare", str(folder), "--out", str(world.out)]


def compare_experiment(world: World, manifest: str) -> list[str]:
    folder = world.tmp / "experiment"
    folder.mkdir()
    (folder / "experiment.json").write_text(manifest)
    return ["compare", str(folder), "--out", str(world.out)]


def damaged_experiment(world: World) -> list[str]:
    world.out.mkdir()
    (world.out / "experiment.json").write_text('{"name": "mine", "mod')
    return world.experiment(f"name: mine\nout: {world.out}\n")
