"""The meta-evaluation's files: ``meta_eval.json`` (everything), ``meta_eval.csv`` (one row per metric),
``meta_eval.md`` (the table a reader quotes) and ``meta_eval.png`` (faithfulness against robustness).

A metric not computed reads "n/c" with its reason under the table, never 0; each row says how many models its
scores rest on, because a metric computed on part of the pool is scored on that part only.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from unlearn.files import atomic_write_json, atomic_write_text

COLUMNS = ("rank", "metric", "direction", "faithfulness", "relearning", "quantization", "robustness", "overall",
           "knows", "never_saw", "relearned", "quantized", "unlearned", "not_computed")
SOURCE = ("arXiv 2506.12618, Section 4.1: faithfulness = AUC of the metric separating models that know the forget "
          "data from models that never saw it (ties one half); relearning R = min(retain model's change / unlearned "
          "model's change, 1) (Eq. 2); quantization Q = min(after / before, 1) on the knowledge scale (Eq. 3); "
          "robustness = HM(mean R, mean Q) (Eq. 4); overall = HM(faithfulness, robustness). Eqs. 2-4 as a "
          "third-party reproduction quotes them (see unlearn.metaeval).")


def write_outputs(out: Path, result: dict) -> dict[str, Path]:
    """Write the four files of ``result`` (``rows``, ``pool``, ``pool_sizes``, ``settings``) into ``out``."""
    files = {"json": out / "meta_eval.json", "csv": out / "meta_eval.csv", "markdown": out / "meta_eval.md"}
    plot = scatter_plot(result["rows"], out / "meta_eval.png")
    if plot is not None:
        files["plot"] = plot
    atomic_write_text(files["csv"], csv_text(result["rows"]))
    atomic_write_text(files["markdown"], markdown(result))
    atomic_write_json(files["json"], {**result, "files": {k: p.name for k, p in files.items()}})
    return files


def csv_text(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def markdown(result: dict) -> str:
    """The page: pool sizes, the table, what n/c stands for in each row, and where the equations come from."""
    sizes = result["pool_sizes"]
    lines = ["# Meta-evaluation of the forget metrics", "",
             f"Pool: {_models(sizes['knows'])} the forget data, {sizes['never_saw']} never saw it, "
             f"{sizes['unlearned']} unlearned (attacked by relearning and 4-bit quantization). Higher is better in "
             "every score column; n/c = not computed.", "", *table_lines(result["rows"]), ""]
    missing = [row for row in result["rows"] if row["not_computed"]]
    if missing:
        lines += ["Not computed:", ""] + [f"- {row['metric']}: {row['not_computed']}" for row in missing] + [""]
    partial = [row for row in result["rows"] if not row["not_computed"] and _partial(row, sizes)]
    if partial:
        lines += ["Computed on part of the pool (models: knows / never saw / relearned / quantized, of "
                  f"{sizes['knows']} / {sizes['never_saw']} / {sizes['unlearned']} / {sizes['unlearned']}):", ""]
        lines += [f"- {row['metric']}: {_coverage(row)}" for row in partial] + [""]
    lines += [SOURCE, ""]
    return "\n".join(lines)


def table_lines(rows: list[dict]) -> list[str]:
    """The Markdown table: rank, metric, which way means knowledge, the scores, and the models each rests on."""
    header = ["rank", "metric", "knows more when", "faithfulness (AUC)", "relearning R", "quantization Q",
              "robustness (HM)", "overall (HM)", "models (knows / never saw / relearned / quantized)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    for row in rows:
        cells = [str(row["rank"]) if row["rank"] is not None else "-", row["metric"], row["direction"] or "n/c",
                 *(_number(row[k]) for k in ("faithfulness", "relearning", "quantization", "robustness", "overall")),
                 _coverage(row)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def scatter_plot(rows: list[dict], path: Path) -> Path | None:
    """Faithfulness against robustness, one labelled point per metric that has both; None when none has."""
    points = [r for r in rows if r["faithfulness"] is not None and r["robustness"] is not None]
    if not points:
        return None
    from unlearn.report.plots import plt, save_figure

    figure, axes = plt.subplots(figsize=(6, 4.5))
    at: dict[tuple[float, float], list[str]] = {}  # metrics with the same scores share a point and one label
    for row in points:
        at.setdefault((round(row["faithfulness"], 6), round(row["robustness"], 6)), []).append(row["metric"])
    for (x, y), names in at.items():
        axes.scatter([x], [y], color="#1f77b4", s=30)
        axes.annotate("\n".join(names), (x, y), textcoords="offset points", xytext=(4, 3), fontsize=8,
                      va="top" if len(names) > 1 else "bottom")
    axes.set_xlabel("faithfulness (AUC: knows vs never saw)")
    axes.set_ylabel("robustness (HM of relearning R, quantization Q)")
    axes.set_xlim(-0.05, 1.1)
    axes.set_ylim(min(0.0, *(r["robustness"] for r in points)) - 0.05, 1.1)
    axes.axvline(0.5, color="#7f7f7f", linestyle=":", linewidth=1)
    axes.set_title("Forget metrics: faithfulness vs robustness")
    return save_figure(figure, path)


def _models(count: int) -> str:
    """``1 model knows`` / ``2 models know``."""
    return f"{count} model knows" if count == 1 else f"{count} models know"


def _number(value) -> str:
    return "n/c" if value is None else f"{value:.3f}"


def _coverage(row: dict) -> str:
    return f"{row['knows']} / {row['never_saw']} / {row['relearned']} / {row['quantized']}"


def _partial(row: dict, sizes: dict) -> bool:
    return (row["knows"], row["never_saw"], row["relearned"], row["quantized"]) != (
        sizes["knows"], sizes["never_saw"], sizes["unlearned"], sizes["unlearned"])
