"""Prompt attacks as rewrites of the forget records: each returns records whose ``question`` is the
attacked prompt (answers and the other fields unchanged), so the evaluator scores them as it scores
any split, with the same metrics and intervals."""

from __future__ import annotations

from unlearn.attacks.prompts import few_shot_prompt, jailbreak_prompt


def paraphrased(records: list[dict]) -> list[dict]:
    """Each question replaced by its ``paraphrased_question`` (TOFU and the built-in benchmark have it)."""
    missing = sum("paraphrased_question" not in r for r in records)
    if missing:
        raise ValueError(f"{missing} of {len(records)} forget records have no 'paraphrased_question'")
    return [{**r, "question": r["paraphrased_question"]} for r in records]


def with_shots(records: list[dict], k: int = 3) -> list[dict]:
    """Each question after ``k`` other forget question-answer pairs (the next ``k`` in order,
    wrapping around), never its own: in-context relearning from the rest of the forget set."""
    if not 0 < k < len(records):
        raise ValueError(f"few-shot needs 0 < k < the number of forget records ({len(records)}), got k = {k}")
    n = len(records)
    return [{**r, "question": few_shot_prompt(r["question"], [(records[(i + j) % n]["question"],
                                                                records[(i + j) % n]["answer"])
                                                               for j in range(1, k + 1)])}
            for i, r in enumerate(records)]


def wrapped(records: list[dict], kind: str) -> list[dict]:
    """Each question inside the jailbreak wrapper ``kind``."""
    return [{**r, "question": jailbreak_prompt(r["question"], kind)} for r in records]
