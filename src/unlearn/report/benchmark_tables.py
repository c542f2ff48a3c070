"""The report's tables and ``summary.csv`` columns for the benchmark suites (MUSE, RWKU, multiple
choice, lm-eval and any registered later): each suite's registration gives its tables and its values
(``benchmarks/registry.py``), in the registry's order."""

from __future__ import annotations

from unlearn.benchmarks.registry import suites
from unlearn.report.collect import RunResults
from unlearn.report.tables import Table


def benchmark_tables(results: RunResults) -> list[Table]:
    """Every registered suite's report tables, for the models that have its numbers."""
    return [table for spec in suites().values() if spec.suite.tables for table in spec.suite.tables(results)]


def benchmark_rows(model_summary: dict) -> dict:
    """The suites' numbers as summary.csv columns, each with its interval where the suite has intervals."""
    row = {}
    for spec in suites().values():
        suite = spec.suite
        for key, (value, interval) in suite.values(model_summary.get(suite.summary_key) or {}).items():
            row[key] = value
            if suite.intervals:
                row[f"{key}_interval"] = interval
    return row
