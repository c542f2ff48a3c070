"""``pareto.png``: every completed trial in the plane of the first two objectives, the front joined and
drawn with its intervals, the chosen trial ringed and the target marked, so a reader sees both the
trade-off and where the model started. With trials re-checked over more seeds, each one's worst seed is
drawn beside it, and the ring is where the rule chose: at the worst seed."""

from __future__ import annotations

from pathlib import Path

from optuna.trial import FrozenTrial, TrialState

from unlearn.report.plots import plt, save_figure
from unlearn.tuning.objectives import Objective, stored_interval

FRONT_COLOR, OTHER_COLOR, TARGET_COLOR, CHOSEN_COLOR = "#1f77b4", "#b0b0b0", "#d62728", "#2ca02c"


def front_plot(trials: list[FrozenTrial], front: list[FrozenTrial], objectives: list[Objective], target: dict,
               chosen: int | None, path: Path, rechecked: dict | None = None) -> Path | None:
    """The plot, or None (and no file) when there are fewer than two objectives or no completed trial.
    ``rechecked``: ``recheck.recheck``'s result."""
    completed = [t for t in trials if t.state == TrialState.COMPLETE]
    if len(objectives) < 2 or not completed:
        path.unlink(missing_ok=True)
        return None
    x, y = objectives[0], objectives[1]
    figure, axes = plt.subplots(figsize=(6, 4.5))
    on_front = {t.number for t in front}
    others = [t for t in completed if t.number not in on_front]
    axes.scatter([t.values[0] for t in others], [t.values[1] for t in others], color=OTHER_COLOR, label="trial")
    ordered = sorted(front, key=lambda t: t.values[0])
    axes.plot([t.values[0] for t in ordered], [t.values[1] for t in ordered], color=FRONT_COLOR, alpha=0.5)
    for trial in ordered:
        xerr, yerr = (_error(trial, o, i) for i, o in enumerate((x, y)))
        axes.errorbar(trial.values[0], trial.values[1], xerr=xerr, yerr=yerr, fmt="o", color=FRONT_COLOR,
                      capsize=2, label="Pareto front" if trial is ordered[0] else None)
        axes.annotate(str(trial.number), (trial.values[0], trial.values[1]), textcoords="offset points",
                      xytext=(4, 4), fontsize=7)
    where = {t.number: (t.values[0], t.values[1]) for t in completed}
    worst_of = {number: (row["objectives"][x.name]["value"], row["objectives"][y.name]["value"])
                for number, row in (rechecked or {}).get("trials", {}).items() if "objectives" in row}
    for index, (number, (wx, wy)) in enumerate(sorted(worst_of.items())):
        axes.plot([where[number][0], wx], [where[number][1], wy], linestyle=":", color=FRONT_COLOR)
        axes.scatter([wx], [wy], marker="s", facecolors="none", edgecolors=FRONT_COLOR,
                     label=f"worst of seeds (recheck {', '.join(map(str, rechecked['seeds']))})" if index == 0
                     else None)
    if chosen in where:
        cx, cy = worst_of.get(chosen, where[chosen])
        axes.scatter([cx], [cy], s=160, facecolors="none", edgecolors=CHOSEN_COLOR, linewidths=2,
                     label=f"chosen (trial {chosen})")
    if x.name in target and y.name in target:
        axes.scatter([target[x.name]], [target[y.name]], marker="*", s=180, color=TARGET_COLOR, label="target")
    axes.set_xlabel(f"{x.label} ({x.direction})")
    axes.set_ylabel(f"{y.label} ({y.direction})")
    more = f"; {len(objectives) - 2} more objectives not shown" if len(objectives) > 2 else ""
    axes.set_title(f"{len(completed)} completed trials, {len(front)} on the front{more}", fontsize=9)
    axes.legend(fontsize=7)
    return save_figure(figure, path)


def _error(trial: FrozenTrial, objective: Objective, index: int):
    """Matplotlib's ``[[below], [above]]`` from the stored interval, or None without one."""
    interval = stored_interval(trial, objective.name)
    if not interval:
        return None
    value = trial.values[index]
    return [[max(0.0, value - interval[0])], [max(0.0, interval[1] - value)]]
