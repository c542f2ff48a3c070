"""Peak memory of ``unlearn forget`` on a large forget / retain set with a tiny model.

The splits are generated (unique invented QA records in the TOFU format) and written as JSON
lines; the model is a 2-layer Llama with the default model's tokenizer, so tokenization is
real and the model's own memory is small: what grows with the data shows. Each measurement is
its own process; peak memory is that process's maximum resident set size (``wait4``). This
script itself imports neither torch nor datasets: a forked child's peak would otherwise start
at the parent's size.

Rows per scale: the old loader (records as Python lists, then an in-memory Arrow table, as
``Benchmark.split`` did before), the streamed loader (``Benchmark.split`` now), the whole data
path of ``unlearn forget`` (load, validate, tokenize every stream), and a whole ``unlearn
forget`` run of a few optimizer steps.

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


WRITE_TINY_MODEL = """
import sys
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
from unlearn.models.loading import resolve_source
tokenizer = AutoTokenizer.from_pretrained(resolve_source("smollm2-135m-instruct"))
config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                     num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                     pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
LlamaForCausalLM(config).save_pretrained(sys.argv[1])
tokenizer.save_pretrained(sys.argv[1])
"""

OLD_LOADER = """
import sys
from pathlib import Path
import datasets
from unlearn.data.benchmark import read_split_file
kept = [datasets.Dataset.from_list(read_split_file(Path(sys.argv[1]) / f"{name}.jsonl"))
        for name in ("forget", "retain")]
print(sum(map(len, kept)))
"""

STREAMED_LOADER = """
import sys
from unlearn.data.benchmark import Benchmark
kept = [Benchmark(sys.argv[1]).split(name) for name in ("forget", "retain")]
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
    batch, out = 8, work / f"forget-{forget}"
    settings = {"model": str(model), "data": str(data), "forget": "forget", "retain": "retain",
                "method": "GA+GD", "device": "cpu", "threads": str(threads), "batch_size": str(batch),
                "gradient_accumulation_steps": "1", "warmup_epochs": "0", "epochs": str(steps * batch / forget)}
    probe = [f"{k}={v}" for k, v in {**settings, "out": str(work / f"probe-{forget}")}.items()]
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in settings.items()]
    measurements = [
        ("old loader: Python lists, then an in-memory Arrow table", ["-c", OLD_LOADER, str(data)]),
        ("streamed loader: validated line by line into a memory-mapped table", ["-c", STREAMED_LOADER, str(data)]),
        ("`unlearn forget`'s data path: load, validate, tokenize both streams", ["-c", DATA_PATH, *probe]),
        (f"whole `unlearn forget` GA+GD run, batch {batch}",
         ["-m", "unlearn.cli.main", "forget", *flags, "--no-save-checkpoints", f"--out={out}"]),
    ]
    rows = []
    for index, (what, arguments) in enumerate(measurements):
        env = {**os.environ, "OMP_NUM_THREADS": str(threads),
               "HF_DATASETS_CACHE": str(work / f"cache-{forget}-{index}")}  # each starts with an empty cache
        seconds, peak = measure([sys.executable, *arguments], env)
        rows.append({"forget": forget, "retain": retain, "what": what, "seconds": seconds, "peak": peak})
    rows[-1]["what"] += f" ({json.loads((out / 'train_summary.json').read_text())['optimizer_steps']} steps)"
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
        measure([sys.executable, "-c", WRITE_TINY_MODEL, str(model)], dict(os.environ))
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
    small, large = rows[:len(rows) // 2], rows[len(rows) // 2:]
    lines += ["", "Growth of the peak for ten times the records: " + "; ".join(
        f"{a['what'].split(':')[0]} {b['peak'] - a['peak']:+.0f} MiB" for a, b in zip(small, large)) + ". "
        "The streamed loader reads a file twice (validation, then Arrow) and hashes it, so it is slower than "
        "the old one on a first read; an unchanged file skips the Arrow write on later runs."]
    table = "\n".join(lines) + "\n"
    print(table)
    if not options.no_write:
        update_section(Path(__file__).resolve().parent.parent / "BENCHMARKS.md", table, SECTION)


if __name__ == "__main__":
    main()
