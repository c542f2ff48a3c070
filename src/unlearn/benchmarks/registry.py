"""The benchmarks: one registration each, read by ``unlearn data``, ``unlearn eval``, the API and the report.

A benchmark is a ``BenchmarkSpec``: its name, the record kinds its splits hold (``data/kinds.py``),
how its Hub layout is read, and two optional parts:

- a ``Generator``, which writes a small offline version of it (``unlearn data NAME``, the API's
  ``NAME_benchmark``), with its own options beside ``--out``, ``--seed`` and ``--overwrite``;
- a ``Suite``, what ``unlearn eval --suites NAME`` runs on the model beside the question-answer
  splits: its own settings (a ``PartSettings`` class, reached as ``--muse.verbmem-tokens 64`` or
  ``suite_args: {muse: {verbmem_tokens: 64}}``), its ``load`` (the Hub layout or folder read and
  checked before any model loads), its ``run``, the entry it writes in ``summary.json``, the flat
  values the report, ``summary.csv`` and ``unlearn compare`` read, and the report tables it adds.

A benchmark without a suite of its own names how it is evaluated (``evaluation``): the fictitious
one by the question-answer splits, WMDP by the multiple-choice suite. ``unlearn data``,
``unlearn eval``'s suites, the API, the report and ``--list-benchmarks`` read this registry; none
of them tests a benchmark's name. Adding a benchmark is one module with one ``register`` call.

This module stays light (pydantic only): each part's heavy code is imported inside its functions,
so ``unlearn data --help``, ``unlearn eval --help`` and ``--list-benchmarks`` load no model library.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from unlearn.config import PartSettings, part_flag
from unlearn.data.kinds import KIND_NAMES, KINDS
from unlearn.registry import Registry


@dataclass(frozen=True)
class Option:
    """One option of a generator beside ``--out``, ``--seed`` and ``--overwrite`` (``--people 20``);
    ``type`` reads the flag's text (``str`` when the generator reads it itself)."""

    name: str
    default: Any
    help: str
    type: Callable[[str], Any] = int
    metavar: str | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


@dataclass(frozen=True)
class Generator:
    """The benchmark written offline. ``generate(seed=..., **options)`` returns ``{split: records}``
    and raises ValueError, in the user's words, for sizes it cannot build."""

    summary: str
    description: str
    generate: Callable[..., dict[str, list[dict]]]
    options: tuple[Option, ...] = ()

    def defaults(self) -> dict:
        return {option.name: option.default for option in self.options}


@dataclass(frozen=True)
class SuiteContext:
    """What a suite's ``run`` gets beside the model: the evaluation's settings (``EvalSettings``: batch
    sizes, data), the suite's own settings, the scoring window and the bootstrap's options."""

    settings: Any
    args: PartSettings | None
    max_length: int
    interval_options: dict


@dataclass(frozen=True)
class Suite:
    """What ``unlearn eval`` runs for a benchmark.

    ``load(source, settings, args)`` reads and checks its records from the benchmark (a
    ``data.benchmark.Benchmark``: a folder or the Hub) before any model loads, raising ``UserError``;
    ``run(model, tokenizer, loaded, context)`` returns ``{part: result}``, written under
    ``summary_key`` in ``summary.json`` (each part's per-example values in ``<file_prefix>_<part>.json``;
    without a file prefix the result goes whole into the summary); ``values(entry)`` flattens that
    entry into ``{"<key>.<part>": (value, interval)}`` for the report's columns, ``summary.csv`` and
    ``unlearn compare``; ``tables(run_results)`` gives its report tables."""

    description: str
    summary_key: str
    load: Callable[[Any, Any, Any], Any]
    run: Callable[[Any, Any, Any, SuiteContext], dict]
    values: Callable[[dict], dict[str, tuple]]
    tables: Callable[[Any], list] | None = None
    settings: type[PartSettings] | None = None
    file_prefix: str | None = None
    intervals: bool = True  # its values have intervals (summary.csv's ``_interval`` columns)
    reads: dict[str, str] = field(default_factory=dict)  # record kind -> what it does with such a split
    reads_retain_eval: bool = False  # it reads --retain-eval (MUSE's PrivLeak: the retrained model's AUC)
    splits: Callable[[Any], list[str]] | None = None  # (args) -> the splits it reads, for a data step
    # (its summary entry) -> the flat names of its forget score and its utility score, or None when the entry
    # has neither: what ``unlearn tune`` minimizes and maximizes by default
    headline: Callable[[dict], tuple[str, str] | None] | None = None

    def args(self, given: dict | None) -> PartSettings | None:
        """Its settings from ``given`` (its defaults where none are given); None without a settings class."""
        return self.settings.model_validate(given or {}) if self.settings else None


@dataclass(frozen=True)
class BenchmarkSpec:
    """One benchmark; ``evaluation`` says how ``unlearn eval`` scores it when it has no suite of its own."""

    name: str
    description: str
    kinds: tuple[str, ...]
    hub: str = ""  # its Hub dataset(s) and how their layout is read
    generator: Generator | None = None
    suite: Suite | None = None
    evaluation: str = ""

    def __post_init__(self):
        unknown = [kind for kind in self.kinds if kind not in KINDS]
        if unknown:
            raise ValueError(f"benchmark {self.name}: record kind '{unknown[0]}' is not one of {', '.join(KINDS)}")
        if self.generator is None and self.suite is None:
            raise ValueError(f"benchmark {self.name}: register a generator, a suite or both")

    @property
    def evaluated_by(self) -> str:
        return f"--suites {self.name}" if self.suite else self.evaluation


def _problem(spec: BenchmarkSpec) -> str | None:
    if spec.name in _BENCHMARKS.parts():
        return f"a benchmark named '{spec.name}' is already registered"
    if spec.suite and any(s.suite.summary_key == spec.suite.summary_key for s in suites().values()):
        return f"benchmark {spec.name}: summary key '{spec.suite.summary_key}' is already taken"
    return None


_BENCHMARKS: Registry[BenchmarkSpec] = Registry("unlearn.benchmarks.builtin", _problem)
register, unregister, registered = _BENCHMARKS.add, _BENCHMARKS.remove, _BENCHMARKS.registered


def benchmarks() -> dict[str, BenchmarkSpec]:
    """Every registered benchmark, in registration order."""
    return dict(_BENCHMARKS.parts())


def benchmark(name: str) -> BenchmarkSpec:
    known = benchmarks()
    if name not in known:
        raise ValueError(f"unknown benchmark '{name}' (known: {', '.join(known)})")
    return known[name]


def suites() -> dict[str, BenchmarkSpec]:
    """The benchmarks with a suite, in registration order: the order they run and their tables appear."""
    return {name: spec for name, spec in benchmarks().items() if spec.suite}


def generators() -> dict[str, BenchmarkSpec]:
    """The benchmarks with a built-in generator (``unlearn data NAME``)."""
    return {name: spec for name, spec in benchmarks().items() if spec.generator}


def suite_settings() -> dict[str, type[PartSettings]]:
    """Each suite's settings class, by suite name (the parts ``--NAME.SETTING`` flags reach)."""
    return {name: spec.suite.settings for name, spec in suites().items() if spec.suite.settings}


def chosen_suites(names: list[str]) -> list[BenchmarkSpec]:
    """The registered suites ``names`` picks, in registration order."""
    known = suites()
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown suite '{unknown[0]}' (known: {', '.join(known)})")
    return [spec for name, spec in known.items() if name in names]


def readers(kind: str) -> list[str]:
    """What evaluates a split of ``kind`` records, suite by suite: ``"MUSE's VerbMem ... (--suites muse)"``."""
    return [f"{spec.suite.reads[kind]} (--suites {name})" for name, spec in suites().items()
            if kind in spec.suite.reads]


def benchmark_list() -> str:
    """Every registered benchmark: its record kinds, generator, suite and the suite's flags
    (``unlearn data --list-benchmarks``, ``unlearn eval --list-benchmarks``)."""
    lines = []
    for name, spec in benchmarks().items():
        lines.append(f"{name:<12} {spec.description}")
        if spec.kinds:
            lines.append(f"{'':<12} records: {', '.join(KIND_NAMES[kind] for kind in spec.kinds)}")
        if spec.hub:
            lines.append(f"{'':<12} Hub: {spec.hub}")
        if spec.generator:
            options = "".join(f" [{o.flag} {o.default}]" for o in spec.generator.options)
            lines.append(f"{'':<12} built-in: unlearn data {name} --out DIR{options}")
        lines.append(f"{'':<12} evaluated by: {spec.evaluated_by}")
        suite = spec.suite
        for setting, info in (suite.settings.model_fields.items() if suite and suite.settings else ()):
            lines.append(f"{'':<12} {part_flag(name, setting)} (default {info.default}): {info.description}")
    return "\n".join(lines)
