"""Multiple-choice accuracy from the log-likelihood of each option's letter (the WMDP / MMLU way)."""

from __future__ import annotations

import math


def chosen_letter(letter_logprobs: dict[str, float]) -> str:
    """The option whose letter the model finds likeliest after the prompt: ``argmax_l log p(l | prompt)``
    (ties go to the earlier letter)."""
    return max(letter_logprobs, key=lambda letter: (letter_logprobs[letter], -ord(letter[0])))


def choice_accuracy(letter_logprobs: list[dict[str, float]], correct: list[str]) -> float:
    """Share of questions whose likeliest letter is the correct one; nan for no questions.
    Chance is ``1 / options`` (``chance_level``)."""
    if not correct:
        return math.nan
    return sum(chosen_letter(lp) == c for lp, c in zip(letter_logprobs, correct, strict=True)) / len(correct)


def chance_level(options: int) -> float:
    """Accuracy of guessing among ``options`` choices."""
    return 1.0 / options
