"""RWKU (Jin et al. 2024): forget real people the model knows from pre-training; probes at three
levels, neighbors, membership sets and a utility set.

One registration (``BENCHMARK``, registered by ``builtin.py``): its record kinds, its Hub layout,
the built-in generator (``unlearn data rwku``, ``data/rwku.py``), its suite (``unlearn eval --suites
rwku``, ``evaluation/rwku.py``) with its own settings (``--rwku.new-tokens``), its values and its
report tables.
"""

from __future__ import annotations

from pydantic import Field, PositiveInt

from unlearn.benchmarks.registry import BenchmarkSpec, Generator, Suite, SuiteContext
from unlearn.config import PartSettings

PROBE_COLUMNS = (("forget_level1", "forget FB ↓"), ("forget_level2", "forget QA ↓"),
                 ("forget_level3", "forget AA ↓"), ("neighbor_level1", "neighbor FB ↑"),
                 ("neighbor_level2", "neighbor QA ↑"))
MIA_SPLITS = ("mia_forget", "mia_retain")
MIA_COLUMNS = (("loss", "LOSS"), ("zlib", "Zlib"), ("mink", "Min-K%"), ("mink++", "Min-K%++"))
UTILITY_COLUMNS = (("utility_general", "accuracy", "Gen (MMLU) ↑"), ("utility_reason", "em", "Rea (BBH) ↑"),
                   ("utility_truthfulness", "mc1", "Tru (TruthfulQA) ↑"),
                   ("utility_factuality", "f1", "Fac (TriviaQA) ↑"), ("utility_fluency", "entropy", "Flu (entropy) ↑"))
UTILITY_KEYS = {"utility_general": "accuracy", "utility_fluency": "entropy"}  # the others' number is "mean"


class RwkuSettings(PartSettings):
    """RWKU's evaluation as its code runs it: greedy answers of at most 30 tokens."""

    split_suffix: str = Field("", description="appended to its split names (on the Hub: .test)")
    new_tokens: PositiveInt = Field(30, description="longest probe answer")


def generate(seed: int = 0) -> dict[str, list[dict]]:
    from unlearn.data.rwku import generate_rwku

    return generate_rwku(seed)


def load(source, settings, args: RwkuSettings):
    from unlearn.errors import UserError
    from unlearn.evaluation.rwku import load_rwku_splits

    loaded = load_rwku_splits(source, args.split_suffix)
    if not loaded[0]:
        raise UserError(f"--suites rwku: {settings.data} has none of RWKU's splits (forget_level1{args.split_suffix}"
                        ", ..., mia_retain)")
    return loaded


def run(model, tokenizer, loaded, context: SuiteContext) -> dict:
    from unlearn.evaluation.rwku import evaluate_rwku

    settings = context.settings
    return evaluate_rwku(model, tokenizer, *loaded, where=str(settings.data), max_new_tokens=context.args.new_tokens,
                         batch_size=settings.batch_size, generation_batch_size=settings.generation_batch_size,
                         **context.interval_options)


def splits(args: RwkuSettings) -> list[str]:
    from unlearn.data.rwku import UTILITY
    from unlearn.evaluation.rwku import PROBE_SPLITS

    return [split + args.split_suffix for split in (*PROBE_SPLITS, *MIA_SPLITS, *(f"utility_{p}" for p in UTILITY))]


def headline(entry: dict) -> tuple[str, str] | None:
    """Question-answer recall on the targets and on their neighbors (level 2)."""
    return ("rwku.forget_level2", "rwku.neighbor_level2") if {"forget_level2", "neighbor_level2"} <= set(entry) \
        else None


def values(entry: dict) -> dict[str, tuple]:
    """``rwku.<split>``: mean recall of the probes, mean LOSS of the membership sets, accuracy or
    entropy of ``utility_general`` / ``utility_fluency``, each with its interval."""
    found = {}
    for split, result in entry.items():
        key = "loss" if split.startswith("mia_") else UTILITY_KEYS.get(split, "mean")
        found[f"rwku.{split}"] = (result.get(key), result.get(f"{key}_interval" if key == "loss" else "interval"))
    return found


def tables(results) -> list:
    from unlearn.report.tables import cell, model_name

    summaries = [(model, model.summary.get("rwku") or {}) for model in results.models]
    if not any(rwku for _, rwku in summaries):
        return []
    rows = [[model_name(model, results.seeds)]
            + [cell(rwku.get(split, {}).get("mean"), rwku.get(split, {}).get("interval")) for split, _ in PROBE_COLUMNS]
            + [cell((rwku.get(split) or {}).get("loss"), (rwku.get(split) or {}).get("loss_interval"))
               for split in MIA_SPLITS]
            for model, rwku in summaries]
    found = [("RWKU probes (ROUGE-L recall as RWKU's `rouge` package scores it, 95% bootstrap intervals; "
              "membership: mean LOSS of the texts)",
              ["model", *[title for _, title in PROBE_COLUMNS], "MIA forget LOSS ↑", "MIA retain LOSS →"], rows)]
    found += _membership_and_utility(results, summaries, cell, model_name)
    kinds = list(dict.fromkeys(kind for _, rwku in summaries
                               for kind in (rwku.get("forget_level3") or {}).get("by_type", {})))
    if kinds:
        found.append(("RWKU adversarial probes by type (ROUGE-L recall)", ["model", *kinds],
                      [[model_name(model, results.seeds)]
                       + [cell((rwku.get("forget_level3") or {}).get("by_type", {}).get(k)) for k in kinds]
                       for model, rwku in summaries]))
    return found


def _membership_and_utility(results, summaries: list, cell, model_name) -> list:
    """RWKU's four membership scores (k = 20%) on both sets, and its utility set; a part not
    computed is listed with its reason."""
    found = []
    if any(isinstance(rwku.get("mia_forget"), dict) and "zlib" in rwku["mia_forget"] for _, rwku in summaries):
        found.append(("RWKU membership scores, mean over texts (higher: less likely still known; Min-K%++ is what "
                      "RWKU's code reports as mink20)",
                      ["model", *[f"{side} {title}" for side in ("FM", "RM") for _, title in MIA_COLUMNS]],
                      [[model_name(model, results.seeds)]
                       + [cell((rwku.get(split) or {}).get(key), (rwku.get(split) or {}).get(f"{key}_interval"))
                          for split in MIA_SPLITS for key, _ in MIA_COLUMNS] for model, rwku in summaries]))
    if not any(part in rwku for _, rwku in summaries for part, _, _ in UTILITY_COLUMNS):
        return found
    found.append(("RWKU utility set (n/c: not computed, reasons below)",
                  ["model", *[title for _, _, title in UTILITY_COLUMNS]],
                  [[model_name(model, results.seeds)]
                   + [cell((rwku.get(part) or {}).get(key), (rwku.get(part) or {}).get("interval"))
                      for part, key, _ in UTILITY_COLUMNS] for model, rwku in summaries]))
    reasons = {part: (rwku.get(part) or {}).get("not_computed")
               for _, rwku in summaries for part, _, _ in UTILITY_COLUMNS}
    missing = [[title, reasons[part]] for part, _, title in UTILITY_COLUMNS if reasons.get(part)]
    if missing:
        found.append(("RWKU utility parts not computed", ["part", "why"], missing))
    return found


BENCHMARK = BenchmarkSpec(
    name="rwku", description="RWKU: real-world people the model knows from pre-training (Jin et al. 2024)",
    kinds=("probe", "text"),
    hub="jinzhuoran/RWKU: a config per split, each split 'test' (--rwku.split-suffix .test); utility_* configs "
        "read with their own fields",
    generator=Generator(
        summary="RWKU-style probes about the packaged real-world entities",
        description="Write RWKU-style probes (fill-in-the-blank, questions, adversarial; neighbors; membership sets) "
                    "about packaged real-world targets and neighbor entities. The seed chooses the draw: an even "
                    "seed the reported entities (4 targets, 8 neighbors; 0 is the reported draw), an odd seed a "
                    "validation set of 12 other entities, to tune on; it also orders the options.",
        generate=generate),
    suite=Suite(
        description="RWKU's probes (forget_level1-3, neighbor_level1-2), membership sets (mia_forget, mia_retain) "
                    "and utility set, those the benchmark has",
        summary_key="rwku", load=load, run=run, values=values, tables=tables, settings=RwkuSettings,
        file_prefix="rwku", reads={"probe": "RWKU scores its probes"}, splits=splits, headline=headline))
