"""What each evaluated split is for, and therefore which metrics it gets and in which form.

TOFU and the seed paper treat splits differently: the forget split's truth ratio is
``min(R, 1/R)`` and its entailment premise is the generation; real-authors and world-facts
probabilities are normalized over the wrong options and their semantic metrics compare with
the full-sentence ``original_answer``; the holdout split only feeds membership inference.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Role = Literal["forget", "retain", "real_authors", "world_facts", "holdout"]
UTILITY_ROLES: tuple[Role, ...] = ("retain", "real_authors", "world_facts")


@dataclass(frozen=True)
class EvalSplit:
    role: Role
    split: str  # the benchmark split read for this role
    records: list[dict]

    @property
    def generates(self) -> bool:
        return self.role != "holdout"

    @property
    def probability_form(self) -> Literal["plain", "normalized"]:
        """``exp(-nll)`` of the answer, or its share among the answer and the wrong options."""
        return "normalized" if self.role in ("real_authors", "world_facts") else "plain"

    @property
    def truth_ratio_form(self) -> Literal["forget", "other"]:
        return "forget" if self.role == "forget" else "other"

    @property
    def premise_is_generation(self) -> bool:
        """Forget: does the generation entail the answer? Elsewhere: does the answer entail it?"""
        return self.role == "forget"

    @property
    def membership(self) -> bool:
        return self.role in ("forget", "holdout")


def semantic_reference(record: dict) -> str:
    """Text the generation is compared with for CS and ES (the seed paper uses the
    full-sentence ``original_answer`` where a record has one)."""
    return record.get("original_answer") or record["answer"]


def truth_ratio_base(record: dict) -> str:
    """Numerator answer of the truth ratio: the paraphrase, or the answer itself where a split
    has none (TOFU's real-authors and world-facts configuration)."""
    return record.get("paraphrased_answer") or record["answer"]


def default_holdout(forget_split: str) -> str | None:
    """``forget10`` -> ``holdout10`` (TOFU's naming); None when the name has no size suffix."""
    match = re.fullmatch(r"forget(\d+)(?:_perturbed)?", forget_split)
    return f"holdout{match.group(1)}" if match else None
