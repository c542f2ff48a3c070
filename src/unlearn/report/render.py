"""The report of a run: ``report.md`` and a self-contained ``report.html`` (plots inlined),
plus ``summary.csv`` (one row per model) and, for the continual scenario, ``continual.csv``."""

from __future__ import annotations

import base64
import csv
import html
import io
from pathlib import Path

from unlearn.evaluation.table import LABELS, direction
from unlearn.files import atomic_write_text
from unlearn.evaluation.summary import TOFU_UTILITY_METRICS
from unlearn.report.collect import MAIN_COLUMNS, RunResults, read_run
from unlearn.report.plots import write_plots

SPLIT_NAMES = {"forget": "forget", "retain": "retain", "real_authors": "real authors", "world_facts": "world facts"}


def write_report(folder: str | Path) -> Path:
    """Write every report file into ``folder``; returns the HTML page's path."""
    results = read_run(folder)
    folder = Path(folder)
    plots = write_plots(results, folder / "plots")
    atomic_write_text(folder / "summary.csv", _csv(_summary_rows(results)))
    if results.continual:
        atomic_write_text(folder / "continual.csv", _csv(results.continual))
    sections, details = _sections(results), _details(results)
    atomic_write_text(folder / "report.md", _markdown(results, sections, details, plots, folder))
    page = folder / "report.html"
    atomic_write_text(page, _html(results, sections, details, plots))
    return page


def _summary_rows(results: RunResults) -> list[dict]:
    rows = []
    for model in results.models:
        row = {"model": model.label, "role": model.role}
        row.update({k: v for k, v in model.summary["overall"].items()})
        for role, split in model.summary["splits"].items():
            row.update({f"{role}.{k}": v for k, v in split["metrics"].items()})
        row["train_seconds"] = model.train.get("train_seconds")
        rows.append(row)
    return rows


def _csv(rows: list[dict]) -> str:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in rows)
    return buffer.getvalue()


def _cell(value) -> str:
    if value is None:
        return "n/c"
    return f"{value:.3g}" if isinstance(value, float) and abs(value) < 1e-2 and value != 0 else f"{value:.3f}"


def _sections(results: RunResults) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) tables shared by the Markdown and HTML pages."""
    header = ["model"] + [f"{g if g != 'overall' else ''} {LABELS.get(n, n)} {direction(g, n)}".strip()
                          for g, n in MAIN_COLUMNS] + ["train s"]
    main = [[m.label] + [_cell(m.value(g, n)) for g, n in MAIN_COLUMNS] + [_cell(m.train.get("train_seconds"))]
            for m in results.models]
    roles = [r for r in SPLIT_NAMES if any(r in m.summary["splits"] for m in results.models)]
    columns = [(r, n) for r in roles for n in TOFU_UTILITY_METRICS]
    split_header = ["model"] + [f"{SPLIT_NAMES[r]} {LABELS[n]} {direction(r, n)}" for r, n in columns]
    per_split = [[m.label] + [_cell(m.value(r, n)) for r, n in columns] for m in results.models]
    sections = [("Results", header, main), ("ROUGE-L, probability and truth ratio per split", split_header, per_split)]
    if results.continual:
        names = [k for k in results.continual[0] if k not in ("method", "request")]
        sections.append(("Continual: after each forget request", ["method", "request", *names],
                         [[r["method"], str(r["request"])] + [_cell(r[k]) for k in names] for r in results.continual]))
    return sections


def _details(results: RunResults) -> list[tuple[str, list[str], list[list[str]]]]:
    """Tables shown after the plots: example generations and what was not computed."""
    sections = [_examples(results, role) for role in ("forget", "retain")]
    reasons: dict[tuple[str, str], list[str]] = {}
    for model in results.models:
        for metric, reason in model.summary.get("not_computed", {}).items():
            reasons.setdefault((metric, reason), []).append(model.label)
    if reasons:
        sections.append(("Not computed (n/c), and why", ["metric", "reason", "models"],
                         [[metric, reason, ", ".join(models)] for (metric, reason), models in sorted(reasons.items())]))
    return sections


def _examples(results: RunResults, role: str) -> tuple[str, list[str], list[list[str]]]:
    count = results.manifest.get("settings", {}).get("report_examples", 3)
    first = next(m for m in results.models if role in m.splits)
    rows = []
    for index, example in enumerate(first.splits.get(role, [])[:count]):
        row = [example["question"], example["answer"]]
        for model in results.models:
            examples = model.splits.get(role, [])
            row.append(examples[index].get("generation", "") if index < len(examples) else "")
        rows.append(row)
    return (f"Example generations: {SPLIT_NAMES[role]} split", ["question", "reference answer",
                                                               *[m.label for m in results.models]], rows)


def _markdown(results: RunResults, sections, details, plots: list[Path], folder: Path) -> str:
    lines = [f"# {results.manifest['name']}: {results.manifest['scenario']} scenario", "", _intro(results), ""]
    lines += _markdown_tables(sections)
    lines += ["## Plots", ""] + [f"![{p.stem}]({p.relative_to(folder).as_posix()})" for p in plots] + [""]
    lines += _markdown_tables(details)
    return "\n".join(lines) + "\n"


def _markdown_tables(sections) -> list[str]:
    lines = []
    for title, header, rows in sections:
        lines += [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in row) + " |" for row in rows]
        lines.append("")
    return lines


def _html(results: RunResults, sections, details, plots: list[Path]) -> str:
    parts = [f"<h1>{html.escape(results.manifest['name'])}: {html.escape(results.manifest['scenario'])} scenario</h1>",
             f"<p>{html.escape(_intro(results))}</p>"]
    parts += _html_tables(sections)
    parts.append("<h2>Plots</h2><div class='plots'>")
    for plot in plots:
        data = base64.b64encode(plot.read_bytes()).decode("ascii")
        parts.append(f"<img alt='{html.escape(plot.stem)}' src='data:image/png;base64,{data}'>")
    parts.append("</div>")
    parts += _html_tables(details)
    style = ("body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;"
             "font-size:13px}th,td{border:1px solid #ccc;padding:4px 7px;text-align:left;vertical-align:top;"
             "max-width:22em}th{background:#f2f2f2}.scroll{overflow-x:auto}.plots img{max-width:48%;margin:4px}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(results.manifest['name'])}"
            f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>\n")


def _html_tables(sections) -> list[str]:
    return [f"<h2>{html.escape(title)}</h2><div class='scroll'><table><thead><tr>"
            + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr></thead><tbody>"
            + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
            + "</tbody></table></div>" for title, header, rows in sections]


def _intro(results: RunResults) -> str:
    settings = results.manifest.get("settings", {})
    return (f"Model {settings.get('model')}, data {settings.get('data')}, forget split {settings.get('forget')}, "
            f"retain split {settings.get('retain')}. Arrows say which direction is better; n/c = not computed "
            "(reasons at the end). Squares in the scatter plot are the target and retain models; the retain "
            "model is the reference of forget quality and PrivLeak, so those are not computed for itself.")
