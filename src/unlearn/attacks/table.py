"""The table ``unlearn attack`` prints: per attack, each metric's scores and recovery."""

from __future__ import annotations


def format_attack_table(summary: dict) -> str:
    lines = [f"{'attack':<30} {'metric':<22} {'unlearned':>9} {'attacked':>9} {'original':>9}  recovery [interval]"]
    for attack in summary["attacks"]:
        for metric, entry in attack["metrics"].items():
            if entry.get("attacked") is None:
                continue
            if entry.get("recovery") is None:
                recovery = f"n/c: {entry.get('not_computed')}"
            else:
                interval = entry.get("interval")
                spread = f" [{interval[0]:.2f}, {interval[1]:.2f}]" if interval else ""
                recovery = f"{entry['recovery']:.2f}{spread}"
            lines.append(f"{attack['name']:<30} {metric:<22} {entry['unlearned']:>9.3f} {entry['attacked']:>9.3f} "
                         f"{entry['original']:>9.3f}  {recovery}")
    worst = [f"{metric} {entry['value']:.3f} ({entry['attack']})" for metric, entry in summary["robust"].items()]
    lines.append("worst case over attacks: " + ("; ".join(worst) or "none"))
    return "\n".join(lines)
