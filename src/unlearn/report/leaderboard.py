"""``unlearn compare``: a leaderboard of any number of finished evaluations and experiments.

A source is an evaluation folder (``unlearn eval --out``: one entry) or an experiment folder
(``unlearn run``: one entry per model and seed). Each cell is a value with the interval
its evaluation stored. Sorted by a chosen metric in the direction that is better, each entry is
also compared with the leader on the same questions (a paired difference and its interval), so
a reader can see whether the first place is a real lead or noise. Written as
``leaderboard.md``, ``leaderboard.html`` (plots inlined), ``leaderboard.csv`` and ``plots/``.
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass
from pathlib import Path

from unlearn.errors import UserError
from unlearn.evaluation.compare import paired_difference, pairable
from unlearn.evaluation.table import direction
from unlearn.files import LOCK_FILE, atomic_write_text, check_writable
from unlearn.metrics.uncertainty import excludes
from unlearn.report.collect import (INTERVALS, MANIFEST, ModelResult, RunResults, main_columns, read_json, read_run,
                                    read_summary, suite_values)
from unlearn.report.plots import bar_plot, scatter_plot
from unlearn.report.render import csv_text, html_page, html_plots, html_tables, markdown_tables
from unlearn.report.tables import cell, column_title

FILES = ("leaderboard.md", "leaderboard.html", "leaderboard.csv", "plots")
Column = tuple[str, str]  # (group, metric); group "overall" is a model-level number


@dataclass(frozen=True)
class Leaderboard:
    entries: list[ModelResult]  # in rank order when sorted
    sources: list[str]  # the folder each entry came from, in the same order
    columns: list[Column]
    sort_by: Column | None
    leads: list[tuple[float, list[float] | None] | None]  # each entry minus the leader, paired; None if not paired
    page: Path  # leaderboard.html


def compare(sources: list[str | Path], out: str | Path, sort_by: str | None = None,
            metrics: list[str] | None = None, labels: list[str] | None = None) -> Leaderboard:
    """Read every source, rank, and write the leaderboard files into ``out``."""
    if not sources:
        raise UserError("compare needs at least one evaluation or experiment folder")
    if labels is not None and len(labels) != len(sources):
        raise UserError(f"--labels gives {len(labels)} names for {len(sources)} sources; give one per source")
    out = Path(out)
    _check_out(out, sources)
    found = [(entry, str(source)) for i, source in enumerate(sources)
             for entry in read_source(Path(source), labels[i] if labels else None)]
    entries, origins = _unique_labels([e for e, _ in found]), [s for _, s in found]
    columns = [parse_metric(m, entries) for m in metrics] if metrics else main_columns()
    key = parse_metric(sort_by, entries) if sort_by is not None else None
    if key:
        order = sorted(range(len(entries)), key=lambda i: _rank_key(entries[i], key))
        entries, origins = [entries[i] for i in order], [origins[i] for i in order]
        if key not in columns:
            columns.insert(0, key)
    leads = [paired_difference(e.splits, entries[0].splits, *key, INTERVALS) if key and i else None
             for i, e in enumerate(entries)]
    board = Leaderboard(entries, origins, columns, key, leads, out / "leaderboard.html")
    _write(board, out)
    return board


def read_source(folder: Path, label: str | None) -> list[ModelResult]:
    """The entries of one folder: an evaluation (labelled by ``label`` or the folder's name) or an
    experiment (each model labelled ``NAME/model``, with its seed; ``label`` replaces NAME)."""
    if (folder / MANIFEST).is_file():
        run = read_run(folder, continual=False)  # a leaderboard shows each method's final model
        name = label or run.manifest.get("name", folder.name)
        return [dataclasses.replace(m, label=f"{name}/{m.label}" + (f" (seed {m.seed})" if m.seed is not None else ""),
                                    seed=None) for m in run.models]
    summary_path = folder / "summary.json"
    if not summary_path.is_file():
        raise UserError(f"{folder} holds neither a finished evaluation (summary.json) nor an experiment ({MANIFEST})")
    summary = read_summary(summary_path)
    splits = {role: _examples(folder / f"{role}.json") for role in summary["splits"]}
    return [ModelResult(label or folder.name, "evaluation", summary, splits)]


def _examples(path: Path) -> list[dict]:
    data = read_json(path)
    examples = data.get("examples", []) if isinstance(data, dict) else None
    if not isinstance(examples, list) or not all(isinstance(e, dict) for e in examples):
        raise UserError(f"{path}: 'examples' must be a list of per-example objects; run 'unlearn eval' again")
    return examples


def parse_metric(text: str, entries: list[ModelResult]) -> Column:
    """``forget_quality`` (a model-level number), ``SPLIT.METRIC`` such as ``forget.rougeL_recall``, or a
    suite's number such as ``muse.knowmem_f``, ``rwku.forget_level2``, ``choice.forget_choice``."""
    group, _, name = text.strip().rpartition(".")
    column = (group or "overall", name)
    if not name or not any(e.value(*column) is not None for e in entries):
        available = sorted({n for e in entries for n, v in e.summary["overall"].items() if v is not None}
                           | {f"{r}.{n}" for e in entries for r, s in e.summary["splits"].items() for n in s["metrics"]}
                           | {k for e in entries for k, (v, _) in suite_values(e.summary).items() if v is not None})
        if not name:
            raise UserError(f"a metric name is empty ('{text}'); name one (available: {', '.join(available)})")
        raise UserError(f"metric '{text}' is computed for none of the entries (available: {', '.join(available)})")
    return column


def _rank_key(entry: ModelResult, column: Column) -> tuple:
    """Better first in the metric's direction; not computed last."""
    value = entry.value(*column)
    if value is None:
        return (1, 0.0)
    arrow = direction(*column)
    if arrow.startswith("→"):
        return (0, abs(value - float(arrow[1:])))
    return (0, -value if arrow == "↑" else value)


def _unique_labels(entries: list[ModelResult]) -> list[ModelResult]:
    seen: dict[str, int] = {}
    unique = []
    for entry in entries:
        seen[entry.label] = seen.get(entry.label, 0) + 1
        count = seen[entry.label]
        unique.append(entry if count == 1 else dataclasses.replace(entry, label=f"{entry.label} ({count})"))
    return unique


def _check_out(out: Path, sources: list) -> None:
    """The output folder is new, or holds only an earlier leaderboard (rewritten); never a source."""
    check_writable(out)
    if any(out.resolve() == Path(s).resolve() for s in sources):
        raise UserError(f"--out {out} is one of the compared folders; choose another")
    foreign = [p.name for p in out.iterdir() if p.name not in FILES and p.name != LOCK_FILE] if out.is_dir() else []
    if foreign:
        raise UserError(f"output folder {out} holds other files ({foreign[0]}, ...); choose another --out")


def table(board: Leaderboard) -> tuple[str, list[str], list[list[str]]]:
    header = ["#" if board.sort_by else "entry", "model", "from"]
    header += [column_title(*c) for c in board.columns]
    if board.sort_by:
        header.append(f"Δ {column_title(*board.sort_by)} vs #1 (paired)")
    rows = []
    for rank, (entry, source, lead) in enumerate(zip(board.entries, board.sources, board.leads), start=1):
        row = [str(rank), entry.label, source] + [cell(entry.value(*c), entry.interval(*c)) for c in board.columns]
        if board.sort_by:
            row.append("—" if rank == 1 else cell(*lead) + (" *" if excludes(lead[1]) else "") if lead
                       else "n/c (other questions)" if pairable(*board.sort_by) else "n/c (not a paired number)")
        rows.append(row)
    return _title(board), header, rows


def _title(board: Leaderboard) -> str:
    levels = sorted({(e.summary.get("intervals") or {}).get("confidence", 0.95) for e in board.entries})
    confidence = ", ".join(f"{c:.0%}" for c in levels)
    order = (f"sorted by {column_title(*board.sort_by)} (better first; * = the paired interval of the difference "
             "to #1 excludes 0)") if board.sort_by else "in the order given"
    return f"Leaderboard: {len(board.entries)} models, {order}; cells: value [{confidence} interval]"


def _write(board: Leaderboard, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out / "plots", ignore_errors=True)  # an earlier leaderboard's plots may name other metrics
    (out / "plots").mkdir()
    title, header, rows = table(board)
    results = RunResults(out, {"name": "leaderboard"}, board.entries, [])
    plots = [scatter_plot(results, out / "plots" / "quality_vs_utility.png")]
    plots += [bar_plot(results, g, n, out / "plots" / f"bar_{g}_{n}.png") for g, n in board.columns]
    plots = [p for p in plots if p is not None]
    markdown = ["# Leaderboard", ""] + markdown_tables([(title, header, rows)])
    markdown += ["## Plots", ""] + [f"![{p.stem}](plots/{p.name})" for p in plots]
    atomic_write_text(out / "leaderboard.md", "\n".join(markdown) + "\n")
    atomic_write_text(out / "leaderboard.html", html_page("Leaderboard", ["<h1>Leaderboard</h1>",
                                                                         *html_tables([(title, header, rows)]),
                                                                         html_plots(plots)]))
    atomic_write_text(out / "leaderboard.csv", csv_text(_csv_rows(board)))


def _csv_rows(board: Leaderboard) -> list[dict]:
    rows = []
    for rank, (entry, source, lead) in enumerate(zip(board.entries, board.sources, board.leads), start=1):
        row = {"rank": rank if board.sort_by else None, "model": entry.label, "from": source, "role": entry.role}
        for group, name in board.columns:
            key = name if group == "overall" else f"{group}.{name}"
            row[key], row[f"{key}_interval"] = entry.value(group, name), entry.interval(group, name)
        if board.sort_by:
            row["difference_to_first"], row["difference_to_first_interval"] = lead if lead else (None, None)
        rows.append(row)
    return rows

