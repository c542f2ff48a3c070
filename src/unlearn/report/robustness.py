"""The report's Robustness section: recovery per method and attack, the worst case, a heat map, and
generations before and after each method's strongest attack."""

from __future__ import annotations

from pathlib import Path

from unlearn.attacks.recovery import FACT_METRICS
from unlearn.evaluation.table import metric_label
from unlearn.report.collect import ModelResult, RunResults, read_json
from unlearn.report.plots import plt, save_figure
from unlearn.report.tables import Table, cell, model_name

# Fact-based first: ROUGE and probability also reward the answer's format, so they head the table
# only where no fact-based recovery is computed, and the title then says so.
HEADLINE_METRICS = ("fact_accuracy", "rougeL_recall", "probability")


def attacked_models(results: RunResults) -> list[ModelResult]:
    return [m for m in results.models if m.attacks]


def headline_metric(models: list[ModelResult]) -> str:
    """The first of fact accuracy, ROUGE-L, probability with a recovery computed somewhere (else
    probability, which every evaluation has: the section then says why each is n/c)."""
    for name in HEADLINE_METRICS:
        entries = [a["metrics"].get(name) or {} for m in models for a in m.attacks["attacks"]]
        if any(entry.get("recovery") is not None for entry in entries):
            return name
    return HEADLINE_METRICS[-1]


def attack_names(models: list[ModelResult]) -> list[str]:
    return list(dict.fromkeys(a["name"] for m in models for a in m.attacks["attacks"]))


def _shown_metric(attack: dict, metric: str) -> str:
    """``metric``, or a probe's own metric when the probe does not measure it (multiple-choice accuracy,
    the logit lens's token probability): its recovery is on the same 0-to-1 scale."""
    measured = attack["metrics"]
    return metric if metric in measured or not measured else next(iter(measured))


def _recovery(model: ModelResult, attack: str, metric: str) -> dict:
    """The summary's entry of ``attack`` on ``model`` for the metric shown; a reason when there is none."""
    entry = next((a for a in model.attacks["attacks"] if a["name"] == attack), None)
    if entry is None:
        return {"not_computed": "attack not run on this model"}
    shown = _shown_metric(entry, metric)
    return entry["metrics"].get(shown) or {"not_computed": f"{shown} not measured by this attack"}


def _column_titles(models: list[ModelResult], metric: str) -> list[str]:
    """Attack names, with the metric where a probe shows its own."""
    first = {}
    for model in models:
        for attack in model.attacks["attacks"]:
            first.setdefault(attack["name"], attack)
    return [name if (shown := _shown_metric(a, metric)) == metric else f"{name} ({metric_label(shown)})"
            for name, a in first.items()]


def _formula(models: list[ModelResult]) -> str:
    """What recovery is measured against: the control under the same attack, or (for a model
    attacked without one) the unattacked floor, said in the title."""
    without = [m.label for m in models if m.attacks.get("control") is None]
    with_control = ("knowledge beyond the control model under the same attack, (E(attacked, control attacked) - "
                    "E(unlearned, control)) / (E(original, control attacked) - E(unlearned, control)) with "
                    "E(x, y) = max(x - y, 0)")
    floor = "(attacked - unlearned) / (original - unlearned) against the unattacked floor (no control)"
    if not without:
        return with_control
    if len(without) == len(models):
        return floor
    return f"{with_control}; for {', '.join(without)}: {floor}"


def recovery_cell(entry: dict) -> str:
    if entry.get("recovery") is None:
        return "n/c"
    return cell(entry["recovery"], entry.get("interval"))


def robustness_tables(results: RunResults) -> list[Table]:
    """Recovery of the headline metric (method x attack), the worst case, and the reasons for n/c."""
    models = attacked_models(results)
    metric = headline_metric(models)
    if not models:
        return []
    names = attack_names(models)
    confidence = models[0].attacks["intervals"]["confidence"]
    recovery = (f"Robustness: recovery of forget {metric_label(metric)} under each attack, {_formula(models)}, "
                f"0 = nothing came back, 1 = all of it [{confidence:.0%} paired interval]"
                + ("" if metric in FACT_METRICS else "; not fact-based: the answer's format counts too"),
                ["method", *_column_titles(models, metric)],
                [[model_name(m, results.seeds), *[recovery_cell(_recovery(m, n, metric)) for n in names]]
                 for m in models])
    worst = ("Robustness: forget score without attack and the worst case over attacks (the attack chosen on one "
             "half of the questions every attack measured, its score reported on the other half)",
             ["method", "metric", "without attack", "worst case", "control under that attack", "attack", "questions"],
             [[model_name(m, results.seeds), metric_label(name), cell(r.get("unlearned")), cell(r.get("value")),
               cell(r.get("control")), r.get("attack") or "n/c", str(r.get("questions_reported_on", ""))]
              for m in models for name, r in m.attacks["robust"].items()])
    reasons = [[model_name(m, results.seeds), n, _recovery(m, n, metric).get("not_computed") or "not computed"]
               for m in models for n in names if _recovery(m, n, metric).get("recovery") is None]
    tables = [recovery, worst]
    if reasons:
        tables.append(("Robustness: why a recovery is n/c", ["method", "attack", "reason"], reasons))
    return tables


def robustness_rows(results: RunResults) -> list[dict]:
    """One CSV row per method, attack and metric."""
    rows = []
    for model in attacked_models(results):
        for attack in model.attacks["attacks"]:
            for metric, entry in attack["metrics"].items():
                interval = entry.get("interval") or [None, None]
                rows.append({"model": model.label, "seed": model.seed, "attack": attack["name"], "metric": metric,
                             "unlearned": entry.get("unlearned"), "attacked": entry.get("attacked"),
                             "original": entry.get("original"), "control": entry.get("control"),
                             "control_attacked": entry.get("control_attacked"), "recovery": entry.get("recovery"),
                             "recovery_low": interval[0], "recovery_high": interval[1],
                             "not_computed": entry.get("not_computed")})
    return rows


def recovery_heatmap(results: RunResults, path: Path) -> Path | None:
    """Methods x attacks, the headline recovery as colour (n/c grey), the value in each cell."""
    models = attacked_models(results)
    metric = headline_metric(models)
    if not models:
        return None
    names = attack_names(models)
    values = [[_recovery(m, n, metric).get("recovery") for n in names] for m in models]
    titles = _column_titles(models, metric)
    # room for the title, and below the cells for the slanted attack names
    size = (max(5.5, 2.0 + 0.8 * len(names)), 1.4 + 0.45 * len(models) + 0.055 * max(map(len, titles)))
    figure, axes = plt.subplots(figsize=size)
    grid = [[float("nan") if v is None else v for v in row] for row in values]
    colours = plt.get_cmap("RdYlGn_r").with_extremes(bad="#dddddd")
    image = axes.imshow(grid, cmap=colours, vmin=-0.25, vmax=1.25, aspect="auto")
    for i, row in enumerate(values):
        for j, value in enumerate(row):
            axes.text(j, i, "n/c" if value is None else f"{value:.2f}", ha="center", va="center", fontsize=7)
    axes.set_xticks(range(len(names)), titles, rotation=45, ha="right", fontsize=7)
    axes.set_yticks(range(len(models)), [model_name(m, results.seeds) for m in models], fontsize=8)
    axes.set_title(f"Recovery of forget {metric_label(metric)} (0 = nothing back, 1 = all)", fontsize=9)
    figure.colorbar(image, ax=axes, fraction=0.03)
    return save_figure(figure, path)


def strongest_attack_examples(results: RunResults, count: int) -> list[Table]:
    """Per method, forget generations before and after the attack with the highest headline recovery
    that has an evaluation folder (relearning attacks: their held-out questions)."""
    models = attacked_models(results)
    metric = headline_metric(models)
    tables = []
    for model in models:
        candidates = [a for a in model.attacks["attacks"]
                      if a.get("eval") and (a["metrics"].get(metric) or {}).get("recovery") is not None]
        if not candidates:
            continue
        strongest = max(candidates, key=lambda a: a["metrics"][metric]["recovery"])
        after = read_json(model.attacks_folder / strongest["eval"] / "forget.json")["examples"]
        before = model.splits.get("forget", [])
        by_question = {e["question"]: e for e in before}
        rows = []
        for index, example in enumerate(after[:count]):
            plain = by_question.get(example["question"]) or (before[index] if index < len(before) else {})
            rows.append([plain.get("question", example["question"]), example["answer"], plain.get("generation", ""),
                         example.get("generation", "")])
        tables.append((f"Robustness: {model.label} before and after its strongest attack, {strongest['name']} "
                       f"(recovery {strongest['metrics'][metric]['recovery']:.2f})",
                       ["question", "reference answer", "unlearned", f"after {strongest['name']}"], rows))
    return tables
