"""The printed result table: metrics grouped by split, each with the direction that is better."""

from __future__ import annotations

from unlearn.evaluation.metric_registry import NEEDS, find_metric, model_metrics, split_metrics


def metric_label(name: str) -> str:
    """The registered metric's label; an unregistered name (a suite's number) as it is."""
    metric = find_metric(name)
    return metric.label if metric else name


def direction(role: str, name: str) -> str:
    """``↑`` higher is better, ``↓`` lower is better, ``→x`` closest to x is best, as the metric
    declares for ``role``; an unregistered number: lower on the forget split, higher elsewhere."""
    metric = find_metric(name)
    if metric is None:
        return "↓" if role == "forget" else "↑"
    return metric.better(role)


def metric_list() -> str:
    """``unlearn eval --list-metrics``: every registered metric, the direction that is better, what it
    needs and what it is."""
    rows = [("split metric", "better (forget / other)", "needs", "what it is")]
    rows += [(m.name, f"{m.forget_direction} / {m.direction}", ", ".join(m.needs), m.description)
             for m in split_metrics()]
    rows += [("", "", "", ""), ("model-level number", "better", "", "what it is")]
    rows += [(m.name, m.direction, "", m.description) for m in model_metrics()]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join([*(cell.ljust(w) for cell, w in zip(row, widths)), row[3]]).rstrip() for row in rows]
    lines += ["", "needs:"] + [f"  {need}: {text}" for need, text in NEEDS.items()]
    return "\n".join(lines)


def format_table(summary: dict) -> str:
    """Rows of ``group  metric  value [interval]  better``; not computed values say so."""
    confidence = summary.get("intervals", {}).get("confidence", 0.95)
    rows = [("", "metric", f"value [{confidence:.0%} interval]", "better")]
    overall_intervals = summary.get("overall_intervals", {})
    for name, value in summary["overall"].items():
        rows.append(("overall", metric_label(name), _value(value, overall_intervals.get(name)),
                     direction("overall", name)))
    examples = summary.get("forget_quality_examples")
    if examples:
        note = "" if examples["enough"] else "  (too few for a KS test to tell models apart)"
        rows.append(("", "forget quality rests on", f"{examples['model']} / {examples['retain_model']} "
                                                    f"forget examples{note}", ""))
    for role, split in summary["splits"].items():
        group = f"{role} ({split['split']}, {split['metrics'].get('examples', '?')} examples)"
        intervals = split.get("intervals", {})
        for metric in split_metrics():
            if metric.name in split["metrics"]:
                rows.append((group, metric.label, _value(split["metrics"][metric.name], intervals.get(metric.name)),
                             metric.better(role)))
                group = ""
        invalid = split["metrics"].get("invalid_examples")
        if invalid:
            rows.append((group, "invalid examples (left out)", str(invalid), ""))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    reasons = summary.get("not_computed", {})
    if reasons:
        lines.append("")
        lines.append("not computed:")
        lines.extend(f"  {name}: {reason}" for name, reason in reasons.items())
    return "\n".join(lines)


def _value(value, interval=None) -> str:
    if value is None:
        return "not computed"
    return f"{value:.4f} [{interval[0]:.4f}, {interval[1]:.4f}]" if interval else f"{value:.4f}"
