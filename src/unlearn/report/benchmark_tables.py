"""The report's tables for the benchmarks beyond TOFU, for every model that has their numbers:
MUSE's metrics, RWKU's probes, WMDP-style multiple-choice accuracy per split, and the
lm-eval-harness tasks."""

from __future__ import annotations

from unlearn.report.collect import RunResults, suite_values
from unlearn.report.tables import Table, cell, model_name

ARROWS = {"forget": "↓", "utility": "↑"}  # forget accuracy should fall to chance; utility should stay
MUSE_COLUMNS = (("verbmem_f", "VerbMem forget ↓"), ("knowmem_f", "KnowMem forget ↓"),
                ("knowmem_r", "KnowMem retain ↑"), ("privleak", "PrivLeak % →0"))


def choice_splits(results: RunResults) -> dict[str, dict]:
    """Every multiple-choice split evaluated in the run, in first-seen order, with its role and chance."""
    found: dict[str, dict] = {}
    for model in results.models:
        for split, entry in (model.summary.get("multiple_choice") or {}).items():
            found.setdefault(split, entry)
    return found


RWKU_COLUMNS = (("forget_level1", "forget FB ↓"), ("forget_level2", "forget QA ↓"), ("forget_level3", "forget AA ↓"),
                ("neighbor_level1", "neighbor FB ↑"), ("neighbor_level2", "neighbor QA ↑"))


def benchmark_tables(results: RunResults) -> list[Table]:
    return muse_tables(results) + rwku_tables(results) + choice_tables(results)


def rwku_tables(results: RunResults) -> list[Table]:
    summaries = [(model, model.summary.get("rwku") or {}) for model in results.models]
    if not any(rwku for _, rwku in summaries):
        return []
    rows = [[model_name(model, results.seeds)] + [cell(rwku.get(split, {}).get("mean"), rwku.get(split, {}).get("interval"))
                                                 for split, _ in RWKU_COLUMNS]
            + [_membership_cell(rwku, "mia_forget"), _membership_cell(rwku, "mia_retain")]
            for model, rwku in summaries]
    tables = [("RWKU probes (ROUGE-L recall as RWKU's `rouge` package scores it, 95% bootstrap intervals; "
               "membership: mean LOSS of the texts)",
               ["model", *[title for _, title in RWKU_COLUMNS], "MIA forget LOSS ↑", "MIA retain LOSS →"], rows)]
    tables += _rwku_membership_and_utility(results, summaries)
    kinds = list(dict.fromkeys(k for _, rwku in summaries for k in (rwku.get("forget_level3") or {}).get("by_type", {})))
    if kinds:
        tables.append(("RWKU adversarial probes by type (ROUGE-L recall)", ["model", *kinds],
                       [[model_name(model, results.seeds)]
                        + [cell((rwku.get("forget_level3") or {}).get("by_type", {}).get(k)) for k in kinds]
                        for model, rwku in summaries]))
    return tables


RWKU_MIA = (("loss", "LOSS"), ("zlib", "Zlib"), ("mink", "Min-K%"), ("mink++", "Min-K%++"))
RWKU_UTILITY = (("utility_general", "accuracy", "Gen (MMLU) ↑"), ("utility_reason", "em", "Rea (BBH) ↑"),
                ("utility_truthfulness", "mc1", "Tru (TruthfulQA) ↑"), ("utility_factuality", "f1", "Fac (TriviaQA) ↑"),
                ("utility_fluency", "entropy", "Flu (entropy) ↑"))


def _rwku_membership_and_utility(results: RunResults, summaries: list) -> list[Table]:
    """RWKU's four membership scores (k = 20%) on both sets, and its utility set; a part not
    computed is listed with its reason."""
    tables = []
    if any(isinstance(rwku.get("mia_forget"), dict) and "zlib" in rwku["mia_forget"] for _, rwku in summaries):
        tables.append(("RWKU membership scores, mean over texts (higher: less likely still known; Min-K%++ is what "
                       "RWKU's code reports as mink20)",
                       ["model", *[f"{side} {title}" for side in ("FM", "RM") for _, title in RWKU_MIA]],
                       [[model_name(model, results.seeds)]
                        + [cell((rwku.get(split) or {}).get(key), (rwku.get(split) or {}).get(f"{key}_interval"))
                           for split in MIA_SPLITS for key, _ in RWKU_MIA] for model, rwku in summaries]))
    if not any(part in rwku for _, rwku in summaries for part, _, _ in RWKU_UTILITY):
        return tables
    tables.append(("RWKU utility set (n/c: not computed, reasons below)",
                   ["model", *[title for _, _, title in RWKU_UTILITY]],
                   [[model_name(model, results.seeds)]
                    + [cell((rwku.get(part) or {}).get(key), (rwku.get(part) or {}).get("interval"))
                       for part, key, _ in RWKU_UTILITY] for model, rwku in summaries]))
    reasons = {part: (rwku.get(part) or {}).get("not_computed") for _, rwku in summaries for part, _, _ in RWKU_UTILITY}
    missing = [[title, reasons[part]] for part, _, title in RWKU_UTILITY if reasons.get(part)]
    if missing:
        tables.append(("RWKU utility parts not computed", ["part", "why"], missing))
    return tables


MIA_SPLITS = ("mia_forget", "mia_retain")


def _membership_cell(rwku: dict, split: str) -> str:
    entry = rwku.get(split) or {}
    return cell(entry.get("loss"), entry.get("loss_interval"))


def muse_tables(results: RunResults) -> list[Table]:
    if not any(model.summary.get("muse") for model in results.models):
        return []
    rows = [[model_name(model, results.seeds)] + [_muse_cell(model.summary.get("muse") or {}, metric)
                                                 for metric, _ in MUSE_COLUMNS] for model in results.models]
    return [("MUSE (ROUGE-L F1; PrivLeak in percent, MUSE's definition, against the retrained model's Min-40% AUC; "
             "95% intervals)",
             ["model", *[title for _, title in MUSE_COLUMNS]], rows)]


def _muse_cell(muse: dict, metric: str) -> str:
    entry = muse.get(metric) or {}
    if metric == "privleak":
        return cell(entry.get("priv_leak"), entry.get("priv_leak_interval"))
    return cell(entry.get("mean"), entry.get("interval"))


def choice_tables(results: RunResults) -> list[Table]:
    tables = []
    splits = choice_splits(results)
    if splits:
        header = ["model"] + [f"{split} ({entry['role']}) {ARROWS[entry['role']]}" for split, entry in splits.items()]
        rows = [[model_name(model, results.seeds)] + [_accuracy(model.summary, split) for split in splits]
                for model in results.models]
        chance = ", ".join(f"{split} {entry['chance']:.2f}" for split, entry in splits.items())
        tables.append((f"Multiple-choice accuracy, lm-eval's zero-shot format (95% Clopper-Pearson intervals over the "
                       f"questions; chance: {chance})", header, rows))
    tasks = list(dict.fromkeys(task for model in results.models
                               for task in ((model.summary.get("lm_eval") or {}).get("results") or {})))
    if tasks:
        rows = [[model_name(model, results.seeds)] + [_task_cell(model.summary, task) for task in tasks]
                for model in results.models]
        tables.append(("lm-eval-harness tasks (its own metrics; ± its standard error)", ["model", *tasks], rows))
    return tables


def benchmark_rows(model_summary: dict) -> dict:
    """The suites' numbers as summary.csv columns (``collect.suite_values``), each with its interval."""
    row = {}
    for key, (value, interval) in suite_values(model_summary).items():
        row[key] = value
        if not key.startswith("lm_eval."):
            row[f"{key}_interval"] = interval
    return row


def _accuracy(summary: dict, split: str) -> str:
    entry = (summary.get("multiple_choice") or {}).get(split)
    return cell(entry["accuracy"], entry.get("interval")) if entry else "n/c"


def _task_cell(summary: dict, task: str) -> str:
    metrics = ((summary.get("lm_eval") or {}).get("results") or {}).get(task)
    if not metrics:
        return "n/c"
    shown = [(name, value) for name, value in metrics.items() if not name.endswith("_stderr")
             and isinstance(value, (int, float)) and not isinstance(value, bool) and name != "sample_len"]
    return "; ".join(f"{name} {value:.3f}" + (f" ± {metrics[name + '_stderr']:.3f}"
                                               if isinstance(metrics.get(name + "_stderr"), float) else "")
                     for name, value in shown) or "n/c"
