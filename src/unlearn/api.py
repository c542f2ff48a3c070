"""The Python API: every command as a function, for notebooks and scripts.

Each function takes the command's settings as keyword arguments (the same names as the flags,
``learning_rate=`` for ``--learning-rate``), optionally on top of a YAML file (``config=``),
validates them exactly as the command does, runs, and returns a result object. Bad settings
raise ``unlearn.UserError`` with the same one-line message the command prints. The command
line (``unlearn.cli``) is a thin layer over these functions.

    import unlearn
    target = unlearn.finetune(data="bench", out="runs/target")
    model = unlearn.forget(model=target.out, data="bench", method="ME+GD", out="runs/me_gd")
    scores = unlearn.evaluate(model=model.out, data="bench", out="runs/me_gd_eval")
    scores.overall["model_utility_tofu"], scores.metric("forget", "rougeL_recall")
    ranked = unlearn.meta_eval(pool="builtin", out="runs/meta-eval")  # rank the forget metrics themselves
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from unlearn.config import read_yaml, settings_from, validate_settings
from unlearn.errors import UserError
from unlearn.files import output_lock


@dataclass(frozen=True)
class Result:
    """A finished command: where its output is, the settings it ran with, and its summary."""

    out: Path
    settings: BaseModel
    summary: dict = field(repr=False)

    def __getitem__(self, key: str) -> Any:
        return self.summary[key]


@dataclass(frozen=True)
class EvalResult(Result):
    """An evaluation; ``overall`` holds the model-level numbers, ``metric`` a split's average."""

    @property
    def overall(self) -> dict:
        return self.summary["overall"]

    def metric(self, role: str, name: str) -> float | None:
        """The average of ``name`` on split ``role`` (forget, retain, ...); None if not computed."""
        return self.summary["splits"].get(role, {}).get("metrics", {}).get(name)

    def interval(self, role: str, name: str) -> list[float] | None:
        """The bootstrap interval of a split average, or of a model-level number (``role="overall"``)."""
        if role == "overall":
            return (self.summary.get("overall_intervals") or {}).get(name)
        return self.summary["splits"].get(role, {}).get("intervals", {}).get(name)

    def table(self) -> str:
        """The table ``unlearn eval`` prints."""
        from unlearn.evaluation.table import format_table

        return format_table(self.summary)


@dataclass(frozen=True)
class RunResult:
    """A finished experiment: its folder, report page, summary (its ``experiment.json``: settings,
    models with their evaluation folders, notes) and which steps ran or were reused."""

    out: Path
    report: Path
    summary: dict = field(repr=False)
    steps_run: list[str] = field(default_factory=list)
    steps_reused: list[str] = field(default_factory=list)


def builtin_benchmark(name: str, out: str | Path, seed: int = 0, overwrite: bool = False, **options) -> Path:
    """Write the registered benchmark ``name``'s built-in version (``unlearn data NAME``) with its
    generator's ``options`` (``people=20``, ...; see ``--list-benchmarks``); returns its folder, to pass
    as ``data=``."""
    from unlearn.benchmarks.registry import generators

    known = generators()
    if name not in known:
        raise UserError(f"no built-in benchmark '{name}' (built-in: {', '.join(known)})")
    generator = known[name].generator
    unknown = [key for key in options if key not in generator.defaults()]
    if unknown:
        raise UserError(f"builtin_benchmark({name!r}): unknown option '{unknown[0]}' (options: "
                        f"{', '.join(generator.defaults()) or 'none'})")
    return _write_builtin(out, lambda: generator.generate(seed=seed, **{**generator.defaults(), **options}), overwrite)


def fictitious_benchmark(out: str | Path, people: int = 20, qa_per_person: int = 5, seed: int = 0,
                         forget_percents=(1, 5, 10), overwrite: bool = False) -> Path:
    """Write the built-in TOFU-format benchmark of invented people (``unlearn data fictitious``);
    returns its folder, to pass as ``data=``."""
    return builtin_benchmark("fictitious", out, seed, overwrite, people=people, qa_per_person=qa_per_person,
                             forget_percents=forget_percents)


def muse_benchmark(out: str | Path, people: int = 20, qa_per_person: int = 5, seed: int = 0,
                   overwrite: bool = False) -> Path:
    """Write the built-in MUSE-style benchmark (``unlearn data muse``): one invented news article per
    person of the fictitious world, in MUSE's split names; returns its folder."""
    return builtin_benchmark("muse", out, seed, overwrite, people=people, qa_per_person=qa_per_person)


def rwku_benchmark(out: str | Path, seed: int = 0, overwrite: bool = False) -> Path:
    """Write the built-in RWKU-style probes about the packaged real-world entities (``unlearn data rwku``)."""
    return builtin_benchmark("rwku", out, seed, overwrite)


def wmdp_benchmark(out: str | Path, entities: int = 20, seed: int = 0, overwrite: bool = False) -> Path:
    """Write the built-in WMDP-style benchmark (``unlearn data wmdp``): ``entities`` invented viruses
    to forget and as many minerals to keep; returns its folder."""
    return builtin_benchmark("wmdp", out, seed, overwrite, entities=entities)


def _write_builtin(out: str | Path, generate, overwrite: bool) -> Path:
    """Write the generated splits; a split file of other content already there (the user's own
    benchmark) is replaced only with ``overwrite``; an identical rerun is allowed."""
    from unlearn.data.benchmark import benchmark_lines, write_benchmark

    out = _path(out, "benchmark folder")
    if out.exists() and not out.is_dir():
        raise UserError(f"benchmark folder {out} is a file, not a folder")
    try:
        splits = generate()
    except ValueError as error:
        raise UserError(str(error)) from None
    with output_lock(out):
        replaced = [f"{name}.jsonl" for name, records in splits.items() if (out / f"{name}.jsonl").exists()
                    and (out / f"{name}.jsonl").read_bytes() != benchmark_lines(records).encode("utf-8")]
        if replaced and not overwrite:
            more = f" and {len(replaced) - 1} more split files" if len(replaced) > 1 else ""
            raise UserError(f"benchmark folder {out} already holds {replaced[0]}{more} with other content; "
                            "pass --overwrite to replace them, or choose another --out")
        write_benchmark(splits, out)
    return out


def finetune(settings: BaseModel | None = None, *, config: str | Path | None = None, callbacks: list | None = None,
             **values) -> Result:
    """Fine-tune a model on a benchmark split (``unlearn finetune``); ``callbacks`` are Trainer callbacks."""
    from unlearn.training.finetune import FinetuneSettings, finetune as run_finetune

    chosen = _settings(FinetuneSettings, settings, values, config)
    with output_lock(chosen.out):
        return Result(Path(chosen.out), chosen, run_finetune(chosen, callbacks))


def forget(settings: BaseModel | None = None, *, config: str | Path | None = None, callbacks: list | None = None,
           on_checkpoint=None, **values) -> Result:
    """Unlearn a forget split with a method such as ``method="ME+GD"`` (``unlearn forget``).

    ``on_checkpoint(checkpoint)``: called with each point of the evaluation during training (``curve=``
    or ``select=``) once it is recorded; an exception it raises ends the run and propagates unchanged."""
    from unlearn.training.forget import forget as run_forget
    from unlearn.training.forget_settings import ForgetSettings

    chosen = _settings(ForgetSettings, settings, values, config)
    with output_lock(chosen.out):
        return Result(Path(chosen.out), chosen, run_forget(chosen, callbacks, on_checkpoint))


def evaluate(model=None, tokenizer=None, *, settings: BaseModel | None = None, config: str | Path | None = None,
             **values) -> EvalResult:
    """Evaluate a model (``unlearn eval``): a Hub id or folder, or a model already in memory with its
    tokenizer (a ``transformers`` causal LM, e.g. one just trained in the notebook)."""
    from unlearn.evaluation.run import EvalSettings, evaluate_model

    in_memory = model is not None and not isinstance(model, (str, os.PathLike))
    if in_memory and tokenizer is None:
        raise UserError("evaluate(model=...) with a model in memory needs its tokenizer too: "
                        "evaluate(model, tokenizer, ...)")
    if tokenizer is not None and not in_memory:
        raise UserError("evaluate(tokenizer=...) is only for a model in memory; a model folder or Hub id "
                        "brings its own tokenizer")
    if in_memory and not callable(getattr(model, "generate", None)):
        raise UserError(f"evaluate(model=...) takes a model folder, a Hub id or a transformers model in memory, "
                        f"got {type(model).__name__}")
    if model is not None:
        values["model"] = _in_memory_name(model) if in_memory else str(model)
    chosen = _settings(EvalSettings, settings, values, config)
    with output_lock(chosen.out):
        return EvalResult(Path(chosen.out), chosen, evaluate_model(chosen, (model, tokenizer) if in_memory else None))


def attack(settings: BaseModel | None = None, *, config: str | Path | None = None, **values) -> Result:
    """Robustness attacks on an unlearned model (``unlearn attack``); ``summary`` is ``attack_summary.json``."""
    from unlearn.attacks.run import run_attacks
    from unlearn.attacks.settings import AttackSettings

    chosen = _settings(AttackSettings, settings, values, config)
    with output_lock(chosen.out):
        return Result(Path(chosen.out), chosen, run_attacks(chosen))


def run(experiment: str | Path | dict | None = None, *, progress=print, **values) -> RunResult:
    """Run an experiment (``unlearn run``): a YAML file or a dict of its settings, with keyword
    settings on top (``out=`` for another folder). Finished steps with the same inputs are reused."""
    from unlearn.report.collect import read_run
    from unlearn.scenarios.experiment import ExperimentSettings
    from unlearn.scenarios.runner import run_experiment

    if experiment is not None and not isinstance(experiment, (str, os.PathLike, dict)):
        raise UserError(f"run(experiment=...) takes a YAML file or a dict of settings, got {type(experiment).__name__}")
    source = str(experiment) if isinstance(experiment, (str, os.PathLike)) else "experiment"
    written = dict(experiment) if isinstance(experiment, dict) else read_yaml(experiment) if experiment else {}
    if isinstance(experiment, (str, os.PathLike)) and not written:
        raise UserError(f"{experiment}: the experiment file is empty; it names at least a scenario or methods "
                        "(see configs/experiment_fictitious.yaml)")
    chosen = validate_settings(ExperimentSettings, {**written, **_plain(values)}, source)
    with output_lock(chosen.run_folder):
        page, steps = run_experiment(chosen, source, progress)
    return RunResult(chosen.run_folder, page, read_run(chosen.run_folder).manifest, list(steps.ran),
                     list(steps.reused))


@dataclass(frozen=True)
class TuneResult(Result):
    """A tuning study: ``summary`` is its ``pareto.json`` (objectives, target, front, chosen trial, every trial)."""

    @property
    def front(self) -> list[dict]:
        return self.summary["front"]

    @property
    def chosen(self) -> dict:
        """The selection rule's choice: ``trial`` (None when none qualifies), ``reason``, ``rule``, ``args``."""
        return self.summary["chosen"]

    @property
    def best_config(self) -> Path | None:
        """``best.yaml``, the chosen trial's forget settings, or None when no trial was chosen."""
        return Path(self.summary["best_config"]) if self.summary.get("best_config") else None


def tune(settings: BaseModel | None = None, *, config: str | Path | None = None, **values) -> TuneResult:
    """Search a method's settings (``unlearn tune``): trials of ``forget`` + ``evaluate`` in an Optuna study
    stored in ``out`` (or ``storage=``), resumed if it exists. Several processes calling this with the same
    storage share the study. Returns the front and the chosen trial; ``best_config`` runs with ``forget``."""
    from unlearn.tuning.run import tune as run_tune
    from unlearn.tuning.settings import TuneSettings

    chosen = _settings(TuneSettings, settings, values, config)
    return TuneResult(Path(chosen.out), chosen, run_tune(chosen))


def write_report(folder: str | Path) -> Path:
    """(Re)write the report of a finished run folder (``unlearn report``); returns the HTML page."""
    from unlearn.report.render import write_report as write

    folder = _path(folder, "write_report(folder=...)")
    with output_lock(folder):
        return write(folder)


def compare(*sources: str | Path, out: str | Path, sort_by: str | None = None, metrics: list[str] | None = None,
            labels: list[str] | None = None):
    """A leaderboard of finished evaluations and experiments (``unlearn compare``); see
    ``unlearn.report.leaderboard.compare``."""
    from unlearn.report.leaderboard import compare as run_compare

    if len(sources) == 1 and isinstance(sources[0], (list, tuple)):
        sources = tuple(sources[0])  # compare([a, b], out=...) as well as compare(a, b, out=...)
    sources = tuple(_path(s, "compare: a source") for s in sources)
    out = _path(out, "compare(out=...)")
    if sort_by is not None and not isinstance(sort_by, str):
        raise UserError(f"compare(sort_by=...) takes a metric name, got {type(sort_by).__name__}")
    with output_lock(out):
        return run_compare(list(sources), out, sort_by=sort_by, metrics=_names(metrics, "metrics"),
                           labels=_names(labels, "labels"))


def meta_eval(settings: BaseModel | None = None, *, config: str | Path | None = None, progress=print,
              **values) -> Result:
    """Rank the forget metrics themselves by faithfulness and robustness (``unlearn meta-eval``) on a pool of
    models: ``pool="builtin"`` (the built-in recipe) or a pool YAML file with ``data=``. ``summary`` is what
    ``meta_eval.json`` holds: ``rows`` (one per forget metric, best first), ``pool_sizes``, ``pool``, ``files``."""
    from unlearn.metaeval.run import meta_evaluate
    from unlearn.metaeval.settings import MetaEvalSettings

    chosen = _settings(MetaEvalSettings, settings, values, config)
    with output_lock(chosen.out):
        return Result(Path(chosen.out), chosen, meta_evaluate(chosen, progress))


def _settings(model: type[BaseModel], given: BaseModel | None, values: dict, config):
    """Settings already validated (the command line passes them), or keyword values on top of ``config``.
    Paths are accepted wherever a setting names a file or folder."""
    values = _plain(values)
    if config is not None:
        config = _path(config, "config=")
    if given is None:
        return settings_from(model, values, config)
    if not isinstance(given, model):
        raise UserError(f"settings must be {model.__name__}, got {type(given).__name__}")
    return validate_settings(model, {**given.model_dump(), **values}) if values else given


def _path(value, what: str) -> Path:
    """A folder or file argument: a string or path, never silently something else."""
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        raise UserError(f"{what} takes a folder or file path, got {value!r:.60}")
    return Path(value)


def _names(value, what: str) -> list[str] | None:
    """A list of names; one string is one name (never split into its characters)."""
    if value is None:
        return None
    value = [value] if isinstance(value, str) else value
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise UserError(f"compare({what}=...) takes a list of names, got {value!r:.60}")
    return list(value)


def _plain(values: dict) -> dict:
    return {k: os.fspath(v) if isinstance(v, os.PathLike) else v for k, v in values.items()}


def _in_memory_name(model) -> str:
    """What an evaluation of an in-memory model records as its model: its source path or id, marked."""
    source = getattr(model, "name_or_path", "") or getattr(getattr(model, "config", None), "_name_or_path", "")
    return f"in-memory {type(model).__name__}" + (f" ({source})" if source else "")
