"""PNG plots of a run (matplotlib, no display needed)."""

from __future__ import annotations

import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

from unlearn.evaluation.metric_registry import report_columns  # noqa: E402
from unlearn.evaluation.table import direction, metric_label  # noqa: E402
from unlearn.report.collect import RunResults, continual_metrics  # noqa: E402

ANCHOR_COLOR, METHOD_COLOR = "#7f7f7f", "#1f77b4"
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def write_plots(results: RunResults, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [scatter_plot(results, folder / "quality_vs_utility.png")]
    paths += [bar_plot(results, group, name, folder / f"bar_{group}_{name}.png") for group, name in bar_columns()]
    if results.continual:
        paths += [_curve(results, name, folder / f"continual_{name}.png") for name in continual_metrics()]
    return [p for p in paths if p is not None]


def bar_columns() -> list[tuple[str, str]]:
    """The split metrics that declare a bar plot, then model utility."""
    return report_columns("plotted") + [("overall", "model_utility_tofu")]


def scatter_plot(results: RunResults, path: Path) -> Path | None:
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
    first_seed = results.seeds[0]
    for model, utility in lines:
        axes.axhline(utility, color=ANCHOR_COLOR, linestyle=":", linewidth=1)
        if model.seed == first_seed:
            axes.annotate(f"{model.label} (utility; forget quality is measured against it)", (0.02, utility),
                          xycoords=("axes fraction", "data"), textcoords="offset points", xytext=(0, 3), fontsize=8)
    for model, quality, utility in points:
        color = ANCHOR_COLOR if model.role == "anchor" else METHOD_COLOR
        x = quality if quality is not None else 0.5
        interval = model.interval("overall", "model_utility_tofu")
        error = [[utility - interval[0]], [interval[1] - utility]] if interval else None
        axes.errorbar([x], [utility], yerr=error, color=color, marker="s" if model.role == "anchor" else "o",
                      markersize=7, capsize=3)
        if model.seed == first_seed:
            axes.annotate(model.label, (x, utility), textcoords="offset points", xytext=(6, 4), fontsize=9)
    if all(q is not None for _, q, _ in points):
        axes.set_xscale("log")
        axes.set_xlabel("forget quality (KS p-value, log scale) →")
    else:
        axes.set_xlabel("forget quality not computed")
    axes.set_ylabel("model utility (TOFU) →")
    seeds = "" if len(results.seeds) == 1 else f"; one point per seed, {len(results.seeds)} seeds"
    axes.set_title(f"Forgetting vs utility (squares: anchors; bars: 95% interval{seeds})", fontsize=9)
    axes.grid(alpha=0.3)
    return save_figure(figure, path)


def bar_plot(results: RunResults, group: str, name: str, path: Path) -> Path | None:
    """One bar per model: the value with its 95% interval (one seed), or the mean over seeds with
    their standard deviation and each seed's value as a dot."""
    seeds = results.seeds
    per_label = [(label, results.of_label(label)) for label in results.labels]
    if all(m.value(group, name) is None for m in results.models):
        return None
    figure, axes = plt.subplots(figsize=(max(6.0, 0.7 * len(per_label)), 3.4))
    for x, (_label, models) in enumerate(per_label):
        values = [m.value(group, name) for m in models]
        color = ANCHOR_COLOR if models[0].role == "anchor" else METHOD_COLOR
        if any(v is None for v in values):
            axes.annotate("n/c", (x, 0), ha="center", va="bottom", fontsize=8)
            continue
        height = statistics.fmean(values)
        if len(seeds) == 1:
            interval = models[0].interval(group, name)
            error = [[height - interval[0]], [interval[1] - height]] if interval else None
        else:
            error = [[statistics.stdev(values)], [statistics.stdev(values)]]
            axes.scatter([x] * len(values), values, color="black", s=10, zorder=3)
        axes.bar([x], [height], color=color, yerr=error, capsize=4, ecolor="#333")
        axes.annotate(f"{height:.2f}", (x, height), textcoords="offset points", xytext=(9, 2), fontsize=8)
    axes.set_xticks(range(len(per_label)), [label for label, _ in per_label])
    spread = "95% interval" if len(seeds) == 1 else f"mean ± sd over {len(seeds)} seeds"
    axes.set_title(f"{group}: {metric_label(name)} ({direction(group, name)} better; bars: {spread})", fontsize=9)
    axes.set_ylim(0, max(1.0, axes.get_ylim()[1]))
    axes.tick_params(axis="x", labelrotation=20)
    return save_figure(figure, path)


def _curve(results: RunResults, name: str, path: Path) -> Path | None:
    """Forget-split metric after each request. Requests are integers; each method has its own
    marker and line style and a small sideways offset, so methods with equal values stay visible.
    Error bars: 95% intervals (one seed) or the standard deviation over seeds."""
    figure, axes = plt.subplots(figsize=(6, 3.6))
    methods = list(dict.fromkeys(r["method"] for r in results.continual))
    requests = sorted({r["request"] for r in results.continual})
    width = 0.25 / max(1, len(methods))
    drawn = False
    for index, method in enumerate(methods):
        offset = (index - (len(methods) - 1) / 2) * width
        for group, line in (("current", "-"), ("earlier", "--")):
            points = _curve_points(results, method, group, name)
            if not points:
                continue
            xs = [request + offset for request, _, _ in points]
            ys = [value for _, value, _ in points]
            errors = [[y - low for (_, y, (low, _)) in points], [high - y for (_, y, (_, high)) in points]]
            axes.errorbar(xs, ys, yerr=errors, linestyle=line, marker=MARKERS[index % len(MARKERS)], capsize=3,
                          markersize=6, label=f"{method}, {group} request{'s' if group == 'earlier' else ''}")
            drawn = True
    if not drawn:  # not computed for any request (e.g. fact accuracy of records without facts)
        plt.close(figure)
        return None
    axes.set_xticks(requests)
    axes.set_xlabel("forget request")
    axes.set_title(f"forget split: {metric_label(name)} after each request ({direction('forget', name)} better)",
                   fontsize=9)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7)
    return save_figure(figure, path)


def _curve_points(results: RunResults, method: str, group: str, name: str) -> list[tuple[int, float, tuple]]:
    """``(request, value, (low, high))`` per request: the value and interval of one seed, or the mean
    and mean ± sd over seeds."""
    key = f"{group}_{name}"
    points = []
    for request in sorted({r["request"] for r in results.continual if r["method"] == method}):
        rows = [r for r in results.continual if r["method"] == method and r["request"] == request]
        values = [r[key] for r in rows if r.get(key) is not None]
        if not values or len(values) < len(rows):
            continue
        if len(rows) == 1:
            interval = rows[0].get(f"{key}_interval") or (values[0], values[0])
            points.append((request, values[0], tuple(interval)))
        else:
            mean, sd = statistics.fmean(values), statistics.stdev(values)
            points.append((request, mean, (mean - sd, mean + sd)))
    return points


def save_figure(figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
