"""Which question-answer splits ``unlearn eval`` scores: the forget split first, then the utility splits
and the holdout, each checked to hold question-answer records before any model loads."""

from __future__ import annotations

import logging

from unlearn.benchmarks.registry import readers
from unlearn.data.benchmark import Benchmark
from unlearn.data.kinds import KIND_NAMES, record_kind
from unlearn.errors import UserError
from unlearn.evaluation.eval_settings import EvalSettings
from unlearn.evaluation.splits import EvalSplit, default_holdout

log = logging.getLogger(__name__)

ROLE_FLAGS = {"forget": "--forget", "retain": "--retain-split", "real_authors": "--real-authors",
              "world_facts": "--world-facts", "holdout": "--holdout"}
# what a split of another kind than question-answer records is for, beside the suites that read it
KIND_USE = {"text": "raw text is trained on, not asked; evaluate a split of its questions"}


def load_splits(benchmark: Benchmark, settings: EvalSettings) -> list[EvalSplit]:
    """The QA splits to evaluate; the forget split, when there is one, comes first."""
    settings = _without_absent_defaults(benchmark, settings)
    if settings.forget is None:
        chosen = [("retain", settings.retain_split), ("real_authors", settings.real_authors),
                  ("world_facts", settings.world_facts)]
        return _qa_splits(benchmark, chosen)
    available = set(benchmark.split_names())
    forget = f"{settings.forget}_perturbed" if f"{settings.forget}_perturbed" in available else settings.forget
    holdout = settings.holdout
    if holdout == "auto":
        holdout = default_holdout(settings.forget)
        if holdout not in available:
            log.warning("no holdout split for %s: membership inference will not be computed", settings.forget)
            holdout = None
    chosen = [("forget", forget), ("retain", settings.retain_split), ("real_authors", settings.real_authors),
              ("world_facts", settings.world_facts), ("holdout", holdout)]
    return _qa_splits(benchmark, chosen)


def _qa_splits(benchmark: Benchmark, chosen: list[tuple[str, str | None]]) -> list[EvalSplit]:
    return [EvalSplit(role, name, benchmark.records(name)) for role, name in chosen if name]


def check_question_answer(splits: list[EvalSplit]) -> None:
    """The TOFU metrics ask each split's questions: a split of another kind is refused with what reads it."""
    for split in splits:
        kind = record_kind(split.records[0])
        if kind != "qa":
            uses = "; ".join(filter(None, [KIND_USE.get(kind), *readers(kind)])) or "no suite reads them"
            raise UserError(f"{ROLE_FLAGS[split.role]} {split.split}: split '{split.split}' holds {KIND_NAMES[kind]} "
                            f"records, not question-answer records; {uses}")


def _without_absent_defaults(benchmark: Benchmark, settings: EvalSettings) -> EvalSettings:
    """With a suite asked for (``--suites``), a TOFU split left at its default name and absent from the
    benchmark is skipped instead of refused: a MUSE or WMDP folder has no ``forget10``. A split named
    on purpose must exist."""
    if not settings.suites:
        return settings
    available = set(benchmark.split_names())
    available |= {name.removesuffix("_perturbed") for name in available}  # forget10 is read as forget10_perturbed
    absent = {name: None for name in ("forget", "retain_split", "real_authors", "world_facts")
              if name not in settings.model_fields_set and getattr(settings, name) is not None
              and getattr(settings, name) not in available}
    return settings.model_copy(update=absent)
