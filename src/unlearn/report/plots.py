"""PNG plots of a run (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

from unlearn.evaluation.table import LABELS, direction  # noqa: E402
from unlearn.report.collect import CONTINUAL_METRICS, RunResults  # noqa: E402

BAR_METRICS = [("forget", "fact_accuracy"), ("forget", "rougeL_recall"), ("forget", "token_entropy"),
               ("retain", "fact_accuracy"), ("retain", "rougeL_recall"), ("overall", "model_utility_tofu")]
ANCHOR_COLOR, METHOD_COLOR = "#7f7f7f", "#1f77b4"


def write_plots(results: RunResults, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [_scatter(results, folder / "quality_vs_utility.png")]
    paths += [_bars(results, group, name, folder / f"bar_{group}_{name}.png") for group, name in BAR_METRICS]
    if results.continual:
        paths += [_curve(results, name, folder / f"continual_{name}.png") for name in CONTINUAL_METRICS]
    return [p for p in paths if p is not None]


def _scatter(results: RunResults, path: Path) -> Path | None:
    """Forget quality (log scale) against model utility, one point per model."""
    points = [(m, m.value("overall", "forget_quality"), m.value("overall", "model_utility_tofu"))
              for m in results.models]
    lines = [(m, u) for m, q, u in points if q is None and u is not None]  # e.g. the retain model itself
    points = [(m, q, u) for m, q, u in points if q is not None and u is not None and q > 0]
    if not points:
        points = [(m, None, u) for m, u in lines]
        lines = []
        if not points:
            return None
    figure, axes = plt.subplots(figsize=(6, 4.2))
    for model, utility in lines:
        axes.axhline(utility, color=ANCHOR_COLOR, linestyle=":", linewidth=1)
        axes.annotate(f"{model.label} (utility; forget quality is measured against it)", (0.02, utility),
                      xycoords=("axes fraction", "data"), textcoords="offset points", xytext=(0, 3), fontsize=8)
    for model, quality, utility in points:
        color = ANCHOR_COLOR if model.role == "anchor" else METHOD_COLOR
        x = quality if quality is not None else 0.5
        axes.scatter([x], [utility], color=color, marker="s" if model.role == "anchor" else "o", s=60)
        axes.annotate(model.label, (x, utility), textcoords="offset points", xytext=(6, 4), fontsize=9)
    if all(q is not None for _, q, _ in points):
        axes.set_xscale("log")
        axes.set_xlabel("forget quality (KS p-value, log scale) →")
    else:
        axes.set_xlabel("forget quality not computed")
    axes.set_ylabel("model utility (TOFU) →")
    axes.set_title("Forgetting vs utility (squares: target and retain models)")
    axes.grid(alpha=0.3)
    return _save(figure, path)


def _bars(results: RunResults, group: str, name: str, path: Path) -> Path | None:
    values = [(m, m.value(group, name)) for m in results.models]
    if all(v is None for _, v in values):
        return None
    figure, axes = plt.subplots(figsize=(6, 3.4))
    labels = [m.label for m, _ in values]
    heights = [v if v is not None else 0.0 for _, v in values]
    colors = [ANCHOR_COLOR if m.role == "anchor" else METHOD_COLOR for m, _ in values]
    bars = axes.bar(labels, heights, color=colors)
    for bar, (_, value) in zip(bars, values):
        axes.annotate("n/c" if value is None else f"{value:.2f}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                      ha="center", va="bottom", fontsize=8)
    axes.set_title(f"{group}: {LABELS.get(name, name)} ({direction(group, name)} better)")
    axes.set_ylim(0, max(1.0, max(heights) * 1.15))
    axes.tick_params(axis="x", labelrotation=20)
    return _save(figure, path)


def _curve(results: RunResults, name: str, path: Path) -> Path | None:
    figure, axes = plt.subplots(figsize=(6, 3.6))
    for method in dict.fromkeys(r["method"] for r in results.continual):
        rows = [r for r in results.continual if r["method"] == method]
        for group, style in (("current", "-o"), ("earlier", "--s")):
            points = [(r["request"], r[f"{group}_{name}"]) for r in rows if r.get(f"{group}_{name}") is not None]
            if points:
                axes.plot(*zip(*points), style, label=f"{method}, {group} request{'s' if group == 'earlier' else ''}")
    axes.set_xlabel("forget request")
    axes.set_title(f"forget split: {LABELS.get(name, name)} after each request ({direction('forget', name)} better)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7)
    return _save(figure, path)


def _save(figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
