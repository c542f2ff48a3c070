"""The curves of evaluation during training in a report: a plot per trained model with the chosen point
marked, a table of its points, and one table of what each selection rule chose and why.

A run folder with ``trajectory.json`` (``unlearn forget --curve.* / --select``) has a curve: a scenario's
report shows those of its models, and ``write_curve_report`` writes the report of one such folder.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from pathlib import Path

from unlearn.errors import UserError
from unlearn.files import atomic_write_text
from unlearn.report.plots import plt, save_figure
from unlearn.report.tables import Table, cell
from unlearn.selection.curve import Checkpoint, metric_key
from unlearn.selection.registry import rule_metrics as registered_rule_metrics
from unlearn.selection.trajectory import TRAJECTORY_FILE, read_trajectory

FORGET_LINES = ("forget.fact_accuracy", "forget.rougeL_recall", "forget.probability")
UTILITY_LINES = ("model_utility_tofu", "retain.rougeL_recall", "retain.fact_accuracy")
MAX_ROWS = 25  # a longer curve's table shows evenly spaced points, the chosen one always among them


@dataclass(frozen=True)
class TrainingCurve:
    """One trained model's curve, the ``selected`` entry of its trajectory file and its train summary's
    ``selection`` entry (which weights became the model)."""

    label: str
    checkpoints: list[Checkpoint]
    selected: dict | None
    kept: dict | None = None

    @property
    def chosen_step(self) -> int | None:
        return (self.selected or {}).get("step")


def read_curve(label: str, folder: Path, train: dict | None = None) -> TrainingCurve | None:
    """The curve of a model folder, or None when it has no ``trajectory.json``."""
    path = Path(folder) / TRAJECTORY_FILE
    if not path.is_file():
        return None
    checkpoints, selected = read_trajectory(path)
    return TrainingCurve(label, checkpoints, selected, (train or {}).get("selection"))


def rule_metrics(curve: TrainingCurve) -> list[str]:
    """The metrics of the curve the selection rule read (none when the rule is not registered here)."""
    known = {key for c in curve.checkpoints for key in c.metrics}
    selected = curve.selected or {}
    try:
        names = registered_rule_metrics(selected["rule"], selected.get("args")) if selected.get("rule") else []
    except UserError:
        return []
    return list(dict.fromkeys(metric_key(n) for n in names if metric_key(n) in known))


def panels(curve: TrainingCurve) -> tuple[list[str], list[str]]:
    """The forget and the utility metrics plotted: the usual ones the curve computed, and the rule's."""
    computed = {k for c in curve.checkpoints for k, v in c.metrics.items() if v is not None}
    ruled = rule_metrics(curve)
    utility = [n for n in UTILITY_LINES if n in computed] + [n for n in ruled if "utility" in n]
    forget = [n for n in FORGET_LINES if n in computed] + [n for n in ruled if "utility" not in n]
    return list(dict.fromkeys(forget)), list(dict.fromkeys(utility))


def curve_plot(curve: TrainingCurve, path: Path) -> Path | None:
    """Forget metrics (left) and utility metrics (right) over the steps, the chosen step marked."""
    forget, utility = panels(curve)
    if not forget and not utility or not curve.checkpoints:
        return None
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharex=True)
    steps = [c.step for c in curve.checkpoints]
    chosen = next((c for c in curve.checkpoints if c.step == curve.chosen_step), None)
    for axis, names, title in ((axes[0], forget, "forget"), (axes[1], utility, "utility")):
        for name in names:
            values = [c.value(name) for c in curve.checkpoints]
            axis.plot(steps, [v if v is not None else float("nan") for v in values], marker=".", label=name)
            if chosen is not None and chosen.value(name) is not None:
                axis.plot([chosen.step], [chosen.value(name)], marker="o", markersize=10, markerfacecolor="none",
                          color="black")
        if curve.chosen_step is not None:
            axis.axvline(curve.chosen_step, color="black", linestyle="--", linewidth=1)
        axis.set_title(title, fontsize=9)
        axis.set_xlabel("optimizer step")
        axis.grid(alpha=0.3)
        if names:
            axis.legend(fontsize=7)
    rule = (curve.selected or {}).get("rule")
    choice = f"rule {rule}: step {curve.chosen_step}" if curve.chosen_step is not None else (
        f"rule {rule}: no checkpoint qualifies" if rule else "no selection rule")
    figure.suptitle(f"{curve.label}: evaluation during training ({choice}; dashed: the chosen step)", fontsize=9)
    return save_figure(figure, path)


def curve_table(curve: TrainingCurve) -> Table:
    """Each point's step, epoch and plotted metrics (with intervals), the chosen one marked."""
    forget, utility = panels(curve)
    names = forget + utility
    rows = [[str(c.step), "" if c.epoch is None else f"{c.epoch:g}", "✓" if c.step == curve.chosen_step else "",
             *[cell(c.value(n), c.intervals.get(n)) for n in names]] for c in shown(curve)]
    return (f"Training curve: {curve.label}", ["step", "epoch", "chosen", *names], rows)


def shown(curve: TrainingCurve) -> list[Checkpoint]:
    """All points of a short curve; of a long one, ``MAX_ROWS`` evenly spaced, the first, last and chosen
    among them."""
    points = curve.checkpoints
    if len(points) <= MAX_ROWS:
        return points
    picked = {round(i * (len(points) - 1) / (MAX_ROWS - 1)) for i in range(MAX_ROWS)}
    picked |= {i for i, c in enumerate(points) if c.step == curve.chosen_step}
    return [points[i] for i in sorted(picked)]


def selection_table(curves: list[TrainingCurve]) -> Table | None:
    """What each model's rule chose, which weights became the model, and the rule's reason."""
    ruled = [c for c in curves if c.selected]
    if not ruled:
        return None
    rows = [[c.label, c.selected["rule"], "none" if c.chosen_step is None else str(c.chosen_step),
             (c.kept or {}).get("model") or "", c.selected.get("reason") or ""] for c in ruled]
    return ("Checkpoint selection", ["model", "rule", "step chosen", "saved model", "reason"], rows)


def run_curves(results) -> list[TrainingCurve]:
    """The curves of a scenario's trained models (``RunResults``), labelled as its tables label them."""
    from unlearn.report.tables import model_name

    found = [read_curve(model_name(m, results.seeds), m.folder, m.train) for m in results.models if m.folder]
    return [c for c in found if c is not None]


def curve_sections(curves: list[TrainingCurve], folder: Path) -> tuple[list[Table], list[Path]]:
    """The report's tables and plots for ``curves`` (plots written into ``folder``)."""
    folder.mkdir(parents=True, exist_ok=True)
    plots = [curve_plot(c, folder / f"curve_{file_name(c.label)}.png") for c in curves]
    selection = selection_table(curves)
    tables = ([selection] if selection else []) + [curve_table(c) for c in curves]
    return tables, [p for p in plots if p is not None]


def file_name(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_") or "model"


def write_curve_report(folder: str | Path) -> Path:
    """``report.md`` and a self-contained ``report.html`` of one training run's folder with ``trajectory.json``
    (an ``unlearn forget`` output): its curve, plot and selection."""
    from unlearn.report.render import html_page, html_plots, html_tables, markdown_tables

    folder = Path(folder)
    train = folder / "train_summary.json"
    summary = json.loads(train.read_text(encoding="utf-8")) if train.is_file() else {}
    curve = read_curve(summary.get("method") or folder.name, folder, summary)
    tables, plots = curve_sections([curve], folder / "plots")
    title = f"{curve.label}: evaluation during training"
    lines = [f"# {title}", ""] + markdown_tables(tables)
    lines += ["## Plots", ""] + [f"![{p.stem}]({p.relative_to(folder).as_posix()})" for p in plots] + [""]
    atomic_write_text(folder / "report.md", "\n".join(lines) + "\n")
    page = folder / "report.html"
    atomic_write_text(page, html_page(title, [f"<h1>{html.escape(title)}</h1>", *html_tables(tables),
                                              html_plots(plots)]))
    return page
