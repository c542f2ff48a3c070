"""The printed result table: metrics grouped by split, each with the direction that is better."""

from __future__ import annotations

LABELS = {
    "rougeL_recall": "ROUGE-L recall", "rouge1_recall": "ROUGE-1 recall", "probability": "probability",
    "truth_ratio": "truth ratio", "token_entropy": "token entropy", "cosine_similarity": "cosine similarity",
    "entailment_score": "entailment score", "fact_accuracy": "fact accuracy",
    "exact_memorization": "exact memorization", "extraction_strength": "extraction strength",
    "model_utility_tofu": "model utility (TOFU, 9 values)",
    "model_utility_seed_paper": "model utility (seed paper, 18 values)",
    "forget_efficacy": "forget efficacy", "forget_quality": "forget quality (KS p-value)",
    "mia_auc_loss": "MIA AUC, LOSS", "mia_auc_zlib": "MIA AUC, zlib", "mia_auc_min_k": "MIA AUC, Min-K%",
    "mia_auc_min_k_plus_plus": "MIA AUC, Min-K%++", "priv_leak_loss": "PrivLeak %, LOSS",
    "priv_leak_zlib": "PrivLeak %, zlib", "priv_leak_min_k": "PrivLeak %, Min-K%",
    "priv_leak_min_k_plus_plus": "PrivLeak %, Min-K%++",
}
SPLIT_METRICS = ("rougeL_recall", "rouge1_recall", "probability", "truth_ratio", "token_entropy",
                 "cosine_similarity", "entailment_score", "fact_accuracy", "exact_memorization",
                 "extraction_strength")
# On the forget split less knowledge is better, except the truth ratio min(R, 1/R) (1 = cannot
# tell the true answer from wrong ones) and token entropy (fluent, not collapsed, answers).
FORGET_HIGHER_IS_BETTER = {"truth_ratio", "token_entropy"}


def direction(role: str, name: str) -> str:
    """``↑`` higher is better, ``↓`` lower is better, ``→x`` closest to x is best."""
    if name.startswith("mia_auc"):
        return "→0.5"
    if name.startswith("priv_leak"):
        return "→0"
    if role == "forget" and name not in FORGET_HIGHER_IS_BETTER:
        return "↓"
    return "↑"


def format_table(summary: dict) -> str:
    """Rows of ``group  metric  value [interval]  better``; not computed values say so."""
    confidence = summary.get("intervals", {}).get("confidence", 0.95)
    rows = [("", "metric", f"value [{confidence:.0%} interval]", "better")]
    overall_intervals = summary.get("overall_intervals", {})
    for name, value in summary["overall"].items():
        rows.append(("overall", LABELS.get(name, name), _value(value, overall_intervals.get(name)),
                     direction("overall", name)))
    examples = summary.get("forget_quality_examples")
    if examples:
        note = "" if examples["enough"] else "  (too few for a KS test to tell models apart)"
        rows.append(("", "forget quality rests on", f"{examples['model']} / {examples['retain_model']} "
                                                    f"forget examples{note}", ""))
    for role, split in summary["splits"].items():
        group = f"{role} ({split['split']}, {split['metrics'].get('examples', '?')} examples)"
        intervals = split.get("intervals", {})
        for name in SPLIT_METRICS:
            if name in split["metrics"]:
                rows.append((group, LABELS[name], _value(split["metrics"][name], intervals.get(name)),
                             direction(role, name)))
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
