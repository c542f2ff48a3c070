"""The table ``unlearn attack`` prints: per attack, each metric's scores and recovery, the control's
score under the same attack, and the selection-corrected worst case."""

from __future__ import annotations

from unlearn.attacks.summary import NO_CONTROL


def _number(value) -> str:
    return f"{value:>9.3f}" if value is not None else f"{'-':>9}"


def format_attack_table(summary: dict) -> str:
    against = summary.get("recovery_against", NO_CONTROL)
    headline = set(summary.get("headline_metrics", ()))
    lines = [f"recovery {against}; headline (fact-based): {', '.join(sorted(headline)) or 'none'}",
             f"{'attack':<30} {'metric':<22} {'unlearned':>9} {'attacked':>9} {'control*':>9} {'original':>9}  "
             "recovery [interval]"]
    for attack in summary["attacks"]:
        for metric, entry in attack["metrics"].items():
            if entry.get("attacked") is None:
                continue
            if entry.get("recovery") is None:
                recovery = f"n/c: {entry.get('not_computed')}"
            else:
                interval = entry.get("interval")
                spread = f" [{interval[0]:.2f}, {interval[1]:.2f}]" if interval else ""
                recovery = f"{entry['recovery']:.2f}{spread}" + ("" if metric in headline else " (not fact-based)")
            lines.append(f"{attack['name']:<30} {metric:<22} {_number(entry['unlearned'])} "
                         f"{_number(entry['attacked'])} {_number(entry.get('control_attacked'))} "
                         f"{_number(entry['original'])}  {recovery}")
    lines.append("control*: the control model under the same attack ('-': no --control)")
    worst = []
    for metric, entry in summary["robust"].items():
        if entry.get("value") is None:
            worst.append(f"{metric} n/c")
            continue
        control = f", control {entry['control']:.3f}" if entry.get("control") is not None else ""
        worst.append(f"{metric} {entry['value']:.3f} ({entry['attack']}{control}; "
                     f"{entry['questions_reported_on']} questions)")
    lines.append("worst case over attacks (chosen on one half of the questions, reported on the other): "
                 + ("; ".join(worst) or "none"))
    return "\n".join(lines)
