"""MUSE (Shi et al. 2024): unlearn news articles or books from raw text; VerbMem, KnowMem and PrivLeak.

One registration (``BENCHMARK``, registered by ``builtin.py``): its record kinds, its Hub layout, the
built-in generator (``unlearn data muse``, ``data/muse.py``), its suite (``unlearn eval --suites muse``,
``evaluation/muse.py``) with its own settings (``--muse.verbmem-tokens``), its values and its report table.
"""

from __future__ import annotations

from pydantic import Field, PositiveFloat, PositiveInt

from unlearn.benchmarks.registry import BenchmarkSpec, Generator, Option, Suite, SuiteContext
from unlearn.config import PartSettings

COLUMNS = (("verbmem_f", "VerbMem forget ↓"), ("knowmem_f", "KnowMem forget ↓"), ("knowmem_r", "KnowMem retain ↑"),
           ("privleak", "PrivLeak % →0"))


class MuseSettings(PartSettings):
    """MUSE's evaluation as its code runs it: VerbMem 128 new tokens, KnowMem 32, Min-40% for PrivLeak."""

    retrained_auc: float | None = Field(None, gt=0.0, le=1.0, description="the retrained model's Min-40% AUC for "
                                        "PrivLeak, in MUSE's orientation (News 0.4772, Books 0.5393; default: from "
                                        "--retain-eval, if MUSE)")
    verbmem_tokens: PositiveInt = Field(128, description="VerbMem continuation length")
    knowmem_tokens: PositiveInt = Field(32, description="KnowMem answer length")
    min_k: PositiveFloat = Field(0.4, le=1.0, description="k of PrivLeak's Min-K% score")


def generate(seed: int = 0, people: int = 20, qa_per_person: int = 5) -> dict[str, list[dict]]:
    from unlearn.data.muse import generate_muse

    return generate_muse(people, qa_per_person, seed)


def load(source, settings, args: MuseSettings):
    """MUSE's splits the benchmark has, and the retrained model's PrivLeak reference (the constant
    given, or read from ``--retain-eval``)."""
    from unlearn.errors import UserError
    from unlearn.evaluation.muse import MUSE_SPLITS, RetrainedReference, load_muse_splits, read_retrained_reference

    records, missing = load_muse_splits(source)
    if len(missing) == len(MUSE_SPLITS):
        raise UserError(f"--suites muse: {settings.data} has none of MUSE's splits (verbmem.forget, "
                        "knowmem.forget_qa, knowmem.forget_qa_icl, knowmem.retain_qa, knowmem.retain_qa_icl, "
                        "privleak.forget, privleak.holdout)")
    retrained = None
    if args.retrained_auc is not None:
        retrained = RetrainedReference(args.retrained_auc)
    elif settings.retain_eval:
        retrained = read_retrained_reference(settings.retain_eval)
    return records, missing, retrained


def run(model, tokenizer, loaded, context: SuiteContext) -> dict:
    from unlearn.evaluation.muse import evaluate_muse

    records, missing, retrained = loaded
    args, settings = context.args, context.settings
    return evaluate_muse(model, tokenizer, records, missing, max_length=context.max_length, retrained=retrained,
                         verbmem_tokens=args.verbmem_tokens, knowmem_tokens=args.knowmem_tokens, min_k=args.min_k,
                         batch_size=settings.batch_size, generation_batch_size=settings.generation_batch_size,
                         **context.interval_options)


def splits(args: MuseSettings) -> list[str]:
    from unlearn.evaluation.muse import MUSE_SPLITS

    return [name for names in MUSE_SPLITS.values() for name in names]


def headline(entry: dict) -> tuple[str, str] | None:
    """KnowMem on the forget and the retain questions, MUSE's knowledge scores."""
    return ("muse.knowmem_f", "muse.knowmem_r") if {"knowmem_f", "knowmem_r"} <= set(entry) else None


def values(entry: dict) -> dict[str, tuple]:
    """``muse.<metric>``: the mean and its interval; PrivLeak for ``muse.privleak``, its AUC as
    ``muse.privleak_auc``."""
    found = {}
    for metric, result in entry.items():
        if metric == "privleak":
            found["muse.privleak"] = (result.get("priv_leak"), result.get("priv_leak_interval"))
            found["muse.privleak_auc"] = (result.get("auc"), result.get("auc_interval"))
        else:
            found[f"muse.{metric}"] = (result.get("mean"), result.get("interval"))
    return found


def tables(results) -> list:
    from unlearn.report.tables import cell, model_name

    if not any(model.summary.get("muse") for model in results.models):
        return []
    rows = [[model_name(model, results.seeds)]
            + [cell(*values(model.summary.get("muse") or {}).get(f"muse.{metric}", (None, None)))
               for metric, _ in COLUMNS] for model in results.models]
    return [("MUSE (ROUGE-L F1; PrivLeak in percent, MUSE's definition, against the retrained model's Min-40% AUC; "
             "95% intervals)", ["model", *[title for _, title in COLUMNS]], rows)]


BENCHMARK = BenchmarkSpec(
    name="muse", description="MUSE: news articles or books unlearned from raw text (Shi et al. 2024)",
    kinds=("text", "continuation", "qa"),
    hub="muse-bench/MUSE-News, muse-bench/MUSE-Books: a config per part, splits named CONFIG.SPLIT "
        "(verbmem.forget, knowmem.forget_qa, privleak.holdout, raw.forget, ...)",
    generator=Generator(
        summary="MUSE-style benchmark: news articles about invented people",
        description="Write a MUSE-style benchmark in MUSE's split names: one article per invented person (the last "
                    "quarter to forget), VerbMem prefixes, KnowMem questions and in-context pairs, PrivLeak member "
                    "and holdout texts, scal/sust folds (deterministic for a seed).",
        generate=generate,
        options=(Option("people", 20, "invented people (default: 20)"),
                 Option("qa_per_person", 5, "facts per person, up to 22 (default: 5)"))),
    suite=Suite(
        description="VerbMem, KnowMem (forget, retain) and PrivLeak on the benchmark's MUSE splits",
        summary_key="muse", load=load, run=run, values=values, tables=tables, settings=MuseSettings,
        file_prefix="muse", reads_retain_eval=True,
        reads={"continuation": "MUSE's VerbMem scores continuations",
               "text": "MUSE's PrivLeak scores member and holdout texts"},
        splits=splits, headline=headline))
