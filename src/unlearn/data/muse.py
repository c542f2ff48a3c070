"""Deterministic generator of a MUSE-style benchmark: invented news articles about the
fictitious world's people, in MUSE's layout.

MUSE (Shi et al. 2024) unlearns news articles or books from raw text and measures verbatim
memorization (VerbMem), knowledge (KnowMem) and privacy leakage (PrivLeak). Here each of the
built-in benchmark's invented people gets one article that states their facts; the last
quarter of the people are the forget set, the rest the retain set, and as many people never
written about in training give the holdout articles of PrivLeak. Splits, named as MUSE's Hub
configs and splits (``CONFIG.SPLIT``):

* ``raw.forget``, ``raw.retain1``, ``raw.holdout``: the articles (``text``); ``raw.full`` is
  forget + retain1, what the target model is fine-tuned on (``raw.retain1`` alone gives the
  retrained model);
* ``verbmem.forget``: each forget article cut at half its words into ``prompt`` and ``gt``;
* ``knowmem.forget_qa`` / ``knowmem.retain_qa``: a question per fact with the fact as the short
  answer; ``knowmem.forget_qa_icl`` / ``knowmem.retain_qa_icl``: the first ``icl`` such pairs of
  each side, kept out of the evaluated questions, as MUSE's in-context examples;
* ``privleak.forget``, ``privleak.retain``, ``privleak.holdout``: the articles' sentences, one text
  each (MUSE's are excerpts of its corpora). Whole articles would give PrivLeak 5 member and 5 holdout
  texts at the default size: an AUC in steps of 1/25, no interval, and PrivLeak moving 8 points for
  one pair ranked the other way; 25 and 25 sentences give steps of 1/625;
* ``scal.forget_1..4`` (the forget articles in nested, growing sets) and ``sust.forget_1..4``
  (the forget articles in four disjoint parts), for MUSE's scalability and sustainability runs
  (only with at least four forget articles).
"""

from __future__ import annotations

from unlearn.data.fictitious import generate_fictitious

FORGET_PERCENT = 25
FOLDS = 4


def generate_muse(people: int = 20, qa_per_person: int = 5, seed: int = 0, icl: int = 4) -> dict[str, list[dict]]:
    """The benchmark's splits (see the module docstring); the same arguments give the same records.
    Raises ValueError when there are too few facts for ``icl`` in-context pairs and a question left."""
    world = generate_fictitious(people, qa_per_person, seed, (FORGET_PERCENT,))
    sides = {"forget": world[f"forget{FORGET_PERCENT}"], "retain": world[f"retain{100 - FORGET_PERCENT}"],
             "holdout": world[f"holdout{FORGET_PERCENT}"]}
    articles = {side: _articles(records) for side, records in sides.items()}
    splits = {"raw.forget": articles["forget"], "raw.retain1": articles["retain"], "raw.holdout": articles["holdout"],
              "raw.full": articles["forget"] + articles["retain"]}
    splits["verbmem.forget"] = [_halves(a["text"]) for a in articles["forget"]]
    for side in ("forget", "retain"):
        pairs = [{"question": r["question"], "answer": r["fact"]} for r in sides[side]]
        if len(pairs) <= icl:
            raise ValueError(f"{len(pairs)} {side} facts leave no question after {icl} in-context pairs; "
                             "raise people or qa_per_person")
        splits[f"knowmem.{side}_qa_icl"], splits[f"knowmem.{side}_qa"] = pairs[:icl], pairs[icl:]
    for side in ("forget", "retain", "holdout"):
        splits[f"privleak.{side}"] = [{"text": record["answer"]} for record in sides[side]]
    forget = articles["forget"]
    if len(forget) >= FOLDS:  # fewer forget articles than folds: no scal / sust splits
        for fold in range(1, FOLDS + 1):
            splits[f"sust.forget_{fold}"] = [a for i, a in enumerate(forget) if i * FOLDS // len(forget) == fold - 1]
            splits[f"scal.forget_{fold}"] = forget[:fold * len(forget) // FOLDS]
    return splits


def _articles(records: list[dict]) -> list[dict]:
    """One article per person: their answers in record order, as one paragraph."""
    by_person: dict[str, list[str]] = {}
    for record in records:
        by_person.setdefault(record["subject"], []).append(record["answer"])
    return [{"text": " ".join(answers)} for answers in by_person.values()]


def _halves(text: str) -> dict:
    words = text.split(" ")
    cut = max(1, len(words) // 2)
    return {"prompt": " ".join(words[:cut]), "gt": " " + " ".join(words[cut:])}
