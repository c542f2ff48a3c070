"""Peak memory of ``unlearn forget`` on a large forget / retain set with a tiny model.

The splits are generated (unique invented QA records in the TOFU format) and written as JSON
lines; the model is a 2-layer Llama with the default model's tokenizer, so tokenization is
real and the model's own memory is small: what grows with the data shows. Each measurement is
its own process; peak memory is that process's maximum resident set size (``wait4``).

Three rows per scale: the list baseline (only reading both files into Python lists, what the
loader did before splits were streamed into Arrow), loading + validating + tokenizing through
``unlearn forget``'s data path, and a whole ``unlearn forget`` run of a few optimizer steps.

    python benchmarks/load_memory.py --forget 20000 --retain 200000 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks_common import update_section

SECTION = "## Large forget and retain sets: peak memory"
CITIES = ["Bergen", "Lisbon", "Adelaide", "Quito", "Tartu", "Mombasa", "Cusco", "Porto", "Hue", "Oulu"]


def write_split(path: Path, count: int, offset: int) -> None:
    """``count`` unique records, written line by line (the generator holds none of them)."""
    with path.open("w", encoding="utf-8") as handle:
        for i in range(offset, offset + count):
            name, city, year = f"Person {i}", CITIES[i % len(CITIES)], 1900 + i % 120
            record = {"question": f"Where was {name} born?", "answer": f"{name} was born in {city} in {year}.",
                      "paraphrased_answer": f"{name}'s birthplace is {city}.", "fact": city,
                      "perturbed_answer": [f"{name} was born in {c}." for c in CITIES[:3] if c != city]}
            handle.write(json.dumps(record) + "\n")


def write_tiny_model(folder: Path) -> None:
    """A 2-layer Llama (hidden 64) with the default model's tokenizer."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from unlearn.models.loading import resolve_source

    tokenizer = AutoTokenizer.from_pretrained(resolve_source("smollm2-135m-instruct"))
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


LIST_BASELINE = """
import sys
from pathlib import Path
from unlearn.data.benchmark import read_split_file
kept = [read_split_file(Path(sys.argv[1]) / f"{name}.jsonl") for name in ("forget", "retain")]
print(sum(map(len, kept)))
"""

DATA_PATH = """
import sys
from unlearn.training.forget import ForgetSettings, build_trainer
settings = ForgetSettings(**{k: v for k, v in (a.split("=", 1) for a in sys.argv[1:])})
trainer, _, _ = build_trainer(settings, settings.out + "/checkpoints")
print(len(trainer.train_dataset))
"""


def measure(command: list[str], env: dict) -> tuple[float, float]:
    """(seconds, peak RSS in MiB) of one child process; fails loudly if the child fails."""
    started = time.time()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    stderr = process.stderr.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{command[:3]} failed:\n{stderr[-3000:]}")
    return time.time() - started, usage.ru_maxrss / 1024


def run_scale(forget: int, retain: int, work: Path, model: Path, threads: int, steps: int) -> list[dict]:
    data = work / f"data-{forget}"
    data.mkdir()
    write_split(data / "forget.jsonl", forget, 0)
    write_split(data / "retain.jsonl", retain, forget)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_DATASETS_CACHE": str(work / f"cache-{forget}")}
    batch = 8
    settings = {"model": str(model), "data": str(data), "forget": "forget", "retain": "retain",
                "method": "GA+GD", "device": "cpu", "threads": str(threads), "batch_size": str(batch),
                "gradient_accumulation_steps": "1", "warmup_epochs": "0", "epochs": str(steps * batch / forget),
                "save_checkpoints": "false"}
    rows = []
    seconds, peak = measure([sys.executable, "-c", LIST_BASELINE, str(data)], env)
    rows.append({"what": "read both files into Python lists (old loader, reading only)", "seconds": seconds,
                 "peak": peak})
    args = [f"{k}={v}" for k, v in {**settings, "out": str(work / f"probe-{forget}")}.items()]
    seconds, peak = measure([sys.executable, "-c", DATA_PATH, *args], env)
    rows.append({"what": "validate + stream to Arrow + tokenize (forget's data path)", "seconds": seconds,
                 "peak": peak})
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in settings.items() if k != "save_checkpoints"]
    out = work / f"forget-{forget}"
    cached_env = {**env}  # its own empty cache, as a first run has
    cached_env["HF_DATASETS_CACHE"] = str(work / f"cache-run-{forget}")
    seconds, peak = measure([sys.executable, "-m", "unlearn.cli.main", "forget", *flags, "--no-save-checkpoints",
                             f"--out={out}"], cached_env)
    trained = json.loads((out / "train_summary.json").read_text())
    rows.append({"what": f"`unlearn forget` GA+GD, {trained['optimizer_steps']} steps of batch {batch}",
                 "seconds": seconds, "peak": peak})
    for row in rows:
        row.update(forget=forget, retain=retain)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--forget", type=int, default=20_000)
    parser.add_argument("--retain", type=int, default=200_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    options = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = work / "tiny-model"
        write_tiny_model(model)
        for divisor in (10, 1):  # a tenth of the data first: memory that stays flat across scales is bounded
            rows += run_scale(options.forget // divisor, options.retain // divisor, work, model, options.threads,
                              options.steps)
    lines = [SECTION, "",
             f"`python benchmarks/load_memory.py --forget {options.forget} --retain {options.retain} "
             f"--threads {options.threads} --steps {options.steps}` on {platform.processor() or platform.machine()}, "
             f"{os.cpu_count()} cores, a 2-layer Llama (hidden 64) with SmolLM2's tokenizer. Peak = the process's "
             "maximum resident set size. Each row is its own process with an empty `datasets` cache.", "",
             "| forget | retain | what | seconds | peak RSS (MiB) |", "|---|---|---|---|---|"]
    lines += [f"| {r['forget']:,} | {r['retain']:,} | {r['what']} | {r['seconds']:.0f} | {r['peak']:.0f} |"
              for r in rows]
    table = "\n".join(lines) + "\n"
    print(table)
    if not options.no_write:
        update_section(Path(__file__).resolve().parent.parent / "BENCHMARKS.md", table, SECTION)


if __name__ == "__main__":
    main()
