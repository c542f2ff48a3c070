"""The report of a run: ``report.md`` and a self-contained ``report.html`` (plots inlined),
plus ``summary.csv`` (one row per model), for the continual scenario ``continual.csv``, and for a
run with attacks ``robustness.csv`` (one row per method, attack and metric)."""

from __future__ import annotations

import base64
import csv
import html
import io
from pathlib import Path

from unlearn.evaluation.summary import FORGET_QUALITY_MIN_EXAMPLES
from unlearn.files import atomic_write_text
from unlearn.report.benchmark_tables import benchmark_rows, benchmark_tables
from unlearn.report.collect import MANIFEST, RunResults, read_run
from unlearn.report.plots import write_plots
from unlearn.report.robustness import recovery_heatmap, robustness_rows, robustness_tables, strongest_attack_examples
from unlearn.report.tables import SPLIT_NAMES, Table, result_tables
from unlearn.report.training_curves import curve_sections, run_curves, write_curve_report
from unlearn.scenarios.registry import report_intro
from unlearn.selection.trajectory import TRAJECTORY_FILE


def write_report(folder: str | Path) -> Path:
    """Write every report file into ``folder``; returns the HTML page's path. A training run's folder with
    a curve and no experiment (``unlearn forget --select``) gets the report of its curve."""
    if not (Path(folder) / MANIFEST).is_file() and (Path(folder) / TRAJECTORY_FILE).is_file():
        return write_curve_report(folder)
    results = read_run(folder)
    folder = Path(folder)
    plots = write_plots(results, folder / "plots")
    heatmap = recovery_heatmap(results, folder / "plots" / "robustness_recovery.png")
    plots += [heatmap] if heatmap else []
    curve_tables, curve_plots = curve_sections(run_curves(results), folder / "plots")
    plots += curve_plots
    atomic_write_text(folder / "summary.csv", csv_text(_summary_rows(results)))
    if results.continual:
        atomic_write_text(folder / "continual.csv", csv_text(results.continual))
    robustness = robustness_rows(results)
    if robustness:
        atomic_write_text(folder / "robustness.csv", csv_text(robustness))
    question_answer = any(model.summary["splits"] for model in results.models)
    sections = ((result_tables(results) if question_answer else []) + benchmark_tables(results)
                + robustness_tables(results) + curve_tables)
    details = _details(results)
    atomic_write_text(folder / "report.md", _markdown(results, sections, details, plots, folder))
    page = folder / "report.html"
    atomic_write_text(page, _html(results, sections, details, plots))
    return page


def _flat(row: dict) -> dict:
    flat = {}
    for key, value in row.items():
        if isinstance(value, list) and len(value) == 2:
            flat[f"{key.removesuffix('_interval')}_low"], flat[f"{key.removesuffix('_interval')}_high"] = value
        elif not key.endswith("_interval"):
            flat[key] = value
    return flat


def _summary_rows(results: RunResults) -> list[dict]:
    rows = []
    for model in results.models:
        row = {"model": model.label, "role": model.role, **({"seed": model.seed} if model.seed is not None else {})}
        intervals = model.summary.get("overall_intervals") or {}
        for name, value in model.summary["overall"].items():
            row[name] = value
            row[f"{name}_interval"] = intervals.get(name)
        for role, split in model.summary["splits"].items():
            for name, value in split["metrics"].items():
                row[f"{role}.{name}"] = value
                row[f"{role}.{name}_interval"] = (split.get("intervals") or {}).get(name)
        row.update(benchmark_rows(model.summary))
        row["train_seconds"] = model.train.get("train_seconds")
        rows.append(row)
    return rows


def csv_text(rows: list[dict]) -> str:
    """One column per key; an interval ``[low, high]`` becomes two columns, ``KEY_low`` and ``KEY_high``."""
    rows = [_flat(row) for row in rows]
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in rows)
    return buffer.getvalue()


def _notes(results: RunResults) -> list[str]:
    """What a reader must know before trusting the numbers: training data that was evaluated, and
    forget quality resting on too few examples."""
    notes = list(results.manifest.get("notes", []))
    counts = {(m.summary.get("forget_quality_examples") or {}).get("model") for m in results.models} - {None}
    if counts and min(counts) < FORGET_QUALITY_MIN_EXAMPLES:
        notes.append(f"forget quality rests on {min(counts)} forget examples, below {FORGET_QUALITY_MIN_EXAMPLES}: "
                     "a KS test on so few values can hardly tell a model that forgot from one that did not")
    elif counts:
        notes.append(f"forget quality compares {min(counts)} forget truth ratios per model with the retain model's")
    return notes


def _details(results: RunResults) -> list[Table]:
    """Tables shown after the plots: example generations and what was not computed."""
    sections = [_examples(results, role) for role in ("forget", "retain")
                if any(role in model.splits for model in results.models)]
    sections += strongest_attack_examples(results, results.manifest.get("settings", {}).get("report_examples", 3))
    reasons: dict[tuple[str, str], list[str]] = {}
    # a run with no question-answer splits (WMDP) never asked for the TOFU metrics: no reasons to give
    for model in results.models if any(model.summary["splits"] for model in results.models) else []:
        for metric, reason in model.summary.get("not_computed", {}).items():
            reasons.setdefault((metric, reason), []).append(model.label)
    if reasons:
        sections.append(("Not computed (n/c), and why", ["metric", "reason", "models"],
                         [[metric, reason, ", ".join(dict.fromkeys(models))]
                          for (metric, reason), models in sorted(reasons.items())]))
    return sections


def _examples(results: RunResults, role: str) -> Table:
    """Generations of the first seed's models."""
    count = results.manifest.get("settings", {}).get("report_examples", 3)
    models = results.of_seed(results.seeds[0])
    first = next(m for m in models if role in m.splits)
    rows = []
    for index, example in enumerate(first.splits.get(role, [])[:count]):
        row = [example["question"], example["answer"]]
        for model in models:
            examples = model.splits.get(role, [])
            row.append(examples[index].get("generation", "") if index < len(examples) else "")
        rows.append(row)
    seed = "" if len(results.seeds) == 1 else f" (seed {results.seeds[0]})"
    return (f"Example generations: {SPLIT_NAMES[role]} split{seed}", ["question", "reference answer",
                                                                     *[m.label for m in models]], rows)


def _markdown(results: RunResults, sections, details, plots: list[Path], folder: Path) -> str:
    lines = [f"# {results.manifest['name']}: {results.manifest['scenario']} scenario", "", _intro(results), ""]
    notes = _notes(results)
    if notes:
        lines += ["## Notes", ""] + [f"- {note}" for note in notes] + [""]
    lines += markdown_tables(sections)
    if plots:
        lines += ["## Plots", ""] + [f"![{p.stem}]({p.relative_to(folder).as_posix()})" for p in plots] + [""]
    lines += markdown_tables(details)
    return "\n".join(lines) + "\n"


def markdown_tables(sections) -> list[str]:
    lines = []
    for title, header, rows in sections:
        lines += [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in row) + " |" for row in rows]
        lines.append("")
    return lines


def _html(results: RunResults, sections, details, plots: list[Path]) -> str:
    parts = [f"<h1>{html.escape(results.manifest['name'])}: {html.escape(results.manifest['scenario'])} scenario</h1>",
             f"<p>{html.escape(_intro(results))}</p>"]
    notes = _notes(results)
    if notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    parts += html_tables(sections)
    parts.append(html_plots(plots))
    parts += html_tables(details)
    return html_page(results.manifest["name"], parts)


def html_page(title: str, parts: list[str]) -> str:
    """A self-contained page of HTML ``parts``."""
    style = ("body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;"
             "font-size:13px}th,td{border:1px solid #ccc;padding:4px 7px;text-align:left;vertical-align:top;"
             "max-width:22em}th{background:#f2f2f2}.scroll{overflow-x:auto}.plots img{max-width:48%;margin:4px}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>\n")


def html_plots(plots: list[Path]) -> str:
    """The PNG plots inlined, so the page is one file."""
    images = "".join(f"<img alt='{html.escape(plot.stem)}' src='data:image/png;base64,"
                     f"{base64.b64encode(plot.read_bytes()).decode('ascii')}'>" for plot in plots)
    return f"<h2>Plots</h2><div class='plots'>{images}</div>" if plots else ""


def html_tables(sections) -> list[str]:
    return [f"<h2>{html.escape(title)}</h2><div class='scroll'><table><thead><tr>"
            + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr></thead><tbody>"
            + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
            + "</tbody></table></div>" for title, header, rows in sections]


def _intro(results: RunResults) -> str:
    """The scenario's own first paragraph (its registration's ``intro``), with the run's settings."""
    return report_intro(results.manifest.get("scenario"), results.manifest.get("settings", {}))
