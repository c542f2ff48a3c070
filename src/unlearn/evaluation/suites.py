"""The benchmark suites ``unlearn eval`` runs beside the question-answer splits (``--suites``), as the
benchmark registry declares them (``benchmarks/registry.py``): MUSE, RWKU, multiple choice, lm-eval
and any registered later.

``prepare_suites`` loads and checks every chosen suite's data before the model loads (bad data fails
fast); ``run_suites`` computes them on the model, in the registry's order; ``write_suites`` writes
each part's per-example file and returns the entries of ``summary.json`` (one per suite, under its
summary key). Nothing here knows a suite by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from unlearn.benchmarks.registry import BenchmarkSpec, SuiteContext, chosen_suites, suites
from unlearn.files import atomic_write_json
from unlearn.models.loading import fit_to_context

PER_EXAMPLE_KEYS = ("examples", "member_scores", "holdout_scores")  # in the suite files, not the summary


@dataclass
class PreparedSuites:
    """Each chosen suite with what its ``load`` read, in the registry's order."""

    loaded: list[tuple[BenchmarkSpec, object]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.loaded

    @property
    def specs(self) -> list[BenchmarkSpec]:
        return [spec for spec, _ in self.loaded]


def prepare_suites(benchmark, settings) -> PreparedSuites:
    """Every chosen suite's records and checks, before any model loads."""
    return PreparedSuites([(spec, spec.suite.load(benchmark, settings, settings.args_of(spec.name)))
                           for spec in chosen_suites(settings.suites)])


def run_suites(model, tokenizer, prepared: PreparedSuites, settings) -> dict:
    """``{summary key: results}`` for every prepared suite."""
    options = {"confidence": settings.confidence, "resamples": settings.bootstrap_resamples}
    max_length = fit_to_context(settings.max_length, model)
    results = {}
    for spec, loaded in prepared.loaded:
        context = SuiteContext(settings, settings.args_of(spec.name), max_length, options)
        results[spec.suite.summary_key] = spec.suite.run(model, tokenizer, loaded, context)
    return results


def write_suites(out: Path, results: dict) -> dict:
    """Write ``<file prefix>_<part>.json`` with every per-example value; return the summary entries."""
    prefixes = {spec.suite.summary_key: spec.suite.file_prefix for spec in suites().values()}
    summary = {}
    for key, parts in results.items():
        prefix = prefixes.get(key)
        if prefix is None:  # a suite whose result goes whole into the summary (lm-eval's)
            summary[key] = parts
            continue
        for part, result in parts.items():
            if set(result) != {"not_computed"}:
                atomic_write_json(out / f"{prefix}_{part}.json", result)
        summary[key] = {part: {k: v for k, v in result.items() if k not in PER_EXAMPLE_KEYS}
                        for part, result in parts.items()}
    return summary
